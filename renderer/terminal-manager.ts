// The page side of the terminals: one xterm.js per SSH shell. The shell itself lives in the main
// process (or the browser-mode server); this only draws its output and sends keystrokes and
// resizes. A terminal's element is moved between panes, never re-created, so switching tabs or
// views never drops a session, and a reloaded page re-attaches to the shells that are still open.

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { ApiEvent, LabClient, TerminalInfo } from '../main/shared/api-contract.ts';
import { errorText, h } from './dom.ts';

export interface TerminalEntry {
  info: TerminalInfo;
  term: Terminal;
  fit: FitAddon;
  /** Banner + xterm host; moved between panes as a whole. */
  element: HTMLElement;
  banner: HTMLElement;
  host: HTMLElement;
  opened: boolean;
  /**
   * Until its scrollback is fetched, output events for this terminal are dropped: the scrollback
   * already holds them (replies and events share one ordered channel).
   */
  attaching: boolean;
}

const THEME = {
  background: '#0d1117',
  foreground: '#d6dde6',
  cursor: '#7cc4ff',
  cursorAccent: '#0d1117',
  selectionBackground: '#2f4a6b',
  black: '#1b222c',
  red: '#ff7b72',
  green: '#56d364',
  yellow: '#e3b341',
  blue: '#79c0ff',
  magenta: '#d2a8ff',
  cyan: '#56d4dd',
  white: '#c9d1d9',
  brightBlack: '#6e7681',
  brightRed: '#ffa198',
  brightGreen: '#7ee787',
  brightYellow: '#f2cc60',
  brightBlue: '#a5d6ff',
  brightMagenta: '#e2c5ff',
  brightCyan: '#7ee7f0',
  brightWhite: '#f0f6fc',
};

/** Acknowledge drawn output in batches: the server pauses a shell when a page falls far behind. */
const ACK_EVERY_CHARS = 64 * 1024;
const ACK_AFTER_MS = 40;
const WRITE_SLICE = 16 * 1024;

export class TerminalManager {
  private readonly api: LabClient;
  private readonly entries = new Map<string, TerminalEntry>();
  private readonly onChange: () => void;
  private readonly unacked = new Map<string, number>();
  private ackTimer: number | undefined;
  private readonly resizeObserver: ResizeObserver;

  constructor(api: LabClient, onChange: () => void) {
    this.api = api;
    this.onChange = onChange;
    this.resizeObserver = new ResizeObserver((records) => {
      for (const record of records) {
        const entry = [...this.entries.values()].find((e) => e.host === record.target);
        if (entry) this.fit(entry);
      }
    });
  }

  list(): TerminalEntry[] {
    return [...this.entries.values()];
  }

  get(id: string): TerminalEntry | undefined {
    return this.entries.get(id);
  }

  /** The newest live terminal of a node. */
  forNode(node: string): TerminalEntry | undefined {
    return this.list()
      .filter((e) => e.info.node === node && e.info.state !== 'closed')
      .at(-1);
  }

  /** Re-attaches to the shells the server still has (after a page reload). */
  async restore(): Promise<void> {
    for (const info of await this.api.listTerminals()) {
      if (!this.entries.has(info.id)) await this.attach(this.create(info));
    }
    this.onChange();
  }

  async open(node: string): Promise<TerminalEntry> {
    const info = await this.api.openTerminal(node, 100, 30);
    const entry = this.entries.get(info.id) ?? (await this.attach(this.create(info)));
    this.onChange();
    return entry;
  }

  /** Draws what the shell printed so far (its prompt, or the recent output after a reload). */
  private async attach(entry: TerminalEntry): Promise<TerminalEntry> {
    try {
      const { info, scrollback } = await this.api.attachTerminal(entry.info.id);
      entry.info = { ...info, state: entry.info.state === 'closed' ? 'closed' : info.state };
      entry.term.write(scrollback);
    } catch {
      // Closed meanwhile: its state event says so.
    } finally {
      entry.attaching = false;
    }
    this.updateBanner(entry);
    return entry;
  }

  async ensureFor(node: string): Promise<TerminalEntry> {
    return this.forNode(node) ?? this.open(node);
  }

  async close(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.resizeObserver.unobserve(entry.host);
    entry.term.dispose();
    entry.element.remove();
    this.onChange();
    try {
      await this.api.closeTerminal(id);
    } catch {
      // Already gone on the server side (it exited); nothing left to close.
    }
  }

  /** Types text into a node's terminal (opening one first), without pressing Enter. */
  async typeInto(node: string, text: string): Promise<TerminalEntry> {
    const entry = await this.ensureFor(node);
    await this.api.terminalInput(entry.info.id, text);
    entry.term.focus();
    return entry;
  }

  /** Puts a terminal's element into a pane and sizes it to fit. */
  place(entry: TerminalEntry, pane: HTMLElement): void {
    if (entry.element.parentElement !== pane) pane.append(entry.element);
    if (!entry.opened) {
      entry.term.open(entry.host);
      entry.opened = true;
      this.resizeObserver.observe(entry.host);
    }
    requestAnimationFrame(() => this.fit(entry));
  }

  handleEvent(event: ApiEvent): void {
    if (event.kind === 'terminal-output') {
      const entry = this.entries.get(event.id);
      if (!entry || entry.attaching) {
        // Not drawn here (yet): its scrollback will be. Acknowledge at once so the shell is not
        // held back for this page.
        this.ack(event.id, event.data.length);
        return;
      }
      // xterm.js yields to the page between writes, not inside one: large batches go in slices so
      // a flood of output never blocks input and drawing for long.
      for (let at = 0; at < event.data.length; at += WRITE_SLICE) {
        const slice = event.data.slice(at, at + WRITE_SLICE);
        entry.term.write(slice, () => this.ack(event.id, slice.length));
      }
    } else if (event.kind === 'terminal-state') {
      const entry = this.entries.get(event.id);
      if (!entry) {
        // A shell opened by another window or tab: pick it up shortly (debounced).
        if (event.state !== 'closed') this.scheduleRestore();
        return;
      }
      entry.info = { ...entry.info, state: event.state, reason: event.reason };
      this.updateBanner(entry);
      this.onChange();
    }
  }

  private restoreTimer: number | undefined;
  private scheduleRestore(): void {
    window.clearTimeout(this.restoreTimer);
    this.restoreTimer = window.setTimeout(() => void this.restore().catch(() => {}), 300);
  }

  private create(info: TerminalInfo): TerminalEntry {
    const term = new Terminal({
      fontFamily: '"JetBrains Mono", "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      lineHeight: 1.15,
      cursorBlink: true,
      scrollback: 5000,
      theme: THEME,
      allowProposedApi: false,
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    const banner = h('div', { class: 'term-banner', role: 'status', hidden: true });
    const host = h('div', { class: 'term-host' });
    const element = h('div', { class: 'term-frame', 'data-terminal-id': info.id, 'data-node': info.node }, banner, host);
    const entry: TerminalEntry = { info, term, fit, element, banner, host, opened: false, attaching: true };
    term.onData((data) => this.send(entry, data));
    term.onBinary((data) => this.send(entry, data));
    term.attachCustomKeyEventHandler((event) => this.clipboardKeys(entry, event));
    host.addEventListener('contextmenu', (event) => {
      event.preventDefault();
      void (term.hasSelection() ? this.copy(entry) : this.paste(entry));
    });
    this.entries.set(info.id, entry);
    return entry;
  }

  private send(entry: TerminalEntry, data: string): void {
    if (entry.info.state !== 'connected') return;
    this.api.terminalInput(entry.info.id, data).catch((error: unknown) => {
      entry.banner.textContent = errorText(error);
      entry.banner.hidden = false;
    });
  }

  /** Ctrl+Shift+C copies the selection, Ctrl+Shift+V pastes (Cmd+C/V on macOS work natively). */
  private clipboardKeys(entry: TerminalEntry, event: KeyboardEvent): boolean {
    if (event.type !== 'keydown' || !event.ctrlKey || !event.shiftKey) return true;
    if (event.code === 'KeyC') {
      void this.copy(entry);
      return false;
    }
    if (event.code === 'KeyV') {
      void this.paste(entry);
      return false;
    }
    return true;
  }

  async copy(entry: TerminalEntry): Promise<void> {
    const text = entry.term.getSelection();
    if (text) await navigator.clipboard.writeText(text);
  }

  async paste(entry: TerminalEntry): Promise<void> {
    try {
      const text = await navigator.clipboard.readText();
      if (text) entry.term.paste(text);
    } catch (error) {
      entry.banner.textContent = `Paste was blocked by the browser (${errorText(error)}); use the browser's own paste (Ctrl+V / middle click).`;
      entry.banner.hidden = false;
    }
    entry.term.focus();
  }

  private fit(entry: TerminalEntry): void {
    if (!entry.opened || entry.host.offsetWidth === 0 || entry.host.offsetHeight === 0) return;
    const before = `${entry.term.cols}x${entry.term.rows}`;
    entry.fit.fit();
    const { cols, rows } = entry.term;
    if (`${cols}x${rows}` === before && entry.info.cols === cols && entry.info.rows === rows) return;
    entry.info = { ...entry.info, cols, rows };
    if (entry.info.state === 'closed') return;
    this.api.terminalResize(entry.info.id, cols, rows).catch(() => {
      // A terminal that is reconnecting gets the latest size when its new shell opens.
    });
  }

  private updateBanner(entry: TerminalEntry): void {
    const { state, reason, node } = entry.info;
    entry.element.dataset.state = state;
    if (state === 'connected' && !reason) {
      entry.banner.hidden = true;
      return;
    }
    entry.banner.hidden = false;
    entry.banner.className = `term-banner ${state}`;
    if (state === 'reconnecting') entry.banner.textContent = `Connection to ${node} lost — ${reason ?? 'reconnecting'}…`;
    else if (state === 'closed') entry.banner.textContent = `Session on ${node} ended: ${reason ?? 'closed'}. Open a new terminal to continue.`;
    else if (state === 'connecting') entry.banner.textContent = `Connecting to ${node}…`;
    else {
      entry.banner.textContent = `${node}: ${reason}`;
      // A "reconnected" note fades after a few seconds.
      window.setTimeout(() => {
        if (entry.info.state === 'connected') entry.banner.hidden = true;
      }, 5000);
    }
  }

  private ack(id: string, chars: number): void {
    const total = (this.unacked.get(id) ?? 0) + chars;
    this.unacked.set(id, total);
    if (total >= ACK_EVERY_CHARS) this.flushAcks();
    else this.ackTimer ??= window.setTimeout(() => this.flushAcks(), ACK_AFTER_MS);
  }

  private flushAcks(): void {
    window.clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    for (const [id, chars] of this.unacked) {
      if (chars > 0) this.api.terminalAck(id, chars).catch(() => {});
    }
    this.unacked.clear();
  }
}
