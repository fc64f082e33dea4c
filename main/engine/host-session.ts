// Commands a step runs on the host (kubectl through the load balancer, `ip route` for preflight),
// logged like node commands, to logs/<step>/host.log.

import { spawn } from 'node:child_process';
import type { ExecResult } from './node-executor.ts';
import { shellJoin } from './shell.ts';
import { StepError } from './step-definition.ts';
import type { StepLog } from './step-log.ts';

export interface HostCommandOptions {
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  stdin?: string;
  quietStdout?: boolean;
  hint?: string;
}

export class HostSession {
  constructor(
    private readonly log: StepLog,
    private readonly signal: AbortSignal,
  ) {}

  info(message: string): void {
    this.log.line(undefined, 'info', message);
  }

  /** Runs argv[0] with the rest as arguments (no shell); resolves whatever the exit code. */
  exec(argv: readonly string[], options: HostCommandOptions = {}): Promise<ExecResult> {
    this.signal.throwIfAborted();
    const shown = shellJoin(argv);
    this.log.line(undefined, 'info', `$ ${shown}`);
    return new Promise<ExecResult>((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        env: options.env ?? process.env,
        stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        signal: this.signal,
        timeout: options.timeoutMs ?? 5 * 60_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (!options.quietStdout) this.log.chunk(undefined, 'stdout', chunk);
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        this.log.chunk(undefined, 'stderr', chunk);
      });
      child.on('error', (error) => {
        this.log.flush(undefined);
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        resolve({ code: 127, stdout, stderr: stderr + (missing ? `${argv[0]}: command not found on this host` : error.message) });
      });
      child.on('close', (code, signal) => {
        this.log.flush(undefined);
        const result: ExecResult = { code: code ?? -1, stdout, stderr };
        if (signal) result.signal = signal;
        if (result.code !== 0) this.log.line(undefined, 'info', `exit code ${result.code}${signal ? ` (${signal})` : ''}`);
        resolve(result);
      });
      if (child.stdin) {
        // A command that exits without reading its input must not crash the engine (EPIPE).
        child.stdin.on('error', () => undefined);
        child.stdin.end(options.stdin);
      }
    });
  }

  async run(argv: readonly string[], options: HostCommandOptions = {}): Promise<ExecResult> {
    const result = await this.exec(argv, options);
    if (result.code !== 0) {
      throw new StepError(`command failed on the host with exit code ${result.code}`, {
        command: shellJoin(argv),
        output: [result.stderr, result.stdout].map((s) => s.trimEnd()).filter(Boolean).join('\n').split('\n').slice(-15).join('\n'),
        hint: options.hint ?? `see ${this.log.fileFor(undefined)}`,
      });
    }
    return result;
  }
}
