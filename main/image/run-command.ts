// Runs a host command and keeps what a person needs when it fails: the command line and the last
// lines of its output. Used by the image builder and the QEMU provider.

import { spawn, type SpawnOptions } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order, for error messages. */
  output: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the command (SIGKILL) after this long. */
  timeoutMs?: number;
  /** Called with every complete output line, e.g. to forward build progress. */
  onLine?: (line: string) => void;
  input?: string;
  /** Most output kept in memory; older output is dropped from the front. */
  maxOutputChars?: number;
}

export class CommandError extends Error {
  readonly command: string;
  readonly result: CommandResult;
  constructor(command: string, result: CommandResult, what?: string) {
    const status = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    super(`${what ?? command} ${status}`);
    this.name = 'CommandError';
    this.command = command;
    this.result = result;
  }
}

/** A shell-readable rendering of argv, for messages only. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs argv; resolves with the result whatever the exit code. Rejects only when it cannot start. */
export function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error('runCommand: empty command'));
  const max = options.maxOutputChars ?? 2_000_000;
  return new Promise((resolvePromise, reject) => {
    const spawnOptions: SpawnOptions = { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'] };
    const child = spawn(file, args, spawnOptions);
    let stdout = '';
    let stderr = '';
    let output = '';
    const pending = { out: '', err: '' };
    const take = (which: 'out' | 'err', chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (which === 'out') stdout = clip(stdout + text, max);
      else stderr = clip(stderr + text, max);
      output = clip(output + text, max);
      if (options.onLine) {
        const lines = (pending[which] + text).split(/\r?\n/);
        pending[which] = lines.pop() ?? '';
        for (const line of lines) options.onLine(line);
      }
    };
    child.stdout!.on('data', (c: Buffer) => take('out', c));
    child.stderr!.on('data', (c: Buffer) => take('err', c));
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      if (timer) clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (options.onLine) {
        if (pending.out) options.onLine(pending.out);
        if (pending.err) options.onLine(pending.err);
      }
      resolvePromise({ code, signal, stdout, stderr, output });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.input ?? '');
  });
}

/** Runs argv and rejects with a CommandError unless it exits 0. */
export async function runChecked(argv: readonly string[], options: RunOptions & { what?: string } = {}): Promise<CommandResult> {
  const result = await runCommand(argv, options);
  if (result.code !== 0) throw new CommandError(formatCommand(argv), result, options.what);
  return result;
}

/** The last `lines` non-empty lines of a text. */
export function lastLines(text: string, lines = 20): string {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .join('\n');
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(text.length - max) : text;
}
