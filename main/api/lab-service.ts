// The server side of the API contract: an adapter from the contract's calls to the lab engine
// (spec and plan, provider, SSH pool, step engine). Both faces use it: the Electron main process
// and the browser-mode server. Secrets (the lab's SSH key, the CA key, the encryption key) are
// used here and never returned: results are built from the plan and from engine state only.

import { existsSync } from 'node:fs';
import type {
  ActiveDrill,
  ApiEvent,
  DrillChecked,
  DrillHint,
  DrillListing,
  DrillOverview,
  DrillReveal,
  DrillStarted,
  DrillStartOptions,
  DrillStopped,
  ApiMethod,
  ApiParams,
  ApiResult,
  Availability,
  CheckResult,
  LabApi,
  LabStatus,
  LabSummary,
  NodeSummary,
  KubeconfigMerge,
  OperationState,
  SnapshotInfo,
  StepInfo,
  StepState,
} from '../shared/api-contract.ts';
import { ApiError, notAvailable } from '../shared/api-contract.ts';
import { describeError } from '../shared/lab-error.ts';
import type { ApiBackend } from './api-connection.ts';
import { collectLabStatus } from './lab-status.ts';
import { TerminalSessions, type OpenShell, type TerminalSessionsOptions } from './terminal-sessions.ts';
import { loadLabContext, type LabContext } from '../cli/lab-context.ts';
import type { PlannedNode } from '../plan/address-plan.ts';
import type { Provider, SshEndpoint } from '../providers/provider.ts';
import type { HostKeyPins, SshPool } from '../ssh/ssh-pool.ts';
import { formatIssue } from '../spec/parse-spec.ts';
import type { LabEngine } from '../engine/lab-engine.ts';
import { destroyLab } from '../lab/destroy-lab.ts';
import { startLab, stopLab } from '../lab/lab-lifecycle.ts';
import { listSnapshots, rewindLab } from '../lab/lab-snapshots.ts';
import { KubeconfigError, mergeLabKubeconfig } from '../lab/kubeconfig-merge.ts';
import { adminKubeconfigPath } from '../steps/host-kubectl.ts';
import { readLabState } from '../engine/lab-state.ts';
import { openPartialLabRuntime, reopenedEngine, type PartialLabRuntime } from '../lab/lab-runtime.ts';
import { LESSONS } from '../drills/catalog.ts';
import { text, type Lesson } from '../drills/drill-types.ts';
import {
  activeLesson,
  applyReference,
  checkLesson,
  currentStageIndex,
  envOf,
  listLessons,
  nextHint,
  readProgress,
  revealLesson,
  startLesson,
  stopLesson,
  unavailableReason,
  type ActiveLesson,
  type DrillParts,
} from '../drills/drill-runner.ts';

export interface LabServiceOptions {
  lab?: string;
  spec?: string;
  env?: NodeJS.ProcessEnv;
  /** A local artifacts directory (as `--artifacts DIR`); default $HARDWAY_ARTIFACTS_DIR, else downloads. */
  artifactsDir?: string;
  /**
   * Where each node's SSH server is. Default: the provider's endpoint. Tests point every node at a
   * real sshd on 127.0.0.1 to exercise the terminals without VMs.
   */
  sshEndpoint?: (node: string) => SshEndpoint;
  /** A shell opener to use instead of the lab's SSH pool (the bench uses this with its own pool). */
  openShell?: OpenShell;
  terminalOptions?: TerminalSessionsOptions;
  /** How long a status sweep is reused by other callers (default 3 s). */
  statusTtlMs?: number;
}

type ServiceCalls = Omit<LabApi, 'terminalAck'>;

/** The engine parts, made on first use (they create the lab's SSH key if it has none). */
interface Runtime {
  pool: SshPool;
  hostKeys: HostKeyPins;
  provider?: Provider;
  providerError?: string;
  engine?: LabEngine;
  engineError?: string;
  engineFor: PartialLabRuntime['engineFor'];
}

export class LabService implements ApiBackend {
  /** The lab's spec and plan; read again when a drill changes the spec (the upgrade exercise). */
  context: LabContext;
  readonly terminals: TerminalSessions;
  private readonly options: LabServiceOptions;
  private readonly listeners = new Set<(event: ApiEvent) => void>();
  private readonly operations = new Map<string, OperationState>();
  private runtimePromise?: Promise<Runtime>;
  private exclusive?: OperationState;
  /** Aborts the exclusive operation (cancelOperation). */
  private exclusiveAbort?: AbortController;
  private status?: { at: number; value: Promise<LabStatus> };
  private operationCounter = 0;
  private readonly calls: ServiceCalls;

  private constructor(context: LabContext, options: LabServiceOptions) {
    this.context = context;
    this.options = options;
    this.terminals = new TerminalSessions(
      options.openShell ??
        (async (node, size) => {
          const runtime = await this.runtime();
          if (!runtime.provider && !options.sshEndpoint) throw notAvailable(`no provider to find node ${node}: ${runtime.providerError}`);
          return runtime.pool.shell(node, size);
        }),
      (event) => this.emit(event),
      options.terminalOptions,
    );
    this.calls = {
      getLab: () => this.getLab(),
      getStatus: () => this.getStatus(),
      listSteps: async () => (await this.engine('the walkthrough')).listSteps(),
      getStepStates: () => this.getStepStates(),
      listOperations: async () => [...this.operations.values()],
      runStep: (id) => this.runStep(id),
      checkStep: (id) => this.checkStep(id),
      up: () => this.up(),
      destroy: () => this.destroy(),
      stop: () => this.stop(),
      start: () => this.start(),
      cancelOperation: async (id) => this.cancelOperation(id),
      listSnapshots: () => this.listSnapshots(),
      mergeKubeconfig: async (mode) => this.mergeKubeconfig(mode),
      rewind: (id) => this.rewind(id),
      openTerminal: (node, cols, rows) => {
        this.nodeOf(node);
        return this.terminals.open(node, cols, rows);
      },
      listTerminals: async () => this.terminals.list(),
      attachTerminal: async (id) => this.terminals.attach(id),
      terminalInput: async (id, data) => this.terminals.input(id, data),
      terminalResize: async (id, cols, rows) => this.terminals.resize(id, cols, rows),
      closeTerminal: async (id) => this.terminals.close(id),
      listDrills: async () => this.listDrills(),
      startDrill: (id, options) => this.startDrill(id, options),
      checkDrill: () => this.checkDrill(),
      drillHint: async () => this.drillHint(),
      revealDrill: async () => this.revealDrill(),
      applyDrillReference: () => this.applyDrillReference(),
      stopDrill: () => this.stopDrill(),
    };
  }

  static async create(options: LabServiceOptions = {}): Promise<LabService> {
    const context = loadLabContext({ lab: options.lab, spec: options.spec, env: options.env });
    return new LabService(context, options);
  }

  call<M extends Exclude<ApiMethod, 'terminalAck'>>(method: M, params: ApiParams<M>): Promise<ApiResult<M>> {
    const fn = this.calls[method] as (...args: unknown[]) => Promise<ApiResult<M>>;
    return fn(...params);
  }

  onEvent(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  holdTerminal(terminalId: string, consumer: string): void {
    this.terminals.hold(terminalId, consumer);
  }

  releaseTerminal(terminalId: string, consumer: string): void {
    this.terminals.release(terminalId, consumer);
  }

  releaseConsumer(consumer: string): void {
    this.terminals.releaseConsumer(consumer);
  }

  async dispose(): Promise<void> {
    this.terminals.closeAll();
    const runtime = await this.runtimePromise?.catch(() => undefined);
    runtime?.pool.close();
    this.listeners.clear();
  }

  private emit(event: ApiEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One broken client must not stop the others (or the engine).
      }
    }
  }

  // ---- the lab -------------------------------------------------------------------------------

  private async getLab(): Promise<LabSummary> {
    const { plan, paths, spec, specSource, warnings } = this.context;
    const runtime = await this.runtime().catch((error: unknown) => error as Error);
    const failed = runtime instanceof Error ? runtime.message : undefined;
    const availability = (error: string | undefined): Availability => (error ? { available: false, reason: error } : { available: true });
    return {
      name: plan.labName,
      preset: plan.preset,
      provider: plan.provider,
      labDir: paths.root,
      specSource,
      network: {
        nodeSubnet: plan.network.nodeSubnet,
        gateway: plan.network.gateway,
        podCidr: plan.network.podCidr,
        serviceCidr: plan.network.serviceCidr,
        apiServiceIp: plan.network.apiServiceIp,
        dnsServiceIp: plan.network.dnsServiceIp,
        clusterDomain: plan.network.clusterDomain,
      },
      apiEndpoint: { ...plan.apiEndpoint },
      nodes: plan.nodes.map(nodeSummary),
      versions: { ...spec.versions },
      rendered: existsSync(paths.nodes),
      adminKubeconfig: existsSync(adminKubeconfigPath(paths)) ? adminKubeconfigPath(paths) : undefined,
      capabilities: {
        engine: availability(failed ?? (runtime instanceof Error ? undefined : runtime.engineError)),
        provider: availability(failed ?? (runtime instanceof Error ? undefined : runtime.providerError)),
        terminals: availability(
          failed ?? (runtime instanceof Error || this.options.sshEndpoint || this.options.openShell ? undefined : runtime.providerError),
        ),
      },
      warnings: warnings.map((w) => formatIssue(w)),
    };
  }

  private runtime(): Promise<Runtime> {
    this.runtimePromise ??= this.openRuntime();
    this.runtimePromise.catch(() => {
      this.runtimePromise = undefined;
    });
    return this.runtimePromise;
  }

  private async openRuntime(): Promise<Runtime> {
    const parts = await openPartialLabRuntime(this.context, { sshEndpoint: this.options.sshEndpoint });
    const runtime: Runtime = {
      pool: parts.pool,
      hostKeys: parts.hostKeys,
      provider: parts.provider,
      providerError: parts.providerFailure ? firstLines(parts.providerFailure) : undefined,
      engineFor: parts.engineFor,
    };
    try {
      runtime.engine = parts.engine({ artifactsDir: this.options.artifactsDir, env: this.options.env });
      this.watchEngine(runtime.engine);
    } catch (error) {
      runtime.engineError = firstLines(error);
    }
    return runtime;
  }

  private async engine(purpose: string): Promise<LabEngine> {
    const runtime = await this.runtime();
    if (!runtime.engine) throw notAvailable(`${purpose} needs the step engine, which could not start: ${runtime.engineError}`);
    return runtime.engine;
  }

  // ---- steps ---------------------------------------------------------------------------------

  private async getStepStates(): Promise<StepState[]> {
    const engine = await this.engine('step progress');
    const saved = engine.state().steps;
    return engine.steps.map((step) => saved[step.id] ?? { id: step.id, status: 'pending' });
  }

  private async runStep(id: string): Promise<StepState> {
    const engine = await this.engine('running a step');
    const step = this.stepInfo(engine, id);
    return this.withOperation('run-step', `Step ${step.index}: ${step.title}`, async (_operation, signal) => (await engine.runStep(id, { signal })).state);
  }

  private async checkStep(id: string): Promise<CheckResult> {
    const engine = await this.engine('checking a step');
    this.stepInfo(engine, id);
    const [result] = await engine.check(id);
    if (!result) throw new ApiError(`the engine returned no check result for step ${id}`, { code: 'internal' });
    this.status = undefined;
    return result;
  }

  private async up(): Promise<StepState[]> {
    const engine = await this.engine('creating the cluster');
    return this.withOperation('up', 'Creating the cluster', async (operation, signal) => {
      const result = await engine.up({ signal });
      if (!result.ok) {
        const failed = result.failedStep ? result.states.find((s) => s.id === result.failedStep) : undefined;
        operation.error = failed?.error ?? 'some checks did not pass; see the walkthrough for each probe';
      }
      return result.states;
    });
  }

  /** The runtime and its provider, or a not-available error saying why there is none. */
  private async requireProvider(purpose: string): Promise<{ runtime: Runtime; provider: Provider }> {
    const runtime = await this.runtime();
    if (!runtime.provider) throw notAvailable(`${purpose} needs the provider: ${runtime.providerError}`);
    return { runtime, provider: runtime.provider };
  }

  private async destroy(): Promise<void> {
    const { runtime, provider } = await this.requireProvider('destroying');
    await this.withOperation('destroy', 'Destroying the cluster', async () => {
      this.terminals.closeAll();
      // Under the lab lock; forgets the host keys and empties state.json (no step is done any more).
      await destroyLab({ provider, pool: runtime.pool, hostKeys: runtime.hostKeys, paths: this.context.paths });
      this.status = undefined;
    });
  }

  private async stop(): Promise<void> {
    const { runtime, provider } = await this.requireProvider('stopping');
    await this.withOperation('stop', 'Stopping the cluster', async (operation, signal) => {
      this.terminals.closeAll();
      await stopLab({ plan: this.context.plan, paths: this.context.paths, provider, pool: runtime.pool }, { signal, onProgress: (message, fraction) => this.progress(operation, message, fraction) });
      this.status = undefined;
    });
  }

  private async start(): Promise<CheckResult[]> {
    const { runtime, provider } = await this.requireProvider('starting');
    const engine = await this.engine('starting the cluster');
    return this.withOperation('start', 'Starting the cluster', async (operation, signal) => {
      const report = await startLab({ plan: this.context.plan, paths: this.context.paths, provider, pool: runtime.pool, engine }, { signal, onProgress: (message, fraction) => this.progress(operation, message, fraction) });
      if (!report.ok) operation.error = `started, but ${report.checks.filter((c) => !c.ok).map((c) => c.step).join(', ')} no longer pass their checkers; Create cluster repairs them`;
      this.status = undefined;
      return report.checks;
    });
  }

  private mergeKubeconfig(mode: string): KubeconfigMerge {
    if (mode !== 'merge' && mode !== 'use') throw new ApiError(`mergeKubeconfig: mode must be "merge" or "use", not "${mode}"`, { code: 'bad-request' });
    try {
      const merged = mergeLabKubeconfig(adminKubeconfigPath(this.context.paths), this.context.plan.labName, { use: mode === 'use' }, this.options.env ?? process.env);
      return { file: merged.target, context: merged.name, outcome: merged.outcome, currentContext: merged.currentContext };
    } catch (error) {
      if (error instanceof KubeconfigError) throw new ApiError(error.message, { code: 'not-available', hint: error.hint });
      throw error;
    }
  }

  private async listSnapshots(): Promise<SnapshotInfo[]> {
    const { provider } = await this.requireProvider('listing snapshots');
    return (await listSnapshots({ paths: this.context.paths, provider })).map(({ name, createdAt, afterStep, auto, live, missingOn }) => ({ name, createdAt, afterStep, auto, live, missingOn }));
  }

  private async rewind(stepId: string): Promise<CheckResult[]> {
    const { runtime, provider } = await this.requireProvider('rewinding');
    const engine = await this.engine('rewinding the cluster');
    const step = this.stepInfo(engine, stepId);
    return this.withOperation('rewind', `Rewinding to step ${step.index}: ${step.title}`, async (operation, signal) => {
      this.terminals.closeAll();
      const parts = { plan: this.context.plan, paths: this.context.paths, provider, pool: runtime.pool, engine, stepIds: engine.steps.map((s) => s.id) };
      const report = await rewindLab(parts, stepId, { signal, onProgress: (message, fraction) => this.progress(operation, message, fraction) });
      if (!report.ok) operation.error = `rewound, but ${report.checks.filter((c) => !c.ok).map((c) => c.step).join(', ')} do not pass their checkers; Create cluster repairs them`;
      this.status = undefined;
      for (const id of engine.steps.map((s) => s.id)) this.onStepEvent(engine.state().steps[id] ?? { id, status: 'pending' });
      return report.checks;
    });
  }

  // ---- drills and exercises (main/drills/drill-runner.ts does the work, under the lab lock) -----

  /** A lesson's text resolved for this lab; a record that cannot be read on this lab says why instead of failing the call. */
  private lessonText(lesson: Lesson, value: Lesson['story'], vars: Record<string, string> = {}): string {
    try {
      return text(value, envOf(this.context, vars));
    } catch (error) {
      return `(this text cannot be shown on this lab: ${firstLines(error, 2)})`;
    }
  }

  private listDrills(): DrillOverview {
    const progress = readProgress(this.context.paths);
    const listed = new Map(listLessons(this.context).map((l) => [l.id, l]));
    const lessons = LESSONS.map((lesson): DrillListing => {
      const l = listed.get(lesson.id)!;
      const vars = progress.active?.id === lesson.id ? progress.active.vars : {};
      return {
        id: l.id,
        kind: l.kind,
        title: l.title,
        teaches: l.teaches,
        story: this.lessonText(lesson, lesson.story, vars),
        ...(l.unavailable ? { unavailable: l.unavailable } : {}),
        active: l.active,
        solvedBefore: l.solvedBefore,
        hintCount: lesson.hints.length,
        ...(lesson.kind === 'exercise' ? { stages: lesson.stages.map((s) => s.title) } : {}),
      };
    });
    const active = progress.active ? this.activeDrill(progress.active) : undefined;
    return active ? { lessons, active, history: progress.history } : { lessons, history: progress.history };
  }

  private activeDrill(active: ActiveLesson): ActiveDrill | undefined {
    const lesson = LESSONS.find((l) => l.id === active.id);
    if (!lesson) return undefined;
    const shown = Math.min(active.hints, lesson.hints.length);
    const drill: ActiveDrill = {
      id: active.id,
      kind: active.kind,
      title: lesson.title,
      startedAt: active.startedAt,
      story: this.lessonText(lesson, lesson.story, active.vars),
      hintsShown: shown,
      hintCount: lesson.hints.length,
      hintTexts: lesson.hints.slice(0, shown).map((h) => this.lessonText(lesson, h, active.vars)),
      revealed: active.revealed,
      stagesPassed: active.stagesPassed.map(({ title, at }) => ({ title, at })),
    };
    if (active.snapshot) drill.snapshot = active.snapshot;
    if (active.solvedAt) drill.solvedAt = active.solvedAt;
    if (lesson.kind === 'exercise') {
      const index = currentStageIndex(active, lesson);
      const stage = lesson.stages[index]!;
      drill.stage = { number: index + 1, of: lesson.stages.length, title: stage.title, task: this.lessonText(lesson, stage.task, active.vars) };
    }
    return drill;
  }

  /** What the runner needs: the plan, the SSH pool, the engine and (for snapshots) the provider. */
  private async drillParts(purpose: string): Promise<DrillParts> {
    const runtime = await this.runtime();
    const engine = await this.engine(purpose);
    return {
      plan: this.context.plan,
      spec: this.context.spec,
      paths: this.context.paths,
      provider: runtime.provider,
      pool: runtime.pool,
      engine,
      reopen: async () => {
        await this.reloadSpec();
        return this.drillParts(purpose);
      },
    };
  }

  /** The lab's spec file read again, and a new engine for it over the same VMs, SSH pool and terminals. */
  private async reloadSpec(): Promise<void> {
    const before = this.context;
    this.context = loadLabContext({ lab: before.paths.root, env: this.options.env });
    const runtime = await this.runtime();
    const options = { artifactsDir: this.options.artifactsDir, env: this.options.env };
    const engine = runtime.engine ? reopenedEngine(runtime, { engine: runtime.engine, spec: before.spec }, this.context, options) : runtime.engineFor(this.context, options);
    this.watchEngine(engine);
    runtime.engine = engine;
    this.status = undefined;
  }

  private watchEngine(engine: LabEngine): void {
    engine.onEvent((event) => {
      this.emit({ kind: 'lab', event });
      if (event.type === 'step') this.onStepEvent(event.state);
    });
  }

  /** Hints and reveal write the progress file: one writer at a time, so none waits on a running drill operation. */
  private refuseDuringDrillOperation(what: string): void {
    const running = this.exclusive;
    if (running?.kind.startsWith('drill-')) {
      throw new ApiError(`${running.label} is still running`, { code: 'busy', hint: `wait for it to finish, then ask for ${what} again.` });
    }
  }

  private async startDrill(id: string, options: DrillStartOptions): Promise<DrillStarted> {
    const lesson = LESSONS.find((l) => l.id === id);
    if (!lesson) throw new ApiError(`there is no drill or exercise "${id}"`, { code: 'not-found', hint: `use one of: ${LESSONS.map((l) => l.id).join(', ')}` });
    // Refused before anything opens: the same words as the runner's own refusal.
    const reason = unavailableReason(lesson, this.context);
    if (reason) throw new ApiError(`${lesson.kind} ${lesson.id} cannot start on this lab: it ${reason}`, { code: 'not-available' });
    const parts = await this.drillParts(`starting the ${lesson.kind} ${lesson.id}`);
    return this.withOperation(
      'drill-start',
      `Starting the ${lesson.kind} “${lesson.title}”`,
      async (operation, signal) => {
        // Checked: a snapshot where the provider can take one, else stop undoes the fault (as the CLI does).
        const started = await startLesson(parts, id, { snapshot: options.snapshot ? undefined : false, signal, onProgress: (message) => this.progress(operation, message) });
        return {
          id: started.lesson.id,
          kind: started.lesson.kind,
          title: started.lesson.title,
          story: started.story,
          ...(started.task !== undefined ? { task: started.task } : {}),
          ...(started.snapshot ? { snapshot: started.snapshot } : {}),
          ...(started.noSnapshot ? { noSnapshot: started.noSnapshot } : {}),
          symptoms: started.symptoms,
        };
      },
      { cancelled: `what was done stays; once the ${lesson.kind} is listed as running, Stop puts the lab back` },
    );
  }

  private async checkDrill(): Promise<DrillChecked> {
    const { active, lesson } = activeLesson(this.context.paths);
    const parts = await this.drillParts(`checking the ${active.kind} ${active.id}`);
    return this.withOperation(
      'drill-check',
      `Checking the ${lesson.kind} “${lesson.title}”`,
      async (operation, signal) => {
        const { lesson: judged, ...checked } = await checkLesson(parts, { signal, onProgress: (message) => this.progress(operation, message) });
        return { id: judged.id, kind: judged.kind, ...checked };
      },
      { cancelled: 'nothing on the lab was changed; Check again judges it' },
    );
  }

  private drillHint(): DrillHint {
    this.refuseDuringDrillOperation('the hint');
    const hint = nextHint(this.context);
    return { level: hint.level, of: hint.of, text: hint.hint };
  }

  private revealDrill(): DrillReveal {
    this.refuseDuringDrillOperation('the fix');
    const shown = revealLesson(this.context);
    return { groups: shown.commands.map((g) => ({ title: g.title, commands: g.commands.map(({ node, command, why }) => (why ? { node, command, why } : { node, command })) })) };
  }

  private async applyDrillReference(): Promise<void> {
    const { active, lesson } = activeLesson(this.context.paths);
    const parts = await this.drillParts(`applying the reference of the ${active.kind} ${active.id}`);
    const what = lesson.kind === 'drill' ? 'the reference fix' : 'the reference steps of this stage';
    await this.withOperation(
      'drill-reference',
      `Applying ${what} of “${lesson.title}”`,
      async (operation, signal) => {
        await applyReference(parts, { signal, onProgress: (message) => this.progress(operation, message) });
      },
      { cancelled: `what was applied stays; Check judges the lab as it is, Stop puts it back` },
    );
  }

  private async stopDrill(): Promise<DrillStopped> {
    const { active, lesson } = activeLesson(this.context.paths);
    const parts = await this.drillParts(`stopping the ${active.kind} ${active.id}`);
    return this.withOperation(
      'drill-stop',
      `Stopping the ${lesson.kind} “${lesson.title}”`,
      async (operation, signal) => {
        const stopped = await stopLesson(parts, { signal, onProgress: (message) => this.progress(operation, message) });
        const restore = stopped.restore ? { ok: stopped.restore.ok, seconds: stopped.restore.seconds, failing: stopped.restore.checks.filter((c) => !c.ok).map((c) => c.step) } : undefined;
        if (restore && !restore.ok) operation.error = `the lab is back at the snapshot, but ${restore.failing.join(', ')} do not pass their checkers; Create cluster repairs them`;
        return { id: stopped.lesson.id, kind: stopped.lesson.kind, outcome: stopped.outcome, seconds: stopped.seconds, how: stopped.how, ...(restore ? { restore } : {}) };
      },
      { cancelled: `the ${lesson.kind} is still running and the lab may be half way back; Stop again finishes it` },
    );
  }

  private progress(operation: OperationState, message: string, fraction?: number): void {
    operation.message = message;
    if (fraction !== undefined) operation.fraction = fraction;
    this.publish(operation);
  }

  private stepInfo(engine: LabEngine, id: string): StepInfo {
    const step = engine.listSteps().find((s) => s.id === id);
    if (!step) {
      throw new ApiError(`no step "${id}"`, { code: 'not-found', hint: `steps: ${engine.steps.map((s) => s.id).join(', ')}` });
    }
    return step;
  }

  /** One changing operation at a time (up, a step, destroy); checks and status run alongside. */
  private async withOperation<T>(
    kind: OperationState['kind'],
    label: string,
    work: (operation: OperationState, signal: AbortSignal) => Promise<T>,
    /** What a cancelled one leaves behind, in words (default: up's "resumes from there"). */
    words: { cancelled?: string } = {},
  ): Promise<T> {
    if (this.exclusive) {
      throw new ApiError(`${this.exclusive.label} is still running`, { code: 'busy', hint: 'wait for it to finish (progress is on the dashboard), then try again.' });
    }
    const operation: OperationState = { id: `op-${++this.operationCounter}`, kind, label, status: 'running', startedAt: new Date().toISOString() };
    const abort = new AbortController();
    this.exclusive = operation;
    this.exclusiveAbort = abort;
    this.publish(operation);
    try {
      const result = await work(operation, abort.signal);
      operation.status = abort.signal.aborted ? 'cancelled' : operation.error ? 'failed' : 'done';
      return result;
    } catch (error) {
      if (abort.signal.aborted) {
        operation.status = 'cancelled';
        operation.error = `${(abort.signal.reason as Error).message}; ${words.cancelled ?? 'what was done stays, and Create cluster (or `hardway-lab up`) resumes from there'}`;
      } else {
        operation.status = 'failed';
        operation.error = firstLines(error, 30);
      }
      throw error;
    } finally {
      operation.finishedAt = new Date().toISOString();
      this.exclusive = undefined;
      this.exclusiveAbort = undefined;
      this.status = undefined;
      this.publish(operation);
    }
  }

  /** Stops a running up or step run: the command in flight is killed on its node, the step saved as not done. */
  private cancelOperation(id: string): void {
    const operation = this.exclusive;
    if (!operation || operation.id !== id) {
      const known = this.operations.get(id);
      throw new ApiError(known ? `${known.label} is not running any more (${known.status})` : `no operation ${id}`, { code: 'not-found', hint: 'nothing to cancel.' });
    }
    if (operation.kind === 'destroy') throw new ApiError('destroying cannot be cancelled halfway', { code: 'busy', hint: 'wait for it to finish; `up` makes the cluster again.' });
    operation.message = 'cancelling: stopping the command in flight…';
    this.publish(operation);
    this.exclusiveAbort?.abort(new Error(`cancelled from the app at ${new Date().toISOString().slice(11, 19)}`));
  }

  private onStepEvent(state: StepState): void {
    const operation = this.exclusive;
    if (!operation || operation.kind !== 'up') return;
    void this.engine('progress').then((engine) => {
      const index = engine.steps.findIndex((s) => s.id === state.id);
      const done = state.status === 'running' ? index : index + 1;
      operation.fraction = Math.max(0, Math.min(1, done / engine.steps.length));
      operation.message = `${state.status === 'running' ? 'running' : state.status} step ${index}: ${engine.steps[index]?.title ?? state.id}`;
      this.publish(operation);
    });
  }

  private publish(operation: OperationState): void {
    this.operations.set(operation.id, operation);
    // Keep the last few for a page that opens later.
    for (const id of [...this.operations.keys()].slice(0, -10)) this.operations.delete(id);
    this.emit({ kind: 'operation', operation: { ...operation } });
  }

  // ---- status --------------------------------------------------------------------------------

  private getStatus(): Promise<LabStatus> {
    const ttl = this.options.statusTtlMs ?? 3000;
    if (this.status && Date.now() - this.status.at < ttl) return this.status.value;
    const value = this.sweepStatus();
    this.status = { at: Date.now(), value };
    value.then(
      (status) => this.emit({ kind: 'status', status }),
      () => {
        if (this.status?.value === value) this.status = undefined;
      },
    );
    return value;
  }

  private async sweepStatus(): Promise<LabStatus> {
    const runtime = await this.runtime();
    const { plan, paths } = this.context;
    const lifecycle = readLabState(paths.state).lifecycle;
    const status = await collectLabStatus({
      plan,
      paths,
      provider: runtime.provider,
      providerMissing: runtime.providerError,
      exec: (node, command, options) => runtime.pool.exec(node, command, options),
      components: nodeComponents,
      sshOverride: this.options.sshEndpoint !== undefined,
      kubectl: runtime.engine?.artifactSet().has('kubectl') ? runtime.engine.artifactSet().binaryPath('kubectl') : undefined,
    });
    return lifecycle ? { ...status, lifecycle } : status;
  }

  private nodeOf(name: string): PlannedNode {
    const node = this.context.plan.nodes.find((n) => n.name === name);
    if (!node) {
      throw new ApiError(`no node named "${name}" in lab ${this.context.plan.labName}`, {
        code: 'not-found',
        hint: `nodes: ${this.context.plan.nodes.map((n) => n.name).join(', ')}`,
      });
    }
    return node;
  }
}

/** The units the hard way runs on a node, from the plan's files (so the list never drifts). */
export function nodeComponents(node: PlannedNode): string[] {
  const units = node.files
    .map((f) => /^\/etc\/systemd\/system\/([^/]+)\.service$/.exec(f.path)?.[1])
    .filter((u): u is string => u !== undefined && u !== 'hardway-pod-routes');
  if (node.files.some((f) => f.path === '/etc/haproxy/haproxy.cfg')) units.unshift('haproxy');
  return units;
}

function nodeSummary(node: PlannedNode): NodeSummary {
  return {
    name: node.name,
    role: node.role,
    ip: node.ip,
    mac: node.mac,
    podCidr: node.podCidr,
    cpus: node.cpus,
    memoryMiB: node.memoryMiB,
    diskGiB: node.diskGiB,
    components: nodeComponents(node),
  };
}

function firstLines(error: unknown, count = 12): string {
  return describeError(error).split('\n').slice(0, count).join('\n');
}
