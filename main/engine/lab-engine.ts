// The lab engine: runs the hard-way steps in order (the nodes of a step in parallel), checks each
// one after it runs, keeps state and per-node logs in the lab directory, and resumes after a crash
// at the first step whose checker does not pass. The CLI, the browser mode and the desktop app all
// drive this class; it never imports electron.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { Provider } from '../providers/provider.ts';
import { ensurePki } from '../pki/ensure-pki.ts';
import { renderLab } from '../render/render-lab.ts';
import type { ArtifactEvent, ArtifactSource, SourceChoice } from '../artifacts/artifact-source.ts';
import type { Component } from '../artifacts/release-catalog.ts';
import type { ArtifactSet } from '../artifacts/artifact-set.ts';
import { HARDWAY_STEPS } from '../steps/hardway-steps.ts';
import { allOk, probe } from '../checkers/probe.ts';
import type { CheckResult, LabEvent, Probe, StepInfo, StepState } from '../shared/engine-types.ts';
import { describeError } from '../shared/lab-error.ts';
import { findResumePoint, interruptedSteps, LabLock, readLabState, writeLabState, type LabStateFile } from './lab-state.ts';
import type { NodeExecutor } from './node-executor.ts';
import { NodeSession } from './node-session.ts';
import { HostSession } from './host-session.ts';
import { StepError, type CommandEnv, type StepContext, type StepDefinition, type Timing, HOST } from './step-definition.ts';
import { StepLog } from './step-log.ts';
import { selectSteps, stepIndex, type StepSelection } from './step-selection.ts';
import { join } from 'node:path';

export interface LabEngineOptions {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
  /** The SSH layer (an SshPool). */
  executor: NodeExecutor;
  /** Needed by the preflight and compute steps (VMs); other steps only use SSH. */
  provider?: Provider;
  artifacts: ArtifactSource;
  /** Defaults to the hard way's steps (HARDWAY_STEPS). */
  steps?: StepDefinition[];
  /** Default: scale 3 (room for software-emulated VMs). */
  timing?: Timing;
  /**
   * Called after each step whose checker passes (e.g. a snapshot of every node, see
   * lab/lab-snapshots.ts); returns what to log. Its failure is a warning, never the step's.
   */
  afterStepDone?: (step: string, signal: AbortSignal) => Promise<string | undefined>;
}

export interface UpOptions extends StepSelection {
  signal?: AbortSignal;
  /** Re-check every selected step at the end (default true): the final table. */
  finalCheck?: boolean;
}

export interface UpResult {
  ok: boolean;
  /** The step `up` started at (after verifying the ones before it). */
  resumedAt?: string;
  states: StepState[];
  /** The final check of every selected step (or the checks made so far when a step failed). */
  checks: CheckResult[];
  failedStep?: string;
}

export type LabEventListener = (event: LabEvent) => void;

/** Until step compute measured the guests: room for software-emulated VMs. */
export const DEFAULT_SCALE = 3;

export class LabEngine {
  readonly plan: Plan;
  readonly spec: ClusterSpec;
  readonly paths: LabPaths;
  readonly steps: StepDefinition[];
  private readonly options: LabEngineOptions;
  private readonly listeners = new Set<LabEventListener>();
  private readonly lock: LabLock;
  private prepared = false;
  /** The artifacts being made in the background while the first steps run (see startArtifacts). */
  private artifactsReady?: { promise: Promise<SourceChoice>; abort: AbortController; settled: boolean };

  constructor(options: LabEngineOptions) {
    this.options = options;
    this.plan = options.plan;
    this.spec = options.spec;
    this.paths = options.paths;
    this.steps = options.steps ?? HARDWAY_STEPS;
    this.lock = new LabLock(options.paths.lock);
  }

  onEvent(listener: LabEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every step with its explanation and the exact commands per node, for the walkthrough. */
  listSteps(): StepInfo[] {
    const env: CommandEnv = { plan: this.plan, paths: this.paths, artifactsDir: this.options.artifacts.root };
    return this.steps.map((step, index) => ({
      id: step.id,
      index,
      title: step.title,
      explanation: step.explanation,
      roles: step.roles,
      needsKubeBinaries: step.needsKubeBinaries,
      commands: [...(step.hostCommands?.(env) ?? []), ...this.nodesOf(step).flatMap((node) => step.commands(env, node))],
    }));
  }

  /** Waits scale: fixed by the options (tests), else measured on this lab (state.json), else 3. */
  timing(): Timing {
    if (this.options.timing) return this.options.timing;
    const measured = readLabState(this.paths.state).timing;
    return { scale: measured?.scale ?? DEFAULT_SCALE };
  }

  /** The state file as it is now (statuses and last checks). */
  state(): LabStateFile {
    return readLabState(this.paths.state);
  }

  /** Where the lab's artifacts come from (the drills' upgrade exercise asks it for another release). */
  get artifactSource(): ArtifactSource {
    return this.options.artifacts;
  }

  /** The lab's artifacts as they are on disk now (nothing is downloaded or built). */
  artifactSet(): ArtifactSet {
    return this.options.artifacts.current();
  }

  get kubeBinaries(): boolean {
    return this.options.artifacts.kubeBinariesAvailable();
  }

  /**
   * One click: every selected step in order, each checked after it runs. Steps the state says
   * are done are verified with their checker first; the run starts at the first one that fails.
   */
  async up(options: UpOptions = {}): Promise<UpResult> {
    const signal = options.signal ?? new AbortController().signal;
    const selected = selectSteps(this.steps, options);
    this.lock.acquire(options.step ? `step ${options.step}` : 'up');
    try {
      const state = readLabState(this.paths.state);
      for (const id of interruptedSteps(state)) {
        this.info(`step ${id} was interrupted by a previous run (crash or kill); it will be checked and run again`);
        state.steps[id] = { ...state.steps[id]!, status: 'failed', error: 'interrupted (the engine stopped while this step was running)' };
      }
      writeLabState(this.paths.state, state);

      // The PKI and the rendered files first: the checkers compare the nodes with the lab's files,
      // so a spec or template changed since the last run makes its step's checker fail (and run).
      if (selected.length > 0) await this.prepare(signal);
      let startIndex = 0;
      const verified: CheckResult[] = [];
      if (options.step === undefined) {
        const resume = await findResumePoint(
          selected.map((s) => s.id),
          state,
          (id) => this.checkStep(this.stepById(id), signal),
        );
        startIndex = resume.index;
        verified.push(...resume.checks);
        if (startIndex > 0) this.info(`steps ${selected.slice(0, startIndex).map((s) => s.id).join(', ')} already pass their checks`);
      }
      const toRun = selected.slice(startIndex);
      if (toRun.some((s) => s.id !== 'preflight' && s.id !== 'compute')) this.startArtifacts(signal);

      const checks = new Map<string, CheckResult>(verified.filter((c) => c.ok).map((c) => [c.step, c]));
      for (const step of toRun) {
        const { state: stepState, check } = await this.execute(step, signal);
        if (check) checks.set(step.id, check);
        if (stepState.status === 'failed') {
          return { ok: false, resumedAt: toRun[0]?.id, states: this.statesOf(selected), checks: [...checks.values()], failedStep: step.id };
        }
      }

      let finalChecks = [...checks.values()];
      if (options.finalCheck ?? true) finalChecks = await this.checkAll(selected, signal);
      const ok = finalChecks.every((c) => c.ok || c.skipped !== undefined);
      return { ok, resumedAt: toRun[0]?.id, states: this.statesOf(selected), checks: finalChecks };
    } finally {
      await this.stopBackgroundArtifacts();
      this.lock.release();
    }
  }

  /**
   * Starts choosing, downloading or building the artifacts while the first steps (VMs,
   * certificates) run; the first step that needs a binary waits for it. Idempotent.
   */
  private startArtifacts(signal: AbortSignal): Promise<SourceChoice> {
    if (!this.artifactsReady) {
      const abort = new AbortController();
      const onAbort = () => abort.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const entry = { promise: this.prepareArtifacts(abort.signal), abort, settled: false };
      entry.promise.then(
        () => (entry.settled = true),
        () => {
          // Failed: the next `up` (or the next step asking) tries again.
          entry.settled = true;
          if (this.artifactsReady === entry) this.artifactsReady = undefined;
        },
      ).finally(() => signal.removeEventListener('abort', onAbort));
      this.artifactsReady = entry;
    }
    return this.artifactsReady.promise;
  }

  /** `up` is over (failed early, or done): a build still running for it is stopped. */
  private async stopBackgroundArtifacts(): Promise<void> {
    const entry = this.artifactsReady;
    if (!entry || entry.settled) return;
    entry.abort.abort(new Error('up ended before the artifacts were needed'));
    await entry.promise.catch(() => undefined);
    this.artifactsReady = undefined;
  }

  /** Runs exactly one step (and its check), whatever the state says: the guided mode. */
  async runStep(id: string, options: { signal?: AbortSignal } = {}): Promise<{ state: StepState; check?: CheckResult }> {
    const step = this.steps[stepIndex(this.steps, id)]!;
    this.lock.acquire(`step ${step.id}`);
    try {
      const signal = options.signal ?? new AbortController().signal;
      await this.prepare(signal);
      return await this.execute(step, signal);
    } finally {
      this.lock.release();
    }
  }

  /** Runs the checkers (all, or one step's); never changes the lab. */
  async check(id?: string, options: { signal?: AbortSignal } = {}): Promise<CheckResult[]> {
    const signal = options.signal ?? new AbortController().signal;
    const steps = id === undefined ? this.steps : [this.steps[stepIndex(this.steps, id)]!];
    return this.checkAll(steps, signal);
  }

  private async checkAll(steps: readonly StepDefinition[], signal: AbortSignal): Promise<CheckResult[]> {
    const results: CheckResult[] = [];
    for (const step of steps) results.push(await this.checkStep(step, signal));
    return results;
  }

  /** Download or build progress, as progress events (phase download / build). */
  private emitArtifactEvent(e: ArtifactEvent, step?: string): void {
    if (e.kind === 'build') {
      this.emit({ type: 'progress', step, phase: 'build', message: e.line });
      return;
    }
    const p = e.progress;
    this.emit({
      type: 'progress',
      step,
      phase: 'download',
      message: `downloading ${p.fileName} (${p.index}/${p.count}) ${Math.round(p.receivedBytes / 1048576)} MiB${p.totalBytes ? ` of ${Math.round(p.totalBytes / 1048576)} MiB` : ''}`,
      fraction: p.fraction,
    });
  }

  /**
   * The lab's binaries and images, before any step runs: the source is chosen (and the choice
   * said), and whatever is missing is downloaded or built once, instead of midway through `up`.
   */
  async prepareArtifacts(signal?: AbortSignal): Promise<SourceChoice> {
    const artifacts = this.options.artifacts;
    const choice = await artifacts.chosen();
    this.info(`artifacts: ${choice.kind} — ${choice.reason}`);
    if (artifacts.kind === 'managed') {
      const started = Date.now();
      await artifacts.ensureAll((e) => this.emitArtifactEvent(e), signal);
      this.info(`artifacts ready in ${artifacts.root} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    }
    return choice;
  }

  /** PKI and rendered files in the lab: both idempotent (existing keys and certificates are kept). */
  private async prepare(signal?: AbortSignal): Promise<void> {
    if (this.prepared) return;
    const pki = await ensurePki(this.plan, this.paths, { algorithm: this.spec.pki.keyAlgorithm });
    if (pki.created.length > 0) this.info(`PKI: created ${pki.created.join(', ')}`);
    await renderLab(this.plan, this.paths);
    this.prepared = true;
  }

  private async execute(step: StepDefinition, signal: AbortSignal): Promise<{ state: StepState; check?: CheckResult }> {
    const started = Date.now();
    const base: StepState = { id: step.id, status: 'running', startedAt: new Date(started).toISOString() };
    this.saveStepState(base);

    if (step.needsKubeBinaries && !this.kubeBinaries) {
      const reason = this.kubeSkipReason();
      this.warn(`SKIPPED step ${step.id}: ${reason}`, step.id);
      const check = this.skippedCheck(step, reason);
      const skipped: StepState = { ...base, status: 'skipped', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, lastCheck: check };
      this.saveStepState(skipped);
      this.emit({ type: 'check', result: check });
      return { state: skipped, check };
    }

    const ctx = this.context(step, signal);
    try {
      ctx.info(`running step ${step.id}: ${step.title}`);
      await step.run(ctx);
    } catch (error) {
      if (signal.aborted) throw this.stopped(base, started, signal, error);
      const message = describeError(error);
      ctx.info(`step failed: ${message}`);
      const failed: StepState = { ...base, status: 'failed', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, error: message };
      this.saveStepState(failed);
      return { state: failed };
    }

    let check: CheckResult;
    try {
      check = await this.checkStep(step, signal);
    } catch (error) {
      if (signal.aborted) throw this.stopped(base, started, signal, error);
      throw error;
    }
    const failing = check.probes.filter((p) => !p.ok);
    const finished: StepState = {
      ...base,
      status: check.ok ? 'done' : 'failed',
      finishedAt: new Date().toISOString(),
      durationMs: Date.now() - started,
      lastCheck: check,
    };
    if (!check.ok) {
      finished.error = `the step ran, but its checker fails:\n${failing.map((p) => `  ${p.node ? `${p.node}: ` : ''}${p.name}: expected ${p.expected}, seen ${p.seen}\n    fix: ${p.hint}`).join('\n')}`;
    }
    this.saveStepState(finished);
    if (check.ok && this.options.afterStepDone && !signal.aborted) {
      try {
        const said = await this.options.afterStepDone(step.id, signal);
        if (said) ctx.info(said);
      } catch (error) {
        this.warn(`step ${step.id} is done, but the snapshot after it failed: ${describeError(error)}`, step.id);
      }
    }
    return { state: finished, check };
  }

  private async checkStep(step: StepDefinition, signal: AbortSignal): Promise<CheckResult> {
    const startedAt = new Date();
    if (step.needsKubeBinaries && !this.kubeBinaries) {
      const result = this.skippedCheck(step, this.kubeSkipReason());
      this.emit({ type: 'check', result });
      return result;
    }
    const ctx = this.context(step, signal, { checking: true });
    let probes: Probe[];
    try {
      probes = await step.check(ctx);
    } catch (error) {
      if (signal.aborted) throw error;
      probes = [
        probe({
          name: 'checker ran',
          ok: false,
          expected: 'the checker completes',
          seen: describeError(error),
          hint: error instanceof StepError && error.hint ? error.hint : `see ${join(this.paths.logs, step.id)} for the commands it ran`,
        }),
      ];
    }
    const result: CheckResult = { step: step.id, ok: allOk(probes), probes, startedAt: startedAt.toISOString(), durationMs: Date.now() - startedAt.getTime() };
    this.emit({ type: 'check', result });
    const state = readLabState(this.paths.state);
    const previous = state.steps[step.id] ?? { id: step.id, status: 'pending' as const };
    state.steps[step.id] = { ...previous, lastCheck: result };
    writeLabState(this.paths.state, state);
    return result;
  }

  private skippedCheck(step: StepDefinition, reason: string): CheckResult {
    return { step: step.id, ok: false, probes: [], startedAt: new Date().toISOString(), durationMs: 0, skipped: reason };
  }

  private kubeSkipReason(): string {
    return (
      `needs the Kubernetes server binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy), ` +
      `which are not in ${this.options.artifacts.root}/bin; add them there, or run without --artifacts to download them`
    );
  }

  /** `checking`: a checker's context, whose artifacts() only looks (a check never downloads or builds). */
  private context(step: StepDefinition, signal: AbortSignal, mode: { checking?: boolean } = {}): StepContext {
    const log = new StepLog(this.paths.logs, step.id, (event) => this.emit(event));
    const sessions = new Map<string, NodeSession>();
    const session = (node: string | PlannedNode): NodeSession => {
      const planned = typeof node === 'string' ? this.nodeByName(node) : node;
      let s = sessions.get(planned.name);
      if (!s) {
        s = new NodeSession(planned, this.options.executor, log, signal);
        sessions.set(planned.name, s);
      }
      return s;
    };
    const stepId = step.id;
    const engine = this;
    const emit = (event: LabEvent) => this.emit(event);
    const artifacts = this.options.artifacts;
    return {
      stepId,
      plan: this.plan,
      spec: this.spec,
      paths: this.paths,
      provider: this.options.provider,
      nodes: this.nodesOf(step),
      session,
      host: new HostSession(log, signal),
      artifacts: async (components: readonly Component[] = []) => {
        if (mode.checking) return artifacts.current();
        await this.startArtifacts(signal);
        return artifacts.ensure(components, (e) => this.emitArtifactEvent(e, stepId), signal);
      },
      loadBalancerDebs: () => artifacts.ensureLoadBalancerDebs((line) => log.line(undefined, 'info', line)),
      kubeBinaries: this.kubeBinaries,
      get timing() {
        return engine.timing();
      },
      recordTiming: (measured) => {
        const state = readLabState(this.paths.state);
        state.timing = measured;
        writeLabState(this.paths.state, state);
        this.info(`guest speed: the bash loop took ${measured.guestSeconds} s on ${measured.slowestNode} and ${measured.hostSeconds} s here: waits are scaled by ${measured.scale}`);
      },
      signal,
      info: (message, node) => log.line(node, 'info', message),
      warn: (message, node) => {
        log.line(node, 'info', `WARNING: ${message}`, false);
        emit({ type: 'progress', step: stepId, node, phase: 'warning', message });
      },
      progress: (message, fraction, node) => emit({ type: 'progress', step: stepId, node, phase: 'step', message, fraction }),
      forEachNode: async <T>(nodes: readonly PlannedNode[], work: (s: NodeSession) => Promise<T>): Promise<T[]> => {
        let done = 0;
        const settled = await Promise.allSettled(
          nodes.map(async (node) => {
            emit({ type: 'progress', step: stepId, node: node.name, phase: 'node', message: `${node.name}: working`, fraction: done / nodes.length });
            try {
              try {
                return await work(session(node));
              } catch (error) {
                // Every step is idempotent, so a node's part that lost its SSH connection midway
                // (a busy, software-emulated host can miss keepalives) is simply done again, once.
                if (signal.aborted || !connectionLost(error)) throw error;
                const message = `${node.name}: the SSH connection dropped during this step (${(error as Error).message.split('\n')[0]}); doing this node's part again (steps are idempotent)`;
                log.line(node.name, 'info', `WARNING: ${message}`, false);
                emit({ type: 'progress', step: stepId, node: node.name, phase: 'warning', message });
                // On a new connection: the old one may look alive and still be dead.
                this.options.executor.close?.(node.name);
                return await work(session(node));
              }
            } finally {
              done++;
              emit({ type: 'progress', step: stepId, node: node.name, phase: 'node', message: `${node.name}: finished`, fraction: done / nodes.length });
            }
          }),
        );
        if (signal.aborted) throw signal.reason;
        const failures = settled
          .map((r, i) => ({ r, node: nodes[i]! }))
          .filter((x): x is { r: PromiseRejectedResult; node: PlannedNode } => x.r.status === 'rejected');
        if (failures.length === 1) throw failures[0]!.r.reason;
        if (failures.length > 1) {
          throw new StepError(
            `${failures.length} nodes failed:\n${failures.map((f) => `--- ${f.node.name}\n${describeError(f.r.reason)}`).join('\n')}`,
          );
        }
        return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
      },
    };
  }

  private nodesOf(step: StepDefinition): PlannedNode[] {
    return this.plan.nodes.filter((n) => step.roles.includes(n.role));
  }

  private nodeByName(name: string): PlannedNode {
    const node = this.plan.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no node named ${name} in the plan`);
    return node;
  }

  private stepById(id: string): StepDefinition {
    return this.steps[stepIndex(this.steps, id)]!;
  }

  private statesOf(steps: readonly StepDefinition[]): StepState[] {
    const state = readLabState(this.paths.state);
    return steps.map((s) => state.steps[s.id] ?? { id: s.id, status: 'pending' });
  }

  /** A step cancelled (Ctrl-C, the app's Cancel) is not done: saved as failed, so `up` resumes there. */
  private stopped(base: StepState, started: number, signal: AbortSignal, error: unknown): unknown {
    const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'cancelled');
    this.info(`step ${base.id} stopped: ${why}`);
    this.saveStepState({ ...base, status: 'failed', finishedAt: new Date().toISOString(), durationMs: Date.now() - started, error: `stopped: ${why}; \`hardway-lab up\` (or Create cluster) runs it again` });
    return error;
  }

  private saveStepState(stepState: StepState): void {
    const state = readLabState(this.paths.state);
    const previous = state.steps[stepState.id];
    state.steps[stepState.id] = { ...stepState, lastCheck: stepState.lastCheck ?? previous?.lastCheck };
    writeLabState(this.paths.state, state);
    this.emit({ type: 'step', state: state.steps[stepState.id]! });
  }

  private info(message: string): void {
    this.emit({ type: 'log', stream: 'info', line: message });
  }

  private warn(message: string, step?: string): void {
    this.emit({ type: 'progress', step, phase: 'warning', message });
  }

  private emit(event: LabEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken listener (a closed UI) must not stop the engine.
      }
    }
  }
}

export { HOST };

/** A command cut off by a dropped SSH connection (SshCommandInterruptedError from the SSH layer). */
export function connectionLost(error: unknown): boolean {
  const e = error as { name?: unknown; reason?: unknown } | undefined;
  return e?.name === 'SshCommandInterruptedError' && e.reason === 'connection-lost';
}
