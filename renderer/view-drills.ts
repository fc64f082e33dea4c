// Drills: the break/fix drills and the operations exercises of main/drills/. A list of each (what it
// teaches, and whether it can start on this lab: "ready", "not yet: <reason>", "running", "solved
// before"); the selected one's story; Start (after a snapshot, by default); and while it runs:
// Check (the steps' checkers and the exercise's probes, expected vs seen), hints one level at a
// time, Reveal (the reference commands bound to their nodes, with "Run it for me") and Stop. The
// learner works in the node terminals. Every text comes from the main process already resolved.

import type { ActiveDrill, DrillChecked, DrillCommand, DrillListing, OperationState } from '../main/shared/api-contract.ts';
import type { Actions } from './actions.ts';
import { formatTime, h } from './dom.ts';
import { inline, renderExplanation } from './markdown-lite.ts';
import type { AppState } from './store.ts';
import { checkPanel, probeTable } from './view-walkthrough.ts';

/** ShownCommand.node for commands typed on the learner's own machine (in the lab directory). */
const HOST = 'host';

type ListState = 'running' | 'not-yet' | 'solved-before' | 'ready';

/** The state in words, the same words as `hardway-lab drill list`. */
function listState(lesson: DrillListing): { state: ListState; words: string; chip: string } {
  if (lesson.active) return { state: 'running', words: 'running', chip: 'running' };
  if (lesson.unavailable) return { state: 'not-yet', words: 'not yet', chip: 'skipped' };
  if (lesson.solvedBefore) return { state: 'solved-before', words: 'solved before', chip: 'done' };
  return { state: 'ready', words: 'ready', chip: '' };
}

const ICONS: Record<ListState, string> = { running: '◌', 'not-yet': '○', 'solved-before': '✓', ready: '▸' };
const ICON_CLASS: Record<ListState, string> = { running: 'running', 'not-yet': '', 'solved-before': 'done', ready: 'running' };

export function selectedDrill(state: AppState): DrillListing | undefined {
  const lessons = state.drills?.lessons ?? [];
  return lessons.find((l) => l.id === state.selectedDrill) ?? lessons.find((l) => l.active) ?? lessons[0];
}

/** The drill call running on the lab now (from this page or another), if any. */
export function runningDrillOperation(state: AppState): OperationState | undefined {
  return Object.values(state.operations).find((o) => o.status === 'running' && o.kind.startsWith('drill-'));
}

export function renderDrills(state: AppState, actions: Actions): { list: HTMLElement; detail: HTMLElement } {
  const overview = state.drills;
  if (!overview) {
    return {
      list: h('div', {}),
      detail: h('div', { class: `notice ${state.drillsError ? 'warn' : 'info'}`, role: state.drillsError ? 'alert' : 'status' }, h('strong', {}, state.drillsError ? 'The drills are not available' : 'Loading the drills…'), state.drillsError ? h('pre', {}, state.drillsError) : null),
    };
  }
  const lessons = overview.lessons;
  const selected = selectedDrill(state);
  const solved = new Set(overview.history.filter((f) => f.outcome === 'solved').map((f) => f.id));
  const group = (kind: DrillListing['kind'], title: string) => {
    const items = lessons.filter((l) => l.kind === kind);
    return [
      h('h2', { class: 'drill-group-title', id: `drill-group-${kind}` }, `${title} (${items.length})`),
      h(
        'ol',
        { 'aria-labelledby': `drill-group-${kind}`, 'data-kind': kind },
        items.map((lesson) => {
          const { state: st, words, chip } = listState(lesson);
          const isSelected = lesson.id === selected?.id;
          return h(
            'li',
            { class: `drill-item ${st} ${isSelected ? 'selected' : ''}`, 'data-drill': lesson.id, 'data-kind': lesson.kind, 'data-state': st },
            h(
              'button',
              { 'data-action': 'select-drill', 'data-drill': lesson.id, 'aria-current': isSelected ? 'true' : undefined, onclick: () => actions.selectDrill(lesson.id), onkeydown: (event: Event) => drillKey(event as KeyboardEvent, lessons, lesson.id, actions) },
              h('span', { class: `step-icon ${ICON_CLASS[st]}`, 'aria-hidden': 'true' }, ICONS[st]),
              h(
                'span',
                { class: 'drill-text' },
                h('span', { class: 'drill-title' }, lesson.title),
                h('span', { class: 'drill-teaches' }, lesson.teaches),
                h('span', { class: 'drill-state-line' }, h('span', { class: `status-chip drill-state ${chip}` }, words), lesson.unavailable && !lesson.active ? h('span', { class: 'drill-reason' }, inline(lesson.unavailable)) : null),
              ),
            ),
          );
        }),
      ),
    ];
  };
  const list = h(
    'nav',
    { class: 'drill-list', 'aria-label': 'Drills and exercises' },
    h('div', { class: 'step-progress' }, h('div', { class: 'step-progress-text' }, h('strong', {}, `${lessons.filter((l) => solved.has(l.id)).length} of ${lessons.length}`), ' solved on this lab'), h('p', { class: 'muted small drill-intro' }, 'A drill breaks one thing in a green lab, the way it breaks in real clusters; an exercise asks for a cluster operation. You work in the node terminals.')),
    group('drill', 'Drills'),
    group('exercise', 'Exercises'),
  );
  return { list, detail: selected ? drillDetail(selected, state, actions) : h('div', {}) };
}

/** Up/Down (and Home/End) move through both lists, selecting as they go. */
function drillKey(event: KeyboardEvent, lessons: readonly DrillListing[], id: string, actions: Actions): void {
  const at = lessons.findIndex((l) => l.id === id);
  const to = event.key === 'ArrowDown' ? Math.min(at + 1, lessons.length - 1) : event.key === 'ArrowUp' ? Math.max(at - 1, 0) : event.key === 'Home' ? 0 : event.key === 'End' ? lessons.length - 1 : -1;
  if (to < 0 || to === at) return;
  event.preventDefault();
  actions.selectDrill(lessons[to]!.id);
  requestAnimationFrame(() => (document.querySelector(`.drill-item[data-drill="${lessons[to]!.id}"] button`) as HTMLButtonElement | null)?.focus());
}

function drillDetail(lesson: DrillListing, state: AppState, actions: Actions): HTMLElement {
  const overview = state.drills!;
  const active = overview.active?.id === lesson.id ? overview.active : undefined;
  const kindWord = lesson.kind === 'drill' ? 'drill' : 'exercise';
  const { words, chip } = listState(lesson);
  const error = state.drillError;
  return h(
    'article',
    { class: 'drill-detail', 'data-drill': lesson.id, 'data-kind': lesson.kind, 'aria-labelledby': 'drill-detail-title' },
    h(
      'header',
      { class: 'step-header' },
      h('div', {}, h('div', { class: 'eyebrow' }, lesson.kind === 'drill' ? 'Break/fix drill' : 'Operations exercise'), h('h2', { id: 'drill-detail-title' }, lesson.title), h('p', { class: 'muted drill-teaches-long' }, `Teaches ${lesson.teaches}.`)),
      active ? runningActions(active, state, actions) : null,
    ),
    h('div', { class: 'step-state' }, h('span', { class: `status-chip ${chip}`, 'data-testid': 'drill-state' }, words), active ? h('span', { class: 'muted small' }, `started ${formatTime(active.startedAt)}`) : null),
    error ? h('div', { class: 'notice error', role: 'alert', 'data-testid': 'drill-error' }, h('strong', {}, CALL_FAILED[error.call]), h('pre', {}, error.text)) : null,
    operationBar(state, actions),
    h('section', { class: 'drill-section', 'aria-labelledby': 'drill-story-title' }, h('h3', { id: 'drill-story-title' }, 'The story'), h('div', { class: 'drill-story', 'data-testid': 'drill-story' }, renderExplanation(active?.story ?? lesson.story))),
    active ? runningPanel(active, lesson, state, actions) : idlePanel(lesson, kindWord, state, actions),
  );
}

const CALL_FAILED = {
  start: 'Starting failed',
  check: 'Checking failed',
  hint: 'No hint',
  reveal: 'Revealing failed',
  reference: 'Applying the reference failed',
  stop: 'Stopping failed',
} as const;

/** True while a drill call from this page or a drill operation on the lab is in flight. */
function drillBusy(state: AppState): boolean {
  return Boolean(state.drillBusy) || Boolean(runningDrillOperation(state)) || state.connection !== 'open';
}

function operationBar(state: AppState, actions: Actions): HTMLElement | null {
  const o = runningDrillOperation(state);
  if (!o) return null;
  return h(
    'div',
    { class: 'operations' },
    h(
      'div',
      { class: `operation ${o.status}`, 'data-operation': o.kind, role: 'status' },
      h('div', { class: 'operation-head' }, h('strong', {}, o.label), h('span', { class: 'muted small' }, o.message ?? 'working…'), h('button', { class: 'btn small', 'data-action': 'cancel-operation', title: 'Stops after killing the command in flight; what was done stays', onclick: () => void actions.cancelOperation(o.id) }, 'Cancel')),
      h('div', { class: `progress ${o.fraction === undefined ? 'indeterminate' : ''}` }, h('div', { class: 'progress-fill', style: `width:${((o.fraction ?? 0) * 100).toFixed(1)}%` })),
    ),
  );
}

/** Not running: why it cannot start yet, or Start (with the snapshot checkbox), its stages and its history. */
function idlePanel(lesson: DrillListing, kindWord: string, state: AppState, actions: Actions): HTMLElement[] {
  const overview = state.drills!;
  const other = overview.active;
  const busy = drillBusy(state);
  const why = lesson.unavailable
    ? `not yet: ${lesson.unavailable}`
    : other
      ? `the ${other.kind} “${other.title}” is running on this lab: stop it first`
      : state.connection !== 'open'
        ? 'not connected to the lab'
        : busy
          ? 'a drill call is still running'
          : undefined;
  const stopped = state.drillStopped?.id === lesson.id ? state.drillStopped : undefined;
  const history = overview.history.filter((f) => f.id === lesson.id);
  return [
    stopped ? h('div', { class: `notice ${stopped.outcome === 'solved' ? 'ok' : 'info'}`, role: 'status', 'data-testid': 'drill-stopped' }, h('strong', {}, stopped.outcome === 'solved' ? `Solved in ${stopped.seconds} s` : 'Stopped'), h('p', {}, stoppedHow(stopped))) : null,
    lesson.unavailable
      ? h(
          'div',
          { class: 'notice warn', id: 'drill-unavailable', 'data-testid': 'drill-unavailable' },
          h('strong', {}, 'Not yet'),
          h('p', { id: 'drill-start-why' }, inline(`This ${kindWord} ${lesson.unavailable}.`)),
          /\bstep/.test(lesson.unavailable) ? h('p', { class: 'muted small' }, 'In the app: the walkthrough runs the steps one at a time, Create cluster runs them all.') : null,
        )
      : null,
    other && !lesson.unavailable ? h('div', { class: 'notice info', id: 'drill-other-running' }, h('strong', {}, `The ${other.kind} “${other.title}” is running`), h('p', {}, 'One runs at a time on a lab.'), h('button', { class: 'btn small', 'data-action': 'show-running-drill', onclick: () => actions.selectDrill(other.id) }, 'Show it')) : null,
    h(
      'div',
      { class: 'drill-start' },
      h(
        'label',
        { class: 'drill-snapshot' },
        h('input', { type: 'checkbox', 'data-action': 'drill-snapshot', checked: state.drillSnapshot, disabled: Boolean(why), onchange: (event: Event) => actions.setDrillSnapshot((event.target as HTMLInputElement).checked) }),
        h('span', {}, 'Take a snapshot first', h('span', { class: 'muted small' }, ' (Stop returns every node to it; without one, Stop undoes the fault)')),
      ),
      h(
        'button',
        {
          class: 'btn primary',
          'data-action': 'start-drill',
          disabled: Boolean(why),
          title: why ?? `Starts the ${kindWord}${state.drillSnapshot ? ' after a snapshot of every node' : ''}`,
          'aria-describedby': why ? 'drill-start-why' : undefined,
          onclick: () => void actions.startDrill(lesson.id),
        },
        state.drillBusy === 'start' ? 'Starting…' : `Start the ${kindWord}`,
      ),
      // Unavailable: the notice above says why (and is what the button is described by).
      why && !lesson.unavailable ? h('span', { class: 'muted small', id: 'drill-start-why' }, `Cannot start: ${why}`) : null,
    ),
    lesson.stages?.length ? h('section', { class: 'drill-section' }, h('h3', {}, 'Stages'), h('ol', { class: 'drill-stages' }, lesson.stages.map((s) => h('li', {}, s)))) : null,
    lesson.kind === 'drill' ? h('p', { class: 'muted small' }, `The story tells the symptom, never the cause. ${lesson.hintCount} hints help one step at a time; Reveal shows the fix.`) : null,
    history.length
      ? h(
          'section',
          { class: 'drill-section' },
          h('h3', {}, 'On this lab before'),
          h('ul', { class: 'drill-history' }, history.map((f) => h('li', {}, `${formatTime(f.finishedAt)}: ${f.outcome === 'solved' ? `solved in ${f.seconds} s with ${plural(f.hints, 'hint')}` : `stopped after ${f.seconds} s`}${f.revealed ? ' (fix revealed)' : ''}`))),
        )
      : null,
  ].filter((e): e is HTMLElement => e !== null);
}

function stoppedHow(stopped: NonNullable<AppState['drillStopped']>): string {
  if (stopped.how === 'snapshot') return `The lab is back at the snapshot taken at the start${stopped.restore ? ` (in ${stopped.restore.seconds} s)` : ''}.${stopped.restore && !stopped.restore.ok ? ` But ${stopped.restore.failing.join(', ')} do not pass their checkers: Create cluster repairs them.` : ''}`;
  if (stopped.how === 'undone') return 'The fault was undone with the reference fix.';
  return 'The lab is as the hard way left it.';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function runningActions(active: ActiveDrill, state: AppState, actions: Actions): HTMLElement {
  const busy = drillBusy(state);
  const allHints = active.hintsShown >= active.hintCount;
  return h(
    'div',
    { class: 'step-actions drill-actions' },
    h('button', { class: 'btn primary', 'data-action': 'check-drill', disabled: busy, title: 'Judges the lab with the checkers (never changes it)', onclick: () => void actions.checkDrill() }, state.drillBusy === 'check' ? 'Checking…' : 'Check'),
    h('button', { class: 'btn', 'data-action': 'drill-hint', disabled: busy || allHints, title: allHints ? 'Every hint is shown below' : 'Shows the next hint', onclick: () => void actions.drillHint() }, allHints ? `All ${active.hintCount} hints shown` : `Hint ${active.hintsShown + 1} of ${active.hintCount}`),
    h('button', { class: 'btn', 'data-action': 'reveal-drill', disabled: busy, title: 'Shows the reference commands, bound to their nodes', onclick: () => void actions.revealDrill() }, active.revealed ? 'Show the fix again' : 'Reveal'),
    h('button', { class: 'btn danger-outline', 'data-action': 'stop-drill', disabled: busy, title: active.solvedAt ? 'Ends it and cleans up' : active.snapshot ? 'Gives up: the lab goes back to the snapshot taken at the start' : 'Gives up: the fault is undone with the reference fix', onclick: () => void actions.stopDrill() }, state.drillBusy === 'stop' ? 'Stopping…' : 'Stop'),
  );
}

function runningPanel(active: ActiveDrill, lesson: DrillListing, state: AppState, actions: Actions): HTMLElement[] {
  const started = state.drillStarted?.id === active.id ? state.drillStarted : undefined;
  const checked = state.drillChecked?.id === active.id ? state.drillChecked : undefined;
  const revealed = state.drillRevealed?.id === active.id ? state.drillRevealed.reveal : undefined;
  const solvedSeconds = active.solvedAt ? Math.round((Date.parse(active.solvedAt) - Date.parse(active.startedAt)) / 1000) : undefined;
  return [
    h(
      'div',
      { class: 'notice info drill-running', role: 'status' },
      h('strong', {}, `The ${active.kind} is running`),
      h('p', {}, `Since ${formatTime(active.startedAt)}. ${active.snapshot ? `A snapshot (${active.snapshot}) was taken first: Stop returns the lab to it.` : started?.noSnapshot ? `No snapshot: ${started.noSnapshot}.` : 'No snapshot was taken: Stop undoes the fault with the reference fix.'}`),
      h('p', {}, 'Work in the node terminals; Check judges, Hint helps one step at a time. ', h('button', { class: 'btn small', 'data-action': 'open-terminals', onclick: () => actions.show('terminals') }, 'Open the terminals')),
    ),
    active.stage
      ? h(
          'section',
          { class: 'drill-section drill-stage', 'data-testid': 'drill-stage', 'aria-labelledby': 'drill-stage-title' },
          h('h3', { id: 'drill-stage-title' }, `Stage ${active.stage.number} of ${active.stage.of}: ${active.stage.title}`),
          renderExplanation(active.stage.task),
          active.stagesPassed.length ? h('ul', { class: 'drill-history' }, active.stagesPassed.map((s, i) => h('li', {}, `Stage ${i + 1} done at ${formatTime(s.at)}: ${s.title}`))) : null,
        )
      : null,
    started?.symptoms.length ? h('section', { class: 'drill-section' }, h('h3', {}, 'The fault is in place'), h('section', { class: 'check-panel' }, probeTable(started.symptoms))) : null,
    solvedSeconds !== undefined
      ? h('div', { class: 'notice ok', role: 'status', 'data-testid': 'drill-solved' }, h('strong', {}, `Solved in ${solvedSeconds} s with ${plural(checked?.hintsUsed ?? active.hintsShown, 'hint')}`), h('p', {}, 'Stop ends it and puts the lab back as it was.'))
      : null,
    checked ? checkedPanel(checked, lesson) : null,
    active.hintTexts.length
      ? h(
          'section',
          { class: 'drill-section', 'aria-labelledby': 'drill-hints-title' },
          h('h3', { id: 'drill-hints-title' }, 'Hints'),
          h('ol', { class: 'drill-hints', 'data-testid': 'drill-hints' }, active.hintTexts.map((text, i) => h('li', {}, h('strong', {}, `Hint ${i + 1} of ${active.hintCount}: `), renderExplanation(text)))),
        )
      : null,
    revealed ? revealPanel(revealed.groups, state, actions) : null,
  ].filter((e): e is HTMLElement => e !== null);
}

function checkedPanel(checked: DrillChecked, lesson: DrillListing): HTMLElement {
  const verdict = checked.solved
    ? null
    : checked.stage?.passed && checked.stage.next
      ? h('div', { class: 'notice ok', role: 'status' }, h('strong', {}, `Stage ${checked.stage.number} of ${checked.stage.of} done`), h('p', {}, `Next, stage ${checked.stage.number + 1}:`), renderExplanation(checked.stage.next))
      : h('div', { class: 'notice warn', role: 'status' }, h('strong', {}, checked.stage ? `Stage ${checked.stage.number} of ${checked.stage.of}: not yet` : 'Not solved yet'), h('p', {}, `Hint helps; Reveal shows the ${lesson.kind === 'drill' ? 'fix' : 'reference steps'}.`));
  return h(
    'section',
    { class: 'drill-section', 'data-testid': 'drill-check', 'data-verdict': checked.solved ? 'solved' : checked.stage?.passed ? 'stage-passed' : 'not-yet', 'aria-labelledby': 'drill-check-title' },
    h('h3', { id: 'drill-check-title' }, 'Last check'),
    verdict,
    checked.steps.map((step) => checkPanel(step, { testId: 'drill-step-check', title: `Step ${step.step}:` })),
    checked.probes.length
      ? h(
          'section',
          { class: `check-panel ${checked.probes.every((p) => p.ok) ? 'ok' : 'down'}`, 'data-testid': 'drill-probes' },
          h('header', {}, h('strong', {}, checked.stage ? `Stage ${checked.stage.number}: ${checked.stage.title}` : 'Probes'), h('span', { class: 'muted small' }, `${checked.probes.filter((p) => p.ok).length} of ${checked.probes.length} probes passed`)),
          probeTable(checked.probes),
        )
      : null,
  );
}

function revealPanel(groups: { title: string; commands: DrillCommand[] }[], state: AppState, actions: Actions): HTMLElement {
  const busy = drillBusy(state);
  return h(
    'section',
    { class: 'drill-section', 'data-testid': 'drill-reveal', 'aria-labelledby': 'drill-reveal-title' },
    h('div', { class: 'drill-reveal-head' }, h('h3', { id: 'drill-reveal-title' }, 'The reference'), h('button', { class: 'btn', 'data-action': 'apply-reference', disabled: busy, title: 'Runs the reference commands on their nodes for you; then Check judges', onclick: () => void actions.applyDrillReference() }, state.drillBusy === 'reference' ? 'Running…' : 'Run it for me')),
    groups.map((g) =>
      h(
        'div',
        { class: 'drill-reveal-group' },
        h('h4', {}, g.title),
        g.commands.map((c) =>
          h(
            'div',
            { class: 'command-group' },
            h('div', { class: 'command-node' }, h('span', { class: `node-chip ${c.node === HOST ? 'host' : ''}` }, c.node === HOST ? 'host (this machine, in the lab directory)' : c.node)),
            c.why ? h('p', { class: 'command-desc' }, c.why) : null,
            h(
              'div',
              { class: 'command-row' },
              h('pre', { class: 'code' }, c.command),
              c.node === HOST
                ? h('button', { class: 'btn small ghost', 'data-action': 'copy-command', title: 'Copies the command; run it in a terminal on this machine, in the lab directory', onclick: () => void navigator.clipboard.writeText(c.command) }, 'Copy')
                : h('button', { class: 'btn small', 'data-action': 'type-command', title: `Types the command into ${c.node}'s terminal; press Enter there to run it`, onclick: () => void actions.typeInTerminal(c.node, c.command) }, `Type in ${c.node}`),
            ),
          ),
        ),
      ),
    ),
  );
}
