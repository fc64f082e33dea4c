// The guided walkthrough: every step of the hard way, what it does and why, each command bound to
// the node it runs on (one click types it into that node's terminal), and "Run step" / "Check"
// with every probe's verdict: expected vs seen, and the hint that names the fix.

import type { CheckResult, OperationState, Probe, StepInfo, StepState } from '../main/shared/api-contract.ts';
import type { Actions } from './actions.ts';
import { formatDuration, formatTime, h } from './dom.ts';
import { renderExplanation } from './markdown-lite.ts';
import type { AppState } from './store.ts';

/** StepCommand.node for commands typed on the learner's own machine, not on a VM. */
const HOST = 'host';

/** The step list and the selected step; the terminal dock beside them is persistent (app.ts). */
export function renderWalkthrough(state: AppState, actions: Actions): { list: HTMLElement; detail: HTMLElement } {
  if (!state.steps) {
    return {
      list: h('div', {}),
      detail: h('div', { class: `notice ${state.stepsError ? 'warn' : 'info'}` }, h('strong', {}, state.stepsError ? 'The steps are not available' : 'Loading steps…'), state.stepsError ? h('pre', {}, state.stepsError) : null),
    };
  }
  const steps = state.steps;
  const selected = selectedStep(state);
  const done = steps.filter((s) => state.stepStates[s.id]?.status === 'done').length;
  const list = h(
    'nav',
    { class: 'step-list', 'aria-label': 'Steps' },
    h('div', { class: 'step-progress' }, h('div', { class: 'step-progress-text' }, h('strong', {}, `${done} of ${steps.length}`), ' steps done'), h('div', { class: 'progress' }, h('div', { class: 'progress-fill', style: `width:${((done / Math.max(steps.length, 1)) * 100).toFixed(1)}%` }))),
    h(
      'ol',
      {},
      steps.map((step) => {
        const st = state.stepStates[step.id];
        const check = state.checks[step.id];
        const status = state.busy[step.id] ? 'running' : (st?.status ?? 'pending');
        return h(
          'li',
          { class: `step-item ${status} ${step.id === selected?.id ? 'selected' : ''}`, 'data-step': step.id },
          h(
            'button',
            { onclick: () => actions.selectStep(step.id), onkeydown: (event: Event) => stepKey(event as KeyboardEvent, steps, step.id, actions), 'aria-current': step.id === selected?.id ? 'step' : undefined },
            h('span', { class: `step-icon ${status}`, 'aria-hidden': 'true' }, stepIcon(status)),
            h('span', { class: 'step-number' }, String(step.index)),
            h('span', { class: 'step-title' }, step.title),
            // The status in words, for screen readers (the icon and badge are colour and shape).
            h('span', { class: 'sr-only' }, `, ${status}${check ? `, last check ${check.skipped ? 'skipped' : check.ok ? 'passed' : 'failed'}` : ''}`),
            check ? h('span', { class: `check-badge ${check.skipped ? 'skipped' : check.ok ? 'ok' : 'down'}`, title: 'last check', 'aria-hidden': 'true' }, check.skipped ? 'skip' : check.ok ? '✓' : '✗') : null,
          ),
        );
      }),
    ),
  );
  return { list, detail: selected ? stepDetail(selected, state, actions) : h('div', {}) };
}

/** Up/Down (and Home/End) move through the step list, selecting as they go. */
function stepKey(event: KeyboardEvent, steps: readonly StepInfo[], id: string, actions: Actions): void {
  const at = steps.findIndex((s) => s.id === id);
  const to = event.key === 'ArrowDown' ? Math.min(at + 1, steps.length - 1) : event.key === 'ArrowUp' ? Math.max(at - 1, 0) : event.key === 'Home' ? 0 : event.key === 'End' ? steps.length - 1 : -1;
  if (to < 0 || to === at) return;
  event.preventDefault();
  actions.selectStep(steps[to]!.id);
  // The list is redrawn on the next frame; focus follows the selection.
  requestAnimationFrame(() => (document.querySelector(`.step-item[data-step="${steps[to]!.id}"] button`) as HTMLButtonElement | null)?.focus());
}

export function selectedStep(state: AppState): StepInfo | undefined {
  const steps = state.steps ?? [];
  return steps.find((s) => s.id === state.selectedStep) ?? firstOpenStep(steps, state) ?? steps[0];
}

function firstOpenStep(steps: StepInfo[], state: AppState): StepInfo | undefined {
  return steps.find((s) => state.stepStates[s.id]?.status !== 'done');
}

function stepIcon(status: string): string {
  switch (status) {
    case 'done':
      return '✓';
    case 'failed':
      return '✗';
    case 'running':
      return '◌';
    case 'skipped':
      return '–';
    default:
      return '○';
  }
}

function longOperation(state: AppState): OperationState | undefined {
  return Object.values(state.operations).find((o) => o.status === 'running');
}

function runningStepOperation(state: AppState): OperationState | undefined {
  return Object.values(state.operations).find((o) => o.kind === 'run-step' && o.status === 'running');
}

function stepDetail(step: StepInfo, state: AppState, actions: Actions): HTMLElement {
  const st: StepState | undefined = state.stepStates[step.id];
  const check = state.checks[step.id];
  const busy = state.busy[step.id];
  const progress = state.progress[step.id];
  const running = busy === 'run' ? runningStepOperation(state) : undefined;
  const byNode = new Map<string, typeof step.commands>();
  for (const c of step.commands) byNode.set(c.node, [...(byNode.get(c.node) ?? []), c]);
  return h(
    'article',
    { class: 'step-detail', 'data-step': step.id },
    h(
      'header',
      { class: 'step-header' },
      h('div', {}, h('div', { class: 'eyebrow' }, `Step ${step.index}`), h('h2', {}, step.title), h('div', { class: 'chips' }, step.roles.map((r) => h('span', { class: `role-badge ${r}` }, r)), step.needsKubeBinaries ? h('span', { class: 'tag warn' }, 'needs Kubernetes binaries') : null)),
      h(
        'div',
        { class: 'step-actions' },
        h('button', { class: 'btn primary', 'data-action': 'run-step', disabled: Boolean(busy), onclick: () => void actions.runStep(step.id) }, busy === 'run' ? 'Running…' : 'Run step'),
        h('button', { class: 'btn', 'data-action': 'check-step', disabled: Boolean(busy), onclick: () => void actions.checkStep(step.id) }, busy === 'check' ? 'Checking…' : 'Check'),
        st?.status === 'done' && state.snapshots.some((s) => s.afterStep === step.id && s.missingOn.length === 0)
          ? h('button', { class: 'btn', 'data-action': 'rewind-step', disabled: Boolean(busy) || Boolean(longOperation(state)), title: 'Brings every VM back to the moment after this step (its snapshot); the later steps are shown as not done', onclick: () => void actions.rewind(step.id) }, 'Rewind to here')
          : null,
        running
          ? h('button', { class: 'btn', 'data-action': 'cancel-operation', title: 'Stops the step after killing the command in flight; Run step or Create cluster runs it again', onclick: () => void actions.cancelOperation(running.id) }, 'Cancel')
          : null,
      ),
    ),
    st ? h('div', { class: `step-state ${st.status}` }, h('span', { class: `status-chip ${st.status}` }, st.status), st.startedAt ? h('span', { class: 'muted small' }, `started ${formatTime(st.startedAt)}`) : null, st.durationMs !== undefined ? h('span', { class: 'muted small' }, `took ${formatDuration(st.durationMs)}`) : null, busy === 'run' && progress ? h('span', { class: 'small' }, progress.message) : null) : null,
    st?.error ? h('pre', { class: 'notice error step-error' }, st.error) : null,
    state.stepErrors[step.id] ? h('div', { class: 'notice error', role: 'alert' }, h('strong', {}, 'The request failed'), h('pre', {}, state.stepErrors[step.id]!)) : null,
    renderExplanation(step.explanation),
    check ? checkPanel(check) : null,
    step.commands.length ? h('h3', { class: 'commands-title' }, 'Commands, by node') : h('p', { class: 'muted' }, 'This step has no commands to type: it runs on the host.'),
    [...byNode.entries()].map(([node, commands]) =>
      h(
        'div',
        { class: 'command-group' },
        h('div', { class: 'command-node' }, h('span', { class: `node-chip ${node === HOST ? 'host' : ''}` }, node === HOST ? 'host (this machine)' : node), h('span', { class: 'muted small' }, `${commands.length} command${commands.length === 1 ? '' : 's'}`)),
        commands.map((c) =>
          h(
            'div',
            { class: 'command' },
            c.description ? h('p', { class: 'command-desc' }, c.description) : null,
            h(
              'div',
              { class: 'command-row' },
              h('pre', { class: 'code' }, c.command),
              node === HOST
                ? h('button', { class: 'btn small ghost', title: 'Copies the command; run it in a terminal on this machine', 'data-action': 'copy-command', onclick: () => void navigator.clipboard.writeText(c.command) }, 'Copy')
                : h('button', { class: 'btn small', title: `Types the command into ${node}'s terminal; press Enter there to run it`, 'data-action': 'type-command', onclick: () => void actions.typeInTerminal(node, c.command) }, `Type in ${node}`),
            ),
          ),
        ),
      ),
    ),
  );
}

/** A checker's verdict with every probe (the drills view shows the steps' checkers the same way). */
export function checkPanel(check: CheckResult, options: { testId?: string; title?: string } = {}): HTMLElement {
  const failed = check.probes.filter((p) => !p.ok).length;
  const verdict = check.skipped ? 'skipped' : check.ok ? 'passed' : 'failed';
  return h(
    'section',
    { class: `check-panel ${check.skipped ? 'skipped' : check.ok ? 'ok' : 'down'}`, 'data-testid': options.testId ?? 'check-result', 'data-verdict': verdict, 'data-step': check.step },
    h('header', {}, h('strong', {}, `${options.title ?? 'Check'} ${verdict}`), h('span', { class: 'muted small' }, check.skipped ? check.skipped : `${check.probes.length - failed} of ${check.probes.length} probes passed · ${formatDuration(check.durationMs)} · ${formatTime(check.startedAt)}`)),
    check.probes.length ? probeTable(check.probes) : null,
  );
}

/** Probes as a table: verdict, name, node, expected, seen, and under a failing one the hint that names the fix. */
export function probeTable(probes: readonly Probe[]): HTMLElement {
  return h(
    'table',
    { class: 'probes' },
    h('colgroup', {}, h('col', { class: 'c-verdict' }), h('col', { class: 'c-name' }), h('col', { class: 'c-node' }), h('col', { class: 'c-expected' }), h('col', { class: 'c-seen' })),
    h('thead', {}, h('tr', {}, h('th', {}, h('span', { class: 'sr-only' }, 'verdict')), h('th', {}, 'probe'), h('th', {}, 'node'), h('th', {}, 'expected'), h('th', {}, 'seen'))),
    h('tbody', {}, probes.flatMap((p) => probeRows(p))),
  );
}

function probeRows(p: Probe): HTMLElement[] {
  const row = h('tr', { class: `probe ${p.ok ? 'ok' : 'down'}`, 'data-probe': p.name }, h('td', { class: 'probe-verdict' }, h('span', { 'aria-hidden': 'true' }, p.ok ? '✓' : '✗'), h('span', { class: 'sr-only' }, p.ok ? 'pass' : 'fail')), h('td', {}, p.name), h('td', { class: 'mono' }, p.node ?? '—'), h('td', { class: 'mono' }, p.expected), h('td', { class: 'mono' }, p.seen));
  if (p.ok) return [row];
  return [row, h('tr', { class: 'probe-hint' }, h('td', {}, ''), h('td', { colspan: 4 }, h('span', { class: 'hint-label' }, 'Fix: '), p.hint))];
}
