// What a step is: data (id, title, explanation, target roles, the commands a learner would type)
// plus two programs: `run` (automated and idempotent) and `check` (probes, never changes anything).

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { ClusterSpec, Role } from '../spec/cluster-spec.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { Provider } from '../providers/provider.ts';
import type { ArtifactSet } from '../artifacts/artifact-set.ts';
import type { Component } from '../artifacts/release-catalog.ts';
import type { Probe, StepCommand } from '../shared/engine-types.ts';
import { LabError } from '../shared/lab-error.ts';
import type { NodeSession } from './node-session.ts';
import type { HostSession } from './host-session.ts';
import type { MeasuredTiming } from './guest-speed.ts';

/** The node name StepCommand uses for commands typed on the host (the learner's machine). */
export const HOST = 'host';

/** What the walkthrough needs to print exact commands. */
export interface CommandEnv {
  plan: Plan;
  paths: LabPaths;
  /** The artifacts directory in use, when known. */
  artifactsDir?: string;
}

/** Timeouts scale with the machine: software-emulated (TCG) VMs are several times slower. */
export interface Timing {
  /** Multiply "KVM-fast" waits by this (measured by step compute; 3 until then). */
  scale: number;
}

export interface StepContext {
  readonly stepId: string;
  readonly plan: Plan;
  readonly spec: ClusterSpec;
  readonly paths: LabPaths;
  readonly provider?: Provider;
  /** The plan's nodes of the step's roles. */
  readonly nodes: PlannedNode[];
  /** Commands and files on one node, logged to logs/<step>/<node>.log. */
  session(node: string | PlannedNode): NodeSession;
  /** Commands on the host (kubectl, ip route), logged to logs/<step>/host.log. */
  readonly host: HostSession;
  /** The artifact set; when downloading, the given components are fetched (verified) first. */
  artifacts(components?: readonly Component[]): Promise<ArtifactSet>;
  /** When downloading: haproxy's .deb files into the artifacts (from the host's apt), if possible. */
  loadBalancerDebs(): Promise<void>;
  /** True when the Kubernetes server binaries are available (from the directory or downloads). */
  readonly kubeBinaries: boolean;
  readonly timing: Timing;
  /** Keeps a measured guest speed in the lab's state: later waits (and later runs) scale with it. */
  recordTiming(measured: MeasuredTiming): void;
  readonly signal: AbortSignal;
  info(message: string, node?: string): void;
  /** Loud: shown in the CLI and the UI as a warning. */
  warn(message: string, node?: string): void;
  progress(message: string, fraction?: number, node?: string): void;
  /**
   * Runs `work` on every node in parallel; waits for all, then throws one error naming every node
   * that failed (so a learner sees all problems at once, not only the first).
   */
  forEachNode<T>(nodes: readonly PlannedNode[], work: (session: NodeSession) => Promise<T>): Promise<T[]>;
}

export interface StepDefinition {
  id: string;
  title: string;
  explanation: string;
  roles: Role[];
  /** The whole step needs Kubernetes server binaries; it is skipped (loudly) without them. */
  needsKubeBinaries: boolean;
  /** Exact commands for one node of the step's roles (what the hard way has you type there). */
  commands(env: CommandEnv, node: PlannedNode): StepCommand[];
  /** Commands typed on the host for this step (copying files, kubectl), if any. */
  hostCommands?(env: CommandEnv): StepCommand[];
  /** Automated and idempotent: running it on a finished lab changes nothing. */
  run(ctx: StepContext): Promise<void>;
  /** Read-only: one probe per fact, with expected, seen, node and a hint naming the fix. */
  check(ctx: StepContext): Promise<Probe[]>;
}

/** A step failure a person can act on. */
export class StepError extends LabError {
  override name = 'StepError';
}
