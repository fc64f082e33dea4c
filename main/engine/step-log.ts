// Per-step, per-node logs in the lab: logs/<step>/<node>.log (host.log for the host side). Every
// command, its output and every message goes there, and out as a LabEvent for the faces.

import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LabEvent } from '../shared/engine-types.ts';

export class StepLog {
  private readonly partial = new Map<string, string>();

  constructor(
    readonly logsDir: string,
    readonly step: string,
    private readonly emit: (event: LabEvent) => void,
  ) {
    mkdirSync(join(logsDir, step), { recursive: true });
  }

  fileFor(node: string | undefined): string {
    return join(this.logsDir, this.step, `${node ?? 'host'}.log`);
  }

  /** One whole line; `emit: false` writes the file only (the caller sends its own event). */
  line(node: string | undefined, stream: 'stdout' | 'stderr' | 'info', line: string, emit = true): void {
    const prefix = stream === 'info' ? '' : stream === 'stderr' ? '! ' : '| ';
    appendFileSync(this.fileFor(node), `${new Date().toISOString()} ${prefix}${line}\n`);
    if (emit) this.emit({ type: 'log', step: this.step, node, stream, line });
  }

  /** A chunk of streamed output: complete lines go out now, the rest waits for its newline. */
  chunk(node: string | undefined, stream: 'stdout' | 'stderr', text: string): void {
    const key = `${node ?? ''}\0${stream}`;
    const joined = (this.partial.get(key) ?? '') + text;
    const lines = joined.split('\n');
    this.partial.set(key, lines.pop() ?? '');
    for (const line of lines) this.line(node, stream, line);
  }

  /** Flushes a trailing line without newline (at the end of a command). */
  flush(node: string | undefined): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${node ?? ''}\0${stream}`;
      const rest = this.partial.get(key);
      if (rest) this.line(node, stream, rest);
      this.partial.delete(key);
    }
  }
}
