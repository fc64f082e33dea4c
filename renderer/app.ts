// The renderer's entry point. It talks to the lab only through the typed API contract: in the
// desktop app through the preload's functions, in browser mode over the server's WebSocket.
// No Node, no Electron, no ipcRenderer here.

import type { ApiEvent, LabClient } from '../main/shared/api-contract.ts';
import type { Actions } from './actions.ts';
import { errorText, formatTime, h, mount, statusDot } from './dom.ts';
import { Store, type DrillCall, type ViewName } from './store.ts';
import { TerminalManager } from './terminal-manager.ts';
import { createBrowserClient, type ConnectionState } from './transport-browser.ts';
import { createElectronClient, preloadBridge } from './transport-electron.ts';
import { renderDashboard } from './view-dashboard.ts';
import { TerminalsView } from './view-terminals.ts';
import { renderWalkthrough, selectedStep } from './view-walkthrough.ts';
import { renderDrills, runningDrillOperation, selectedDrill } from './view-drills.ts';

const STATUS_EVERY_MS = 15_000;

const store = new Store();
const bridge = preloadBridge();
const api: LabClient = bridge
  ? createElectronClient(bridge)
  : createBrowserClient((connection: ConnectionState, detail?: string) => {
      const wasLost = store.state.connection === 'lost';
      store.set({ connection, connectionDetail: detail });
      if (connection === 'open' && wasLost) void loadAll();
    });
if (bridge) store.set({ connection: 'open' });

const terminals = new TerminalManager(api, () => {
  terminalsView.render(store.state.lab);
  layoutTerminals();
  renderDock();
});

const actions: Actions = {
  show: (view) => showView(view),
  refreshStatus,
  createCluster: () => longCall('up'),
  destroyCluster: () => longCall('destroy'),
  stopCluster: () => longCall('stop'),
  startCluster: () => longCall('start'),
  runStep: (id) => stepCall(id, 'run'),
  cancelOperation: async (id) => {
    try {
      await api.cancelOperation(id);
    } catch (error) {
      toast('Could not cancel', errorText(error));
    }
  },
  checkStep: (id) => stepCall(id, 'check'),
  mergeKubeconfig: async (use) => {
    try {
      const merged = await api.mergeKubeconfig(use ? 'use' : 'merge');
      const verb = merged.outcome === 'added' ? 'Added' : merged.outcome === 'updated' ? 'Updated' : 'Already up to date:';
      toast('Kubeconfig merged', `${verb} context ${merged.context} in ${merged.file}\ncurrent context: ${merged.currentContext ?? '(none)'}\ntry: kubectl --context ${merged.context} get nodes`);
    } catch (error) {
      toast('Could not merge the kubeconfig', errorText(error));
    }
  },
  copyKubeconfigPath: async () => {
    const path = store.state.lab?.adminKubeconfig;
    if (!path) return;
    try {
      await navigator.clipboard.writeText(`export KUBECONFIG=${path}`);
      toast('Copied', `export KUBECONFIG=${path}\n(paste it into a shell on this machine; then kubectl reaches the lab)`);
    } catch (error) {
      toast('Could not copy', `${errorText(error)}\nthe admin kubeconfig is ${path}`);
    }
  },
  rewind: async (id) => {
    const step = store.state.steps?.find((s) => s.id === id);
    if (!window.confirm(`Rewind the whole lab to the moment after step ${step?.index ?? ''} (${step?.title ?? id})? Every VM goes back to that moment; what was done after it is lost, and the later steps are shown as not done.`)) return;
    try {
      await api.rewind(id);
    } catch (error) {
      toast('Rewinding failed', errorText(error));
    }
    // The later steps' results belong to the timeline that was left.
    store.set({ checks: {} });
    await Promise.all([loadSteps(), refreshStatus()]);
  },
  selectStep: (id) => store.set({ selectedStep: id }),
  openTerminal: async (node, where = 'terminals') => {
    try {
      const entry = await terminals.open(node);
      if (where === 'walkthrough') dockTerminal = entry.info.id;
      else {
        terminalsView.show(entry.info.id);
        showView('terminals');
      }
      terminalsView.render(store.state.lab);
      layoutTerminals();
      entry.term.focus();
    } catch (error) {
      toast(`Could not open a terminal on ${node}`, errorText(error));
    }
  },
  typeInTerminal: async (node, command) => {
    try {
      const entry = await terminals.ensureFor(node);
      if (store.state.view === 'walkthrough') dockTerminal = entry.info.id;
      else {
        terminalsView.show(entry.info.id);
        // From the drills view: the learner goes where the command is typed.
        if (store.state.view === 'drills') showView('terminals');
      }
      renderDock();
      layoutTerminals();
      await terminals.typeInto(node, command);
    } catch (error) {
      toast(`Could not type into ${node}'s terminal`, errorText(error));
    }
  },
  selectDrill: (id) => store.set({ selectedDrill: id }),
  setDrillSnapshot: (on) => store.set({ drillSnapshot: on }),
  startDrill: (id) =>
    drillCall('start', async () => {
      const started = await api.startDrill(id, { snapshot: store.state.drillSnapshot });
      store.set({ drillStarted: started, drillChecked: undefined, drillRevealed: undefined, drillStopped: undefined, selectedDrill: started.id });
    }),
  checkDrill: () =>
    drillCall('check', async () => {
      store.set({ drillChecked: await api.checkDrill() });
    }),
  drillHint: () => drillCall('hint', async () => void (await api.drillHint())),
  revealDrill: () =>
    drillCall('reveal', async () => {
      const id = store.state.drills?.active?.id;
      const reveal = await api.revealDrill();
      if (id) store.set({ drillRevealed: { id, reveal } });
    }),
  applyDrillReference: () =>
    drillCall('reference', async () => {
      await api.applyDrillReference();
      toast('Reference applied', 'The reference commands ran on their nodes. Check judges the lab now.', 'info');
    }),
  stopDrill: async () => {
    const active = store.state.drills?.active;
    if (!active) return;
    const how = active.solvedAt ? 'It is solved: Stop ends it and cleans up.' : active.snapshot ? 'It is not solved: every node goes back to the snapshot taken at the start.' : 'It is not solved: the fault is undone with the reference fix.';
    if (!active.solvedAt && !window.confirm(`Stop the ${active.kind} “${active.title}”? ${how}`)) return;
    await drillCall('stop', async () => {
      const stopped = await api.stopDrill();
      store.set({ drillStopped: stopped, drillStarted: undefined, drillChecked: undefined, drillRevealed: undefined, selectedDrill: stopped.id });
    });
  },
};

// ---- layout: persistent containers; only their contents are redrawn --------------------------

const navButtons = new Map<ViewName, HTMLButtonElement>();
const nav = h(
  'nav',
  { class: 'main-nav', role: 'tablist' },
  (['dashboard', 'walkthrough', 'terminals', 'drills'] as const).map((view) => {
    const button = h('button', { class: 'nav-tab', role: 'tab', id: `tab-${view}`, 'aria-controls': `panel-${view}`, 'data-view': view, onclick: () => showView(view), onkeydown: (event: Event) => tabKey(event as KeyboardEvent, view) }, view[0]!.toUpperCase() + view.slice(1));
    navButtons.set(view, button);
    return button;
  }),
);
const labTitle = h('div', { class: 'lab-title' });
const headerActions = h('div', { class: 'header-actions' });
const connectionBanner = h('div', { class: 'connection-banner', role: 'alert', hidden: true });
const dashboardHost = h('div', { class: 'view-host', 'data-view': 'dashboard', role: 'tabpanel', id: 'panel-dashboard', 'aria-labelledby': 'tab-dashboard' });
const stepListHost = h('div', { class: 'walk-list' });
const stepDetailHost = h('div', { class: 'walk-detail' });
const dockHeader = h('div', { class: 'dock-header' });
const dockPane = h('div', { class: 'term-pane dock-pane' });
const dockEmpty = h('div', { class: 'term-empty small' }, h('p', {}, 'Use “Type in …” on a command to open that node’s terminal here.'));
const walkthroughHost = h('div', { class: 'view-host', 'data-view': 'walkthrough', role: 'tabpanel', id: 'panel-walkthrough', 'aria-labelledby': 'tab-walkthrough' }, h('section', { class: 'view walkthrough' }, stepListHost, stepDetailHost, h('aside', { class: 'walk-dock', 'aria-label': 'Terminal' }, dockHeader, dockPane, dockEmpty)));
const terminalsView = new TerminalsView(terminals, actions);
const terminalsHost = h('div', { class: 'view-host', 'data-view': 'terminals', role: 'tabpanel', id: 'panel-terminals', 'aria-labelledby': 'tab-terminals' }, terminalsView.element);
const drillListHost = h('div', { class: 'drill-list-host' });
const drillDetailHost = h('div', { class: 'drill-detail-host' });
const drillsHost = h('div', { class: 'view-host', 'data-view': 'drills', role: 'tabpanel', id: 'panel-drills', 'aria-labelledby': 'tab-drills' }, h('section', { class: 'view drills' }, drillListHost, drillDetailHost));
const activityToggle = h('button', { class: 'activity-toggle', onclick: () => activity.classList.toggle('open') }, 'Activity');
const activityLines = h('ol', { class: 'activity-lines' });
const activity = h('footer', { class: 'activity' }, activityToggle, activityLines);
const toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });

document.body.append(
  h(
    'div',
    { class: 'app' },
    h('header', { class: 'topbar' }, h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, '⎈'), h('span', {}, 'Hardway Lab')), labTitle, nav, h('span', { class: 'spacer' }), headerActions),
    connectionBanner,
    h('main', { class: 'content' }, dashboardHost, walkthroughHost, terminalsHost, drillsHost),
    activity,
    toasts,
  ),
);

let dockTerminal: string | undefined;
let confirmDestroy = false;

const VIEWS: readonly ViewName[] = ['dashboard', 'walkthrough', 'terminals', 'drills'];

/** The tabs as the ARIA tabs pattern has them: arrows move between tabs (and show them), Home/End go to the ends. */
function tabKey(event: KeyboardEvent, view: ViewName): void {
  const at = VIEWS.indexOf(view);
  const to = event.key === 'ArrowRight' ? (at + 1) % VIEWS.length : event.key === 'ArrowLeft' ? (at + VIEWS.length - 1) % VIEWS.length : event.key === 'Home' ? 0 : event.key === 'End' ? VIEWS.length - 1 : -1;
  if (to < 0) return;
  event.preventDefault();
  // The focus stays on the tabs (the ARIA tabs pattern): arriving on Terminals does not move it into a shell.
  showView(VIEWS[to]!, { focusTerminal: false });
  navButtons.get(VIEWS[to]!)?.focus();
}

function showView(view: ViewName, options: { focusTerminal?: boolean } = {}): void {
  store.set({ view });
  render();
  if (view === 'dashboard') void refreshStatus();
  if (view === 'terminals' && options.focusTerminal !== false) requestAnimationFrame(() => terminalsView.focusActive());
  if (view === 'drills') void loadDrills();
}

function render(): void {
  const s = store.state;
  for (const [view, button] of navButtons) {
    button.classList.toggle('active', view === s.view);
    button.setAttribute('aria-selected', String(view === s.view));
    // Roving tabindex: Tab reaches the selected tab, the arrows the others.
    button.tabIndex = view === s.view ? 0 : -1;
  }
  dashboardHost.hidden = s.view !== 'dashboard';
  walkthroughHost.hidden = s.view !== 'walkthrough';
  terminalsHost.hidden = s.view !== 'terminals';
  drillsHost.hidden = s.view !== 'drills';

  mount(labTitle, s.lab ? [h('strong', {}, s.lab.name), h('span', { class: 'muted small' }, `${s.lab.preset} · ${s.lab.nodes.length} nodes · ${s.lab.provider}`)] : null);
  renderHeaderActions();
  connectionBanner.hidden = s.connection !== 'lost';
  connectionBanner.textContent = s.connection === 'lost' ? `Disconnected from the lab server: ${s.connectionDetail ?? ''} — retrying…` : '';

  // Redraw a view only when its data changed (slices are replaced, never mutated), so a stream of
  // activity lines does not reset a text selection in the walkthrough.
  const key = viewKey(s);
  const changed = key.length !== lastKey.length || key.some((part, i) => part !== lastKey[i]);
  lastKey = key;
  if (s.view === 'dashboard' && changed) mount(dashboardHost, renderDashboard(s, actions));
  if (s.view === 'walkthrough' && changed) {
    const { list, detail } = renderWalkthrough(s, actions);
    mount(stepListHost, list);
    mount(stepDetailHost, detail);
    renderDock();
  }
  if (s.view === 'drills' && changed) {
    // The controls are redrawn with the view: the focus stays on the one it was on, also across
    // the redraws while a call runs (its button disabled, the focus fell back to the page).
    const el = document.activeElement;
    if (el instanceof HTMLElement && drillsHost.contains(el)) drillFocus = focusKey(el);
    else if (el && el !== document.body) drillFocus = undefined;
    const { list, detail } = renderDrills(s, actions);
    mount(drillListHost, list);
    mount(drillDetailHost, detail);
    if (drillFocus) restoreFocus(drillsHost, drillFocus);
  }
  if (s.view === 'terminals') terminalsView.render(s.lab);
  layoutTerminals();
  renderActivity();
}

let lastKey: unknown[] = [];
/** The control of the drills view that had the focus (see render). */
let drillFocus: string | undefined;
function viewKey(s: typeof store.state): unknown[] {
  if (s.view === 'dashboard') return [s.view, s.lab, s.labError, s.status, s.statusError, s.statusLoading, s.steps, s.stepsError, s.stepStates, s.operations, s.progress];
  if (s.view === 'walkthrough') return [s.view, s.lab, s.steps, s.stepsError, s.stepStates, s.checks, s.busy, s.stepErrors, s.selectedStep, Object.keys(s.busy).length ? s.progress : null, Object.keys(s.busy).length ? s.operations : null];
  if (s.view === 'drills') {
    const running = runningDrillOperation(s);
    return [s.view, s.connection, s.drills, s.drillsError, selectedDrill(s)?.id, s.drillSnapshot, s.drillBusy, s.drillError, s.drillStarted, s.drillChecked, s.drillRevealed, s.drillStopped, running?.id, running?.message, running?.fraction];
  }
  return [s.view];
}

/** What identifies a control across a redraw: its action and the drill it is for. */
function focusKey(el: HTMLElement): string | undefined {
  const control = el.closest('[data-action]');
  if (!control) return undefined;
  const action = control.getAttribute('data-action')!;
  const drill = control.getAttribute('data-drill');
  return drill ? `[data-action="${action}"][data-drill="${drill}"]` : `[data-action="${action}"]`;
}

function restoreFocus(host: HTMLElement, selector: string): void {
  const again = host.querySelector(selector) as HTMLElement | null;
  if (again && !again.hasAttribute('disabled')) again.focus();
}

function renderHeaderActions(): void {
  const s = store.state;
  const running = Object.values(s.operations).find((o) => o.status === 'running' && (o.kind === 'up' || o.kind === 'destroy' || o.kind === 'stop' || o.kind === 'start' || o.kind === 'rewind'));
  const stopped = s.status?.lifecycle?.state === 'stopped';
  const engine = s.lab?.capabilities.engine;
  const disabled = Boolean(running) || engine?.available === false;
  const title = engine?.available === false ? engine.reason : undefined;
  mount(
    headerActions,
    h('span', { class: `conn ${s.connection}`, title: s.connectionDetail ?? s.connection }, statusDot(s.connection === 'open' ? 'ok' : s.connection === 'lost' ? 'down' : 'degraded', `connection ${s.connection}`), bridge ? 'desktop' : 'browser mode'),
    stopped
      ? h('button', { class: 'btn primary', 'data-action': 'start-cluster', disabled, title: title ?? 'Boots the VMs and waits until every checker that passed before passes again', onclick: () => void actions.startCluster() }, running?.kind === 'start' ? 'Starting…' : 'Start')
      : h('button', { class: 'btn primary', 'data-action': 'create-cluster', disabled, title, onclick: () => void actions.createCluster() }, running?.kind === 'up' ? 'Creating…' : 'Create cluster'),
    stopped || !s.status?.nodes.some((n) => n.vm === 'running' || n.vm === 'starting') ? null : h('button', { class: 'btn', 'data-action': 'stop-cluster', disabled, title: title ?? 'Shuts the VMs down safely; Start boots them again and nothing is lost', onclick: () => void actions.stopCluster() }, running?.kind === 'stop' ? 'Stopping…' : 'Stop'),
    confirmDestroy
      ? h(
          'span',
          { class: 'confirm' },
          h('span', { class: 'small' }, 'Destroy every VM of this lab?'),
          h('button', { class: 'btn danger small', 'data-action': 'confirm-destroy', onclick: () => {
            confirmDestroy = false;
            void actions.destroyCluster();
          } }, 'Destroy'),
          h('button', { class: 'btn ghost small', onclick: () => {
            confirmDestroy = false;
            renderHeaderActions();
          } }, 'Cancel'),
        )
      : h('button', { class: 'btn danger-outline', 'data-action': 'destroy-cluster', disabled, title, onclick: () => {
          confirmDestroy = true;
          renderHeaderActions();
        } }, running?.kind === 'destroy' ? 'Destroying…' : 'Destroy'),
  );
}

function renderDock(): void {
  const s = store.state;
  const step = selectedStep(s);
  const stepNodes = step ? [...new Set(step.commands.map((c) => c.node).filter((n) => n !== 'host'))] : [];
  const nodes = stepNodes.length ? stepNodes : (s.lab?.nodes.map((n) => n.name) ?? []);
  const current = dockTerminal ? terminals.get(dockTerminal) : undefined;
  if (dockTerminal && !current) dockTerminal = undefined;
  mount(
    dockHeader,
    h('span', { class: 'muted small' }, 'Terminal'),
    nodes.map((node) => {
      const entry = terminals.forNode(node);
      const active = current?.info.node === node;
      return h('button', { class: `btn small ${active ? 'active' : 'ghost'}`, 'data-dock-node': node, onclick: () => {
        if (entry) {
          dockTerminal = entry.info.id;
          renderDock();
          layoutTerminals();
          entry.term.focus();
        } else void actions.openTerminal(node, 'walkthrough');
      } }, entry ? statusDot(entry.info.state === 'connected' ? 'ok' : 'degraded', entry.info.state) : null, node);
    }),
  );
  dockEmpty.hidden = Boolean(current);
  dockPane.hidden = !current;
}

/** Each terminal element lives in one place: the dock (walkthrough) or a pane (terminals view). */
function layoutTerminals(): void {
  const view = store.state.view;
  if (view === 'walkthrough') {
    const entry = dockTerminal ? terminals.get(dockTerminal) : undefined;
    for (const child of [...dockPane.children]) if (child !== entry?.element) child.remove();
    if (entry) terminals.place(entry, dockPane);
  } else if (view === 'terminals') {
    terminalsView.layout();
  }
}

function renderActivity(): void {
  const lines = store.state.activity.slice(-120);
  // The footer shows what the engine is doing, not raw command output.
  const last = [...lines].reverse().find((l) => l.level === 'info' || l.level === 'progress');
  mount(activityToggle, h('span', {}, 'Activity'), last ? h('span', { class: 'muted small activity-last' }, `${last.node ? `${last.node}: ` : ''}${last.text}`) : null);
  if (!activity.classList.contains('open')) return;
  mount(activityLines, lines.map((l) => h('li', { class: l.level }, h('span', { class: 'muted' }, formatTime(l.at)), l.node ? h('span', { class: 'node-chip small' }, l.node) : null, h('span', { class: 'mono' }, l.text))));
  activityLines.scrollTop = activityLines.scrollHeight;
}

function toast(title: string, text: string, level: 'error' | 'info' = 'error'): void {
  const el = h('div', { class: `toast ${level}`, role: level === 'error' ? 'alert' : 'status' }, h('strong', {}, title), h('pre', {}, text), h('button', { class: 'btn ghost small', onclick: () => el.remove() }, 'Dismiss'));
  toasts.append(el);
  setTimeout(() => el.remove(), 20_000);
}

// ---- data --------------------------------------------------------------------------------------

async function loadAll(): Promise<void> {
  try {
    store.set({ lab: await api.getLab(), labError: undefined });
  } catch (error) {
    store.set({ labError: errorText(error) });
  }
  await Promise.all([loadSteps(), loadOperations(), terminals.restore().catch(() => {}), refreshStatus(), loadDrills()]);
}

let drillsInFlight: Promise<void> | undefined;
let drillsAgain = false;
/** The drills and the running one; a second request while one is in flight runs once after it. */
async function loadDrills(): Promise<void> {
  if (drillsInFlight) {
    drillsAgain = true;
    return drillsInFlight;
  }
  drillsInFlight = (async () => {
    do {
      drillsAgain = false;
      try {
        store.set({ drills: await api.listDrills(), drillsError: undefined });
      } catch (error) {
        store.set({ drillsError: errorText(error) });
      }
    } while (drillsAgain);
  })().finally(() => {
    drillsInFlight = undefined;
  });
  return drillsInFlight;
}

/** One drill call at a time from this page; its failure is shown in the view, in the engine's words. */
async function drillCall(call: DrillCall, work: () => Promise<void>): Promise<void> {
  if (store.state.drillBusy) return;
  store.set({ drillBusy: call, drillError: undefined });
  try {
    await work();
  } catch (error) {
    const text = errorText(error);
    store.set({ drillError: { call, text: /cancelled from the app/.test(text) ? `Cancelled: ${text}` : text } });
  } finally {
    store.set({ drillBusy: undefined });
    await loadDrills();
    if (call !== 'hint' && call !== 'reveal') scheduleStatusRefresh();
  }
}

async function loadSteps(): Promise<void> {
  try {
    const [steps, states, snapshots] = await Promise.all([api.listSteps(), api.getStepStates(), api.listSnapshots().catch(() => [])]);
    const stepStates = Object.fromEntries(states.map((s) => [s.id, s]));
    const checks = Object.fromEntries(states.filter((s) => s.lastCheck).map((s) => [s.id, s.lastCheck!]));
    store.set({ steps, stepStates, snapshots, checks: { ...checks, ...store.state.checks }, stepsError: undefined });
  } catch (error) {
    store.set({ stepsError: errorText(error) });
  }
}

async function loadOperations(): Promise<void> {
  try {
    const operations = await api.listOperations();
    store.set({ operations: Object.fromEntries(operations.map((o) => [o.id, o])) });
  } catch {
    // Older servers without operations: the dashboard simply shows none.
  }
}

let statusInFlight: Promise<void> | undefined;
async function refreshStatus(): Promise<void> {
  statusInFlight ??= (async () => {
    store.set({ statusLoading: true });
    try {
      store.set({ status: await api.getStatus(), statusError: undefined });
    } catch (error) {
      store.set({ statusError: errorText(error) });
    } finally {
      store.set({ statusLoading: false });
      statusInFlight = undefined;
    }
  })();
  return statusInFlight;
}

const LONG_CALL_FAILED = { up: 'Creating the cluster failed', destroy: 'Destroying the cluster failed', stop: 'Stopping the cluster failed', start: 'Starting the cluster failed' } as const;

async function longCall(kind: 'up' | 'destroy' | 'stop' | 'start'): Promise<void> {
  try {
    if (kind === 'up') await api.up();
    else if (kind === 'stop') await api.stop();
    else if (kind === 'start') await api.start();
    else await api.destroy();
  } catch (error) {
    const text = errorText(error);
    if (/cancelled from the app/.test(text)) toast('Cancelled', 'What was done stays; run it again to go on from there.');
    else toast(LONG_CALL_FAILED[kind], text);
  }
  await Promise.all([loadSteps(), refreshStatus()]);
}

async function stepCall(id: string, kind: 'run' | 'check'): Promise<void> {
  store.update((s) => {
    s.busy = { ...s.busy, [id]: kind };
    const { [id]: _drop, ...rest } = s.stepErrors;
    s.stepErrors = rest;
  });
  try {
    if (kind === 'run') {
      const state = await api.runStep(id);
      store.update((s) => {
        s.stepStates = { ...s.stepStates, [id]: state };
        if (state.lastCheck) s.checks = { ...s.checks, [id]: state.lastCheck };
      });
    } else {
      const result = await api.checkStep(id);
      store.update((s) => {
        s.checks = { ...s.checks, [id]: result };
      });
    }
  } catch (error) {
    store.update((s) => {
      s.stepErrors = { ...s.stepErrors, [id]: errorText(error) };
    });
  } finally {
    store.update((s) => {
      const { [id]: _done, ...rest } = s.busy;
      s.busy = rest;
    });
    scheduleStatusRefresh();
  }
}

let statusTimer: number | undefined;
function scheduleStatusRefresh(): void {
  window.clearTimeout(statusTimer);
  statusTimer = window.setTimeout(() => void refreshStatus(), 1500);
}

api.onEvent((event: ApiEvent) => {
  switch (event.kind) {
    case 'terminal-output':
    case 'terminal-state':
      terminals.handleEvent(event);
      break;
    case 'lab':
      store.applyLabEvent(event.event);
      if (event.event.type === 'step' && event.event.state.status !== 'running') scheduleStatusRefresh();
      break;
    case 'operation':
      store.update((s) => {
        s.operations = { ...s.operations, [event.operation.id]: event.operation };
      });
      if (event.operation.status !== 'running') {
        void loadSteps();
        // Steps done (or undone) change which drills can start; a drill call from another window changes the running one.
        void loadDrills();
        scheduleStatusRefresh();
      }
      break;
    case 'status':
      store.set({ status: event.status, statusError: undefined });
      break;
  }
});

store.subscribe(() => render());
setInterval(() => {
  if (store.state.view === 'dashboard' && store.state.connection === 'open' && !document.hidden) void refreshStatus();
}, STATUS_EVERY_MS);

render();
void loadAll();
