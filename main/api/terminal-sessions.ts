// Interactive SSH shells behind the UI's terminals. Sessions live here, in the main process (or the
// browser-mode server), not in the page: the renderer only draws output and sends keystrokes and
// resizes, so switching tabs or reloading the page never drops a shell (Freelens does the same).
//
// Output is coalesced (everything that arrived in one turn of the event loop becomes one event)
// and flow-controlled: when a UI falls more than HIGH_WATER characters behind, the SSH channel is
// paused until it catches up, so `cat` of a huge file cannot flood the window.

import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import type { ApiEvent, TerminalInfo, TerminalState } from '../shared/api-contract.ts';
import { ApiError } from '../shared/api-contract.ts';

/** What a PTY shell channel offers; ssh2's ClientChannel is one. */
export interface ShellChannel extends EventEmitter {
  write(data: string | Buffer): boolean;
  setWindow(rows: number, cols: number, height: number, width: number): void;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
  close?(): unknown;
  stderr?: EventEmitter;
}

export type OpenShell = (node: string, size: { cols: number; rows: number }) => Promise<ShellChannel>;

export interface TerminalSessionsOptions {
  /** Characters of recent output kept per terminal, replayed when a page attaches again. */
  scrollbackChars?: number;
  /** Largest single output event. */
  maxEventChars?: number;
  /** Give up reconnecting a dropped shell after this long. */
  reconnectForMs?: number;
  reconnectDelaysMs?: number[];
}

/** A consumer (one window or browser tab) more than this many characters behind pauses the shell. */
export const HIGH_WATER = 1_000_000;
/** ...and it resumes once every consumer is below this. */
export const LOW_WATER = 250_000;

interface Session {
  info: TerminalInfo;
  channel?: ShellChannel;
  decoder: StringDecoder;
  pending: string;
  flushScheduled: boolean;
  scrollback: string;
  closedByUser: boolean;
  /** Consumers that are too far behind; the channel stays paused while this is non-empty. */
  holders: Set<string>;
  reconnectTimer?: NodeJS.Timeout;
  droppedAt?: number;
  attempts: number;
}

export class TerminalSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly openShell: OpenShell;
  private readonly emit: (event: ApiEvent) => void;
  private readonly scrollbackChars: number;
  private readonly maxEventChars: number;
  private readonly reconnectForMs: number;
  private readonly reconnectDelaysMs: number[];

  constructor(openShell: OpenShell, emit: (event: ApiEvent) => void, options: TerminalSessionsOptions = {}) {
    this.openShell = openShell;
    this.emit = emit;
    this.scrollbackChars = options.scrollbackChars ?? 256 * 1024;
    this.maxEventChars = options.maxEventChars ?? 64 * 1024;
    this.reconnectForMs = options.reconnectForMs ?? 10 * 60_000;
    this.reconnectDelaysMs = options.reconnectDelaysMs ?? [500, 1000, 2000, 4000, 8000, 15000];
  }

  async open(node: string, cols: number, rows: number): Promise<TerminalInfo> {
    const id = `term-${randomBytes(6).toString('hex')}`;
    const session: Session = {
      info: { id, node, cols, rows, state: 'connecting' },
      decoder: new StringDecoder('utf8'),
      pending: '',
      flushScheduled: false,
      scrollback: '',
      closedByUser: false,
      holders: new Set(),
      attempts: 0,
    };
    this.sessions.set(id, session);
    try {
      await this.connect(session);
    } catch (error) {
      this.sessions.delete(id);
      throw error;
    }
    return { ...session.info };
  }

  list(): TerminalInfo[] {
    return [...this.sessions.values()].map((s) => ({ ...s.info }));
  }

  attach(id: string): { info: TerminalInfo; scrollback: string } {
    const session = this.get(id);
    this.flush(session);
    return { info: { ...session.info }, scrollback: session.scrollback };
  }

  input(id: string, data: string): void {
    const session = this.get(id);
    if (session.info.state !== 'connected' || !session.channel) {
      throw new ApiError(`the terminal on ${session.info.node} is ${session.info.state}; input was not sent`, {
        code: 'terminal-not-connected',
        hint: session.info.state === 'reconnecting' ? 'wait for the reconnect banner to clear, then type again.' : 'open a new terminal.',
      });
    }
    session.channel.write(data);
  }

  resize(id: string, cols: number, rows: number): void {
    const session = this.get(id);
    session.info.cols = cols;
    session.info.rows = rows;
    // ssh2 takes rows first; the pixel size is optional and left 0.
    session.channel?.setWindow(rows, cols, 0, 0);
  }

  close(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    session.closedByUser = true;
    clearTimeout(session.reconnectTimer);
    session.channel?.end();
    session.channel?.close?.();
    this.sessions.delete(id);
    this.setState(session, 'closed', 'closed by the user');
  }

  closeAll(): void {
    for (const id of [...this.sessions.keys()]) this.close(id);
  }

  /** A consumer fell behind on this terminal: pause the shell until it catches up. */
  hold(id: string, consumer: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    if (session.holders.size === 0) session.channel?.pause();
    session.holders.add(consumer);
  }

  release(id: string, consumer: string): void {
    const session = this.sessions.get(id);
    if (!session || !session.holders.delete(consumer)) return;
    if (session.holders.size === 0) session.channel?.resume();
  }

  /** A consumer went away (window closed, tab gone): it must not keep any shell paused. */
  releaseConsumer(consumer: string): void {
    for (const id of this.sessions.keys()) this.release(id, consumer);
  }

  private get(id: string): Session {
    const session = this.sessions.get(id);
    if (!session) throw new ApiError(`no terminal ${id} (it was closed)`, { code: 'not-found', hint: 'open a new terminal for the node.' });
    return session;
  }

  private async connect(session: Session): Promise<void> {
    const { node, cols, rows } = session.info;
    const channel = await this.openShell(node, { cols, rows });
    if (session.closedByUser) {
      channel.end();
      return;
    }
    session.channel = channel;
    session.attempts = 0;
    session.droppedAt = undefined;
    let exit: string | undefined;
    const onData = (chunk: Buffer | string): void => this.onOutput(session, chunk);
    channel.on('data', onData);
    channel.stderr?.on('data', onData);
    channel.on('exit', (code: number | null, signal?: string) => {
      exit = code !== null && code !== undefined ? `the shell exited with code ${code}` : `the shell was ended by signal ${signal ?? 'unknown'}`;
    });
    channel.on('error', () => {
      // An error is always followed by `close`, which decides what happens next.
    });
    channel.once('close', () => {
      if (session.channel !== channel) return;
      session.channel = undefined;
      this.flush(session);
      if (session.closedByUser) return;
      if (exit) {
        this.sessions.delete(session.info.id);
        this.setState(session, 'closed', exit);
      } else {
        this.scheduleReconnect(session, 'the SSH connection dropped');
      }
    });
    if (session.holders.size > 0) channel.pause();
    this.setState(session, 'connected', session.info.state === 'reconnecting' ? 'reconnected: this is a new shell' : undefined);
  }

  private scheduleReconnect(session: Session, reason: string): void {
    session.droppedAt ??= Date.now();
    if (Date.now() - session.droppedAt > this.reconnectForMs) {
      this.sessions.delete(session.info.id);
      this.setState(session, 'closed', `${reason}; gave up reconnecting after ${Math.round(this.reconnectForMs / 1000)} s`);
      return;
    }
    const delay = this.reconnectDelaysMs[Math.min(session.attempts, this.reconnectDelaysMs.length - 1)] ?? 1000;
    session.attempts++;
    this.setState(session, 'reconnecting', `${reason}; reconnecting (attempt ${session.attempts}, in ${(delay / 1000).toFixed(1)} s)`);
    session.reconnectTimer = setTimeout(() => {
      if (session.closedByUser) return;
      this.connect(session).catch((error: unknown) => {
        this.scheduleReconnect(session, firstLine(error));
      });
    }, delay);
  }

  private setState(session: Session, state: TerminalState, reason?: string): void {
    session.info.state = state;
    session.info.reason = reason;
    this.emit({ kind: 'terminal-state', id: session.info.id, node: session.info.node, state, reason });
  }

  private onOutput(session: Session, chunk: Buffer | string): void {
    session.pending += typeof chunk === 'string' ? chunk : session.decoder.write(chunk);
    if (session.pending.length >= this.maxEventChars) {
      this.flush(session);
      return;
    }
    if (!session.flushScheduled) {
      session.flushScheduled = true;
      // Everything that arrives in this turn of the event loop goes out as one event.
      setImmediate(() => this.flush(session));
    }
  }

  private flush(session: Session): void {
    session.flushScheduled = false;
    while (session.pending.length > 0) {
      const data = session.pending.slice(0, this.maxEventChars);
      session.pending = session.pending.slice(data.length);
      session.scrollback += data;
      if (session.scrollback.length > this.scrollbackChars * 2) session.scrollback = trimScrollback(session.scrollback, this.scrollbackChars);
      this.emit({ kind: 'terminal-output', id: session.info.id, data });
    }
  }
}

/** Keeps about the last `keep` characters, starting at a line break so replay does not begin mid-sequence. */
function trimScrollback(text: string, keep: number): string {
  const start = text.length - keep;
  const lineBreak = text.indexOf('\n', start);
  return text.slice(lineBreak >= 0 && lineBreak - start < 4096 ? lineBreak + 1 : start);
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
