// The one typed API between the lab engine and every UI: a channel map (method → params → result)
// plus one stream of events. The Electron preload and the browser-mode transport both implement
// exactly this; the renderer sees nothing else. Plain data only: everything here crosses IPC,
// HTTP and WebSocket as JSON. No private key, token or secret ever appears in these shapes.

import type { CheckResult, LabEvent, Probe, StepInfo, StepState } from './engine-types.ts';
import { describeError } from './lab-error.ts';

export type { CheckResult, LabEvent, Probe, StepCommand, StepInfo, StepState, StepStatus } from './engine-types.ts';

export type NodeRole = 'lb' | 'controller' | 'worker';

/** A node of the plan as the UI shows it: where it is and what runs on it. */
export interface NodeSummary {
  name: string;
  role: NodeRole;
  ip: string;
  mac: string;
  podCidr?: string;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** The systemd units the hard way puts on this node, in start order. */
  components: string[];
}

export interface LabSummary {
  name: string;
  preset: string;
  provider: string;
  labDir: string;
  /** Where the spec came from: the lab's own hardway-lab.yaml or the embedded default. */
  specSource: string;
  network: {
    nodeSubnet: string;
    gateway: string;
    podCidr: string;
    serviceCidr: string;
    apiServiceIp: string;
    dnsServiceIp: string;
    clusterDomain: string;
  };
  apiEndpoint: { ip: string; port: number; host: string; url: string };
  nodes: NodeSummary[];
  versions: Record<string, string>;
  /** True once `render` (or `up`) has written the node files into the lab. */
  rendered: boolean;
  /** Where the admin kubeconfig is (the path only: its key stays in the main process), once rendered. */
  adminKubeconfig?: string;
  /** What this host can do right now, each with the reason when it cannot. */
  capabilities: {
    engine: Availability;
    provider: Availability;
    terminals: Availability;
  };
  warnings: string[];
}

export interface Availability {
  available: boolean;
  /** Why not, in words a person can act on. */
  reason?: string;
}

/** `unknown` means the engine could not tell (VM down, no SSH, component not installed yet). */
export type Health = 'ok' | 'degraded' | 'down' | 'unknown';

export interface UnitState {
  unit: string;
  /** `systemctl is-active` output: active, inactive, failed, activating... or `unknown`. */
  state: string;
}

export interface NodeRuntime {
  node: string;
  vm: 'absent' | 'stopped' | 'starting' | 'running' | 'failed' | 'unknown';
  vmDetail?: string;
  ssh: 'ok' | 'unreachable' | 'unknown';
  sshDetail?: string;
  /** 1-minute load average, from /proc/loadavg. */
  load1?: number;
  cpus?: number;
  memTotalMiB?: number;
  memAvailableMiB?: number;
  uptimeSeconds?: number;
  units: UnitState[];
}

export interface EtcdMember {
  name: string;
  id: string;
  clientUrl?: string;
  /** From `endpoint status`: true for exactly one member in a healthy cluster. */
  isLeader: boolean;
  healthy: boolean | 'unknown';
}

export interface EtcdStatus {
  health: Health;
  members: EtcdMember[];
  leader?: string;
  detail: string;
}

export interface ApiHealth {
  health: Health;
  /** The URL probed: /readyz through the load balancer (or the single controller without one). */
  url: string;
  detail: string;
}

export interface KubeNodes {
  health: Health;
  nodes: Array<{ name: string; ready: boolean }>;
  detail: string;
}

export interface LabStatus {
  at: string;
  /** Milliseconds the whole status sweep took. */
  tookMs: number;
  nodes: NodeRuntime[];
  etcd: EtcdStatus;
  api: ApiHealth;
  kubeNodes: KubeNodes;
  /** stopped: shut down with Stop (or `hardway-lab stop`), not broken; Start boots it again. */
  lifecycle?: { state: 'stopped' | 'running'; since: string };
}

export interface TerminalInfo {
  id: string;
  node: string;
  cols: number;
  rows: number;
  state: TerminalState;
  reason?: string;
}

export type TerminalState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface KubeconfigMerge {
  /** The file written (or left as it was). */
  file: string;
  context: string;
  outcome: 'added' | 'updated' | 'unchanged';
  currentContext?: string;
}

/** A snapshot of every node of the lab (see lab/lab-snapshots.ts). */
export interface SnapshotInfo {
  name: string;
  createdAt: string;
  /** The last step done when it was taken: rewinding to that step restores it. */
  afterStep?: string;
  auto: boolean;
  live: boolean;
  /** Nodes whose disk lacks it: it cannot be restored. */
  missingOn: string[];
}

/** A long operation (up, destroy, a step run) as the dashboard's progress bar shows it. */
export interface OperationState {
  id: string;
  kind: 'up' | 'destroy' | 'run-step' | 'check' | 'stop' | 'start' | 'rewind' | DrillOperationKind;
  label: string;
  /** cancelled: stopped by cancelOperation; what was done stays, and `up` resumes from there. */
  status: 'running' | 'done' | 'failed' | 'cancelled';
  startedAt: string;
  finishedAt?: string;
  /** 0..1 when known. */
  fraction?: number;
  message?: string;
  error?: string;
}

// ---- drills and exercises (main/drills/): plain data, every text already resolved for this lab ----

export type LessonKind = 'drill' | 'exercise';

/** The long drill calls, as operations: start, check, the reference fix applied, stop. */
export type DrillOperationKind = 'drill-start' | 'drill-check' | 'drill-reference' | 'drill-stop';

/** A drill or an exercise as the Drills view lists it. */
export interface DrillListing {
  id: string;
  kind: LessonKind;
  title: string;
  /** What it teaches. */
  teaches: string;
  /** What the learner reads first: the symptom (drills, never the cause) or the job (exercises). */
  story: string;
  /** Why it cannot start on this lab now (steps not done yet, too few nodes); absent when it can. */
  unavailable?: string;
  /** It is the one running on this lab. */
  active: boolean;
  solvedBefore: boolean;
  /** How many hints it has. */
  hintCount: number;
  /** Exercises: the stages' titles, in order. */
  stages?: string[];
}

/** The drill or exercise running on this lab (kept in <lab>/drills.json: it survives a restart). */
export interface ActiveDrill {
  id: string;
  kind: LessonKind;
  title: string;
  startedAt: string;
  story: string;
  /** How many hints were shown so far, of how many. */
  hintsShown: number;
  hintCount: number;
  /** The hints shown so far, in order (a reloaded page shows them again). */
  hintTexts: string[];
  revealed: boolean;
  /** The snapshot taken at the start (Stop returns the lab to it), when one was. */
  snapshot?: string;
  /** Exercises: the stages passed so far, with when. */
  stagesPassed: { title: string; at: string }[];
  /** Exercises: the stage to do now (the last one once all passed). */
  stage?: { number: number; of: number; title: string; task: string };
  solvedAt?: string;
}

/** A finished drill or exercise, as the runner keeps it in the lab's drills.json. */
/** A drill or exercise that ended: how long it took, with how many hints (the lab's drills.json). */
export interface FinishedDrill {
  id: string;
  kind: LessonKind;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  hints: number;
  revealed: boolean;
  outcome: 'solved' | 'stopped';
}

export interface DrillOverview {
  /** Every drill, then every exercise, in the catalog's order. */
  lessons: DrillListing[];
  active?: ActiveDrill;
  /** Finished ones on this lab, oldest first. */
  history: FinishedDrill[];
}

export interface DrillStartOptions {
  /** Take a snapshot of every node first: Stop returns the lab to it (otherwise Stop undoes the fault). */
  snapshot: boolean;
}

export interface DrillStarted {
  id: string;
  kind: LessonKind;
  title: string;
  story: string;
  /** Exercises: the first stage's task. */
  task?: string;
  /** The snapshot taken first, or why there is none. */
  snapshot?: string;
  noSnapshot?: string;
  /** Drills: their symptoms, judged right after the fault went in. */
  symptoms: Probe[];
}

/** The runner's judgement (main/drills/drill-runner.ts), with the lesson by id. */
/** What a check of the running drill or exercise found (the runner's LessonCheck has the lesson too). */
export interface LessonJudgement {
  solved: boolean;
  /** The steps' checker results (drills, and exercise stages that name steps). */
  steps: CheckResult[];
  /** The lesson's own probes (exercise stages). */
  probes: Probe[];
  /** Exercises: the stage judged, 1-based, and how many there are. */
  stage?: { number: number; of: number; title: string; passed: boolean; next?: string };
  /** Seconds since the start, once solved. */
  seconds?: number;
  hintsUsed: number;
}

export type DrillChecked = LessonJudgement & { id: string; kind: LessonKind };

export interface DrillHint {
  /** 1-based; the last hint again once all were shown. */
  level: number;
  of: number;
  text: string;
}

/** A reference command bound to the node it runs on (`host`: this machine, in the lab directory). */
export interface DrillCommand {
  node: string;
  command: string;
  why?: string;
}

export interface DrillReveal {
  /** Drills: one group, the fix; exercises: one group per stage. */
  groups: { title: string; commands: DrillCommand[] }[];
}

export interface DrillStopped {
  id: string;
  kind: LessonKind;
  outcome: 'solved' | 'stopped';
  seconds: number;
  /** How the lab came back: the start snapshot restored, the fault undone with the fix, or (solved) cleaned up. */
  how: 'cleanup' | 'snapshot' | 'undone';
  /** When the snapshot was restored: whether every step that was done passes again, and how long it took. */
  restore?: { ok: boolean; seconds: number; failing: string[] };
}

/**
 * The channel map: every call's parameters (as a tuple) and result. Adding a call here makes it a
 * type error until the service, the preload and both transports handle it.
 */
export interface ApiChannels {
  getLab: { params: []; result: LabSummary };
  getStatus: { params: []; result: LabStatus };
  listSteps: { params: []; result: StepInfo[] };
  getStepStates: { params: []; result: StepState[] };
  listOperations: { params: []; result: OperationState[] };
  runStep: { params: [stepId: string]; result: StepState };
  checkStep: { params: [stepId: string]; result: CheckResult };
  up: { params: []; result: StepState[] };
  destroy: { params: []; result: void };
  /** Shuts the lab down safely (workers, then the control plane before etcd, the LB last). */
  stop: { params: []; result: void };
  /** Boots a stopped lab and waits until every checker that passed before passes again. */
  start: { params: []; result: CheckResult[] };
  /** Stops a running up or step run after the command in flight (which is killed on the node). */
  cancelOperation: { params: [operationId: string]; result: void };
  listSnapshots: { params: []; result: SnapshotInfo[] };
  /** Adds or updates hardway-<lab> in the user's kubeconfig ($KUBECONFIG or ~/.kube/config); `use` also switches to it. */
  mergeKubeconfig: { params: [mode: 'merge' | 'use']; result: KubeconfigMerge };
  /** Back to the snapshot taken after the step: later steps are not done; waits for the checkers up to it. */
  rewind: { params: [stepId: string]; result: CheckResult[] };
  openTerminal: { params: [node: string, cols: number, rows: number]; result: TerminalInfo };
  listTerminals: { params: []; result: TerminalInfo[] };
  /** The recent output of a terminal (for a reloaded page) and its state. */
  attachTerminal: { params: [terminalId: string]; result: { info: TerminalInfo; scrollback: string } };
  terminalInput: { params: [terminalId: string, data: string]; result: void };
  terminalResize: { params: [terminalId: string, cols: number, rows: number]; result: void };
  /** Flow control: the renderer has drawn this many more bytes (UTF-16 code units) of output. */
  terminalAck: { params: [terminalId: string, chars: number]; result: void };
  closeTerminal: { params: [terminalId: string]; result: void };
  // Drills and exercises ("drill" in these names covers both). One runs at a time on a lab; every
  // change to the lab takes the lab lock. Start, check, applyDrillReference and stopDrill are
  // operations (progress in `operation` events, cancellable with cancelOperation).
  /** Every drill and exercise with whether it can start here, and the one running with its progress. */
  listDrills: { params: []; result: DrillOverview };
  /** Puts the fault in (drills) or prepares the lab (exercises), after a snapshot when asked. */
  startDrill: { params: [id: string, options: DrillStartOptions]; result: DrillStarted };
  /** Judges the running one with the checkers and its probes; never changes the lab. */
  checkDrill: { params: []; result: DrillChecked };
  /** The next hint (one level at a time). */
  drillHint: { params: []; result: DrillHint };
  /** The reference fix (drills) or the reference steps of every stage (exercises), bound to their nodes. */
  revealDrill: { params: []; result: DrillReveal };
  /** Runs the reference fix, or the current stage's reference steps, for the learner. */
  applyDrillReference: { params: []; result: void };
  /** Ends it: back to the start snapshot, or the fault undone (a solved one is cleaned up). */
  stopDrill: { params: []; result: DrillStopped };
}

export type ApiMethod = keyof ApiChannels;
export type ApiParams<M extends ApiMethod> = ApiChannels[M]['params'];
export type ApiResult<M extends ApiMethod> = ApiChannels[M]['result'];

/** The API as functions: what the preload exposes and what both transports implement. */
export type LabApi = { [M in ApiMethod]: (...params: ApiParams<M>) => Promise<ApiResult<M>> };

/** Every method name at runtime, for the preload, the IPC handlers and the server's allow-list. */
export const API_METHODS = [
  'getLab',
  'getStatus',
  'listSteps',
  'getStepStates',
  'listOperations',
  'runStep',
  'checkStep',
  'up',
  'destroy',
  'stop',
  'start',
  'cancelOperation',
  'listSnapshots',
  'mergeKubeconfig',
  'rewind',
  'openTerminal',
  'listTerminals',
  'attachTerminal',
  'terminalInput',
  'terminalResize',
  'terminalAck',
  'closeTerminal',
  'listDrills',
  'startDrill',
  'checkDrill',
  'drillHint',
  'revealDrill',
  'applyDrillReference',
  'stopDrill',
] as const satisfies readonly ApiMethod[];

// Compile-time proof that API_METHODS names every channel exactly: a missing one makes this `never`.
type MissingMethods = Exclude<ApiMethod, (typeof API_METHODS)[number]>;
const allMethodsListed: MissingMethods extends never ? true : never = true;
void allMethodsListed;

export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && (API_METHODS as readonly string[]).includes(name);
}

/** Everything the engine pushes to the UI. */
export type ApiEvent =
  | { kind: 'lab'; event: LabEvent }
  | { kind: 'terminal-output'; id: string; data: string }
  | { kind: 'terminal-state'; id: string; node: string; state: TerminalState; reason?: string }
  | { kind: 'operation'; operation: OperationState }
  | { kind: 'status'; status: LabStatus };

/** A client of the API: the calls plus the event stream. */
export interface LabClient extends LabApi {
  onEvent(listener: (event: ApiEvent) => void): () => void;
}

/** Errors cross every boundary as plain data and are rebuilt as ApiError on the other side. */
export interface SerializedError {
  name: string;
  message: string;
  /** What to do about it, when known. */
  hint?: string;
  /** A machine-readable reason, e.g. `not-available`, `bad-request`, `not-found`. */
  code?: string;
}

export interface ApiReply<T = unknown> {
  error?: SerializedError;
  result?: T;
}

export class ApiError extends Error {
  readonly hint?: string;
  readonly code?: string;

  constructor(message: string, options: { name?: string; hint?: string; code?: string } = {}) {
    super(message);
    this.name = options.name ?? 'ApiError';
    this.hint = options.hint;
    this.code = options.code;
  }

  static from(serialized: SerializedError): ApiError {
    return new ApiError(serialized.message, serialized);
  }
}

/** The error the service throws for a feature whose engine part is missing on this host or build. */
export function notAvailable(why: string, hint?: string): ApiError {
  return new ApiError(`not available: ${why}`, { name: 'NotAvailableError', code: 'not-available', hint });
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const withExtras = error as Error & { hint?: unknown; code?: unknown };
    // A LabError's describe() carries the node, command and last output: the whole story.
    const message = describeError(error);
    return {
      name: error.name,
      message,
      hint: typeof withExtras.hint === 'string' ? withExtras.hint : undefined,
      code: typeof withExtras.code === 'string' ? withExtras.code : undefined,
    };
  }
  return { name: 'Error', message: String(error) };
}
