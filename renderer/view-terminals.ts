// Terminals: a tab per open shell, a "new terminal" button per node, and a split view showing two
// shells side by side. The pane elements persist; only the chrome is redrawn, so typing never
// loses focus to a redraw.

import type { LabSummary } from '../main/shared/api-contract.ts';
import type { Actions } from './actions.ts';
import { h, mount, statusDot } from './dom.ts';
import type { TerminalEntry, TerminalManager } from './terminal-manager.ts';

export class TerminalsView {
  readonly element: HTMLElement;
  private readonly toolbar = h('div', { class: 'term-toolbar' });
  private readonly tabs = h('div', { class: 'term-tabs', role: 'group', 'aria-label': 'Open terminals' });
  private readonly panes = [h('div', { class: 'term-pane', 'data-pane': '0' }), h('div', { class: 'term-pane', 'data-pane': '1' })];
  private readonly paneArea = h('div', { class: 'term-panes' }, this.panes[0]!, this.panes[1]!);
  private readonly empty = h('div', { class: 'term-empty' }, h('p', {}, 'No terminal open yet.'), h('p', { class: 'muted' }, 'Pick a node above: each terminal is a root shell over SSH that stays open while you switch tabs and views.'));
  private split = false;
  /** Which terminal each pane shows, and which pane a tab click goes to. */
  private shown: Array<string | undefined> = [undefined, undefined];
  private focusedPane = 0;
  /** Terminal ids, most recently shown last: split view puts the previous one beside the current. */
  private recent: string[] = [];
  private readonly manager: TerminalManager;
  private readonly actions: Actions;

  constructor(manager: TerminalManager, actions: Actions) {
    this.manager = manager;
    this.actions = actions;
    this.element = h('section', { class: 'view terminals' }, this.toolbar, this.tabs, this.paneArea, this.empty);
    this.panes.forEach((pane, i) => pane.addEventListener('mousedown', () => this.focusPane(i)));
  }

  /** Shows a terminal in the focused pane (the Terminals view is then brought to front by the caller). */
  show(id: string): void {
    if (this.split && this.shown[1 - this.focusedPane] === id) this.focusedPane = 1 - this.focusedPane;
    this.shown[this.focusedPane] = id;
    this.recent = [...this.recent.filter((r) => r !== id), id];
  }

  render(lab: LabSummary | undefined): void {
    const entries = this.manager.list();
    const ids = new Set(entries.map((e) => e.info.id));
    this.shown = this.shown.map((id) => (id && ids.has(id) ? id : undefined));
    if (!this.shown[0]) this.shown[0] = entries.find((e) => e.info.id !== this.shown[1])?.info.id;
    if (this.split && !this.shown[1]) {
      const previous = [...this.recent].reverse().find((id) => id !== this.shown[0] && ids.has(id));
      this.shown[1] = previous ?? entries.find((e) => e.info.id !== this.shown[0])?.info.id;
    }

    mount(
      this.toolbar,
      h('span', { class: 'muted small' }, 'New terminal:'),
      (lab?.nodes ?? []).map((n) => h('button', { class: 'btn small', 'data-open-node': n.name, disabled: lab?.capabilities.terminals.available === false, title: lab?.capabilities.terminals.reason ?? `root shell on ${n.name} (${n.ip})`, onclick: () => void this.actions.openTerminal(n.name, 'terminals') }, n.name)),
      h('span', { class: 'spacer' }),
      h('button', { class: `btn small ${this.split ? 'active' : ''}`, 'aria-pressed': String(this.split), onclick: () => this.toggleSplit(lab) }, this.split ? 'Single view' : 'Split view'),
      h('button', { class: 'btn small ghost', title: 'Copy the selection (Ctrl+Shift+C)', onclick: () => this.withFocused((e) => this.manager.copy(e)) }, 'Copy'),
      h('button', { class: 'btn small ghost', title: 'Paste (Ctrl+Shift+V, or right click)', onclick: () => this.withFocused((e) => this.manager.paste(e)) }, 'Paste'),
    );
    if (lab?.capabilities.terminals.available === false) this.toolbar.append(h('span', { class: 'muted small unavailable' }, lab.capabilities.terminals.reason ?? ''));

    mount(
      this.tabs,
      entries.map((e) =>
        h(
          'div',
          { class: `term-tab ${this.shown.includes(e.info.id) ? 'visible' : ''} ${this.shown[this.focusedPane] === e.info.id ? 'active' : ''}`, 'data-terminal-id': e.info.id, 'data-node': e.info.node },
          // A button per shell (pressed: shown), not ARIA tabs: each also has its own close button.
          h('button', { class: 'term-tab-main', 'aria-pressed': String(this.shown.includes(e.info.id)), onclick: () => this.select(e.info.id, lab) }, statusDot(stateClass(e.info.state), e.info.state), e.info.node, h('span', { class: 'muted small' }, ` ${e.info.cols}×${e.info.rows}`)),
          h('button', { class: 'term-tab-close', title: 'Close this shell', 'aria-label': `Close terminal on ${e.info.node}`, onclick: () => void this.manager.close(e.info.id) }, '×'),
        ),
      ),
    );
    this.paneArea.classList.toggle('split', this.split);
    this.panes[1]!.hidden = !this.split;
    this.panes.forEach((p, i) => p.classList.toggle('focused', this.split && i === this.focusedPane));
    this.empty.hidden = entries.length > 0;
    this.paneArea.hidden = entries.length === 0;
  }

  /** Puts the shown terminals into their panes; call when this view is visible. */
  layout(): void {
    for (const [i, id] of this.shown.entries()) {
      if (i === 1 && !this.split) continue;
      const entry = id ? this.manager.get(id) : undefined;
      const pane = this.panes[i]!;
      for (const child of [...pane.children]) if (child !== entry?.element) child.remove();
      if (entry) this.manager.place(entry, pane);
    }
  }

  focusActive(): void {
    const id = this.shown[this.focusedPane];
    if (id) this.manager.get(id)?.term.focus();
  }

  private select(id: string, lab: LabSummary | undefined): void {
    this.show(id);
    this.render(lab);
    this.layout();
    this.focusActive();
  }

  private focusPane(i: number): void {
    if (this.focusedPane === i) return;
    this.focusedPane = i;
    this.panes.forEach((p, j) => p.classList.toggle('focused', this.split && j === i));
  }

  private toggleSplit(lab: LabSummary | undefined): void {
    this.split = !this.split;
    if (!this.split) this.focusedPane = 0;
    this.render(lab);
    this.layout();
  }

  private withFocused(use: (entry: TerminalEntry) => Promise<void>): void {
    const id = this.shown[this.focusedPane];
    const entry = id ? this.manager.get(id) : undefined;
    if (entry) void use(entry);
  }
}

function stateClass(state: string): string {
  return state === 'connected' ? 'ok' : state === 'closed' ? 'down' : 'degraded';
}
