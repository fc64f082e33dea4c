// The engine's memory of a lab: <lab>/state.json (which step is done, failed, running; the last
// check of each), written atomically so a crash or kill -9 never leaves half a file, and a lock
// so two engines never work on one lab at once. The state is a hint, never the truth: resuming
// re-checks every step it claims is done (see findResumePoint).

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CheckResult, StepState } from '../shared/engine-types.ts';
import type { MeasuredTiming } from './guest-speed.ts';

export interface LabStateFile {
  version: 1;
  updatedAt: string;
  steps: Record<string, StepState>;
  /** How slow the VMs are, measured by step compute; scales every wait. */
  timing?: MeasuredTiming;
  /** Set by `hardway-lab stop` and `start`: a stopped lab is not a broken one. */
  lifecycle?: { state: 'stopped' | 'running'; since: string };
}

export function emptyLabState(): LabStateFile {
  return { version: 1, updatedAt: new Date(0).toISOString(), steps: {} };
}

export function readLabState(path: string): LabStateFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyLabState();
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LabStateFile>;
    if (parsed.version !== 1 || typeof parsed.steps !== 'object' || parsed.steps === null) throw new Error('not a version-1 state file');
    return { version: 1, updatedAt: parsed.updatedAt ?? new Date(0).toISOString(), steps: { ...parsed.steps }, ...(parsed.timing ? { timing: parsed.timing } : {}), ...(parsed.lifecycle ? { lifecycle: parsed.lifecycle } : {}) };
  } catch (error) {
    // Only a hint is lost: every step will be checked or run again.
    const aside = `${path}.damaged-${Date.now()}`;
    renameSync(path, aside);
    process.emitWarning(`${path} was unreadable (${(error as Error).message}); moved to ${aside}, starting with an empty state`);
    return emptyLabState();
  }
}

export function writeLabState(path: string, state: LabStateFile): void {
  mkdirSync(dirname(path), { recursive: true });
  state.updatedAt = new Date().toISOString();
  const temporary = join(dirname(path), `.state.json.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(temporary, 'wx', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

/** A step state of a run that died: still "running" in the file, but no engine holds the lock. */
export function interruptedSteps(state: LabStateFile): string[] {
  return Object.values(state.steps)
    .filter((s) => s.status === 'running')
    .map((s) => s.id);
}

/**
 * Where `up` starts: the first step, in order, whose checker does not pass. Steps the state says
 * are done (or skipped) are verified with their checker; a step that never finished (pending,
 * failed, interrupted while running) is not checked — it simply runs, being idempotent.
 * Returns the index into `stepIds` (stepIds.length when everything passes) and the checks made.
 */
export async function findResumePoint(
  stepIds: readonly string[],
  state: LabStateFile,
  check: (id: string) => Promise<CheckResult>,
): Promise<{ index: number; checks: CheckResult[] }> {
  const checks: CheckResult[] = [];
  for (let index = 0; index < stepIds.length; index++) {
    const id = stepIds[index]!;
    const status = state.steps[id]?.status;
    if (status !== 'done' && status !== 'skipped') return { index, checks };
    const result = await check(id);
    checks.push(result);
    if (!result.ok && !result.skipped) return { index, checks };
  }
  return { index: stepIds.length, checks };
}

/** `work` under the lab lock (see LabLock), released whatever happens. */
export async function withLabLock<T>(path: string, purpose: string, work: () => Promise<T>): Promise<T> {
  const lock = new LabLock(path);
  lock.acquire(purpose);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/**
 * Only one changing operation per lab (up, a step, destroy, stop, start), from any process: <lab>/engine.lock
 * holds the pid, what it does and since when; a lock of a dead process is taken over.
 */
export class LabLock {
  private held = false;

  constructor(readonly path: string) {}

  acquire(purpose: string): void {
    mkdirSync(dirname(this.path), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o644);
        writeSync(fd, `${JSON.stringify({ pid: process.pid, purpose, since: new Date().toISOString() })}\n`);
        closeSync(fd);
        this.held = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = this.holder();
      // Our own pid counts as alive only if the lock was written after this process started
      // (an old lock from before a reboot may carry a pid that is ours by coincidence).
      const ours = holder?.pid === process.pid && Date.parse(holder.since) >= Date.now() - process.uptime() * 1000 - 1000;
      if (holder && (holder.pid === process.pid ? ours : isAlive(holder.pid))) {
        throw new Error(
          `another hardway-lab process (pid ${holder.pid}, ${holder.purpose}, since ${holder.since}) is working on this lab\n` +
            `  what to do: wait for it to finish, or stop it (kill ${holder.pid}) and run the command again`,
        );
      }
      // Left by a process that died (crash, kill -9): take it over.
      rmSync(this.path, { force: true });
    }
    throw new Error(`could not take the lab lock ${this.path}; remove it if no hardway-lab process is running`);
  }

  release(): void {
    if (!this.held) return;
    const holder = this.holder();
    if (holder?.pid === process.pid) rmSync(this.path, { force: true });
    this.held = false;
  }

  private holder(): { pid: number; purpose: string; since: string } | undefined {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as { pid: number; purpose: string; since: string };
    } catch {
      return undefined;
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
