// Break/fix drills and operations exercises as data. A drill breaks one thing in a green lab, the
// way it breaks in real clusters, and is judged by the same checkers as the hard-way steps: the
// named probe fails while the fault is in place and the steps pass again once it is fixed. An
// exercise asks for a cluster operation (etcd backup and restore, drain and uncordon, certificate
// rotation) and judges each stage of it with probes of its own. One record per file in records/.

import type { Plan } from '../plan/address-plan.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import type { ExecResult } from '../ssh/ssh-pool.ts';

export interface DrillEnv {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
  /** Values captured when the drill or exercise started (e.g. etcd's cluster id), by name. */
  vars: Record<string, string>;
}

/** Text that may depend on the lab (addresses, routes, the first controller's name). */
export type LabText = string | ((env: DrillEnv) => string);

/** What a faulty certificate gets wrong, compared with the lab's plan for it. */
export interface CertFault {
  /** Leave the load balancer's address out of the SANs. */
  dropLbSan?: boolean;
  /** Leave an extended key usage out. */
  dropUsage?: 'clientAuth' | 'serverAuth';
  /** Issue it as if the clock said this many days from now (negative: the past). */
  clockDays?: number;
}

/** One node (by name), or every node of a role. */
export type NodeRef = LabText | { each: 'controller' | 'worker' };

export type DrillAction =
  /** A shell command as root on a node (on every node of a role at once); written to be idempotent. */
  | { kind: 'run'; node: NodeRef; command: LabText; why?: string }
  /** The actions for every node of a role, one node after the other; in them, `env.vars.node` is the node whose turn it is. */
  | { kind: 'one-at-a-time'; each: 'controller' | 'worker'; actions: DrillAction[]; why?: string }
  /**
   * kubectl as admin on a controller (default the first), with its local admin kubeconfig (its own
   * API server). `ADMIN` inside args stands for that kubectl again (for pipes).
   */
  | { kind: 'kubectl'; node?: LabText; args: LabText; stdin?: LabText; why?: string }
  /** A certificate of the plan, issued by the lab CA but faulty, copied with a new key where the node keeps that certificate. */
  | { kind: 'faulty-cert'; node: NodeRef; cert: LabText; fault: CertFault; then?: LabText; why?: string }
  /** The lab's own certificate and key, copied where the node keeps them (`{node}` in cert: each node's own, e.g. kubelet-{node}); one node after the other. */
  | { kind: 'lab-cert'; node: NodeRef; cert: LabText; then?: LabText; why?: string }
  /** The lab's certificates re-issued on this machine with new keys, same CA (`hardway-lab pki --renew`); comma-separated ids, `{each-worker}` for every kubelet's. */
  | { kind: 'renew-cert'; cert: LabText; why?: string }
  /** The lab's rendered file (nodes/<node>/<path>), copied back to the node. */
  | { kind: 'lab-file'; node: NodeRef; path: string; then?: LabText; why?: string }
  /** A file copied from one node to others (e.g. an etcd snapshot to every member). */
  | { kind: 'copy'; from: LabText; path: string; to: NodeRef; why?: string }
  /**
   * The Kubernetes binaries of a release, from the lab's artifacts for it (built first when
   * missing), copied to /opt/hardway/kubernetes/v<version>/ on every controller and worker: what
   * each node needs to be upgraded (or downgraded) to it, nothing installed yet.
   */
  | { kind: 'stage-kubernetes'; version: LabText; why?: string }
  /** versions.kubernetes in the lab's spec (hardway-lab.yaml) set to this release: what the checkers then expect. */
  | { kind: 'spec-version'; kubernetes: LabText; why?: string }
  /** A hard-way step run again by the engine (what `hardway-lab up --step STEP` does). */
  | { kind: 'step'; step: string; why?: string };

/** A step checker that judges the drill: the probe (by name, optionally on one node) that the fault makes fail. */
export interface DrillCheck {
  step: string;
  probe: RegExp | ((env: DrillEnv) => RegExp);
  node?: LabText;
}

/** A fact of the drill's own, shown and judged on a node. */
export interface DrillProbe {
  name: string;
  node: LabText;
  command: LabText;
  expected: string;
  judge: (result: ExecResult, env: DrillEnv) => { ok: boolean; seen: string };
  /** Shown when it fails. */
  hint: string;
  timeoutMs?: number;
}

export interface DrillNeeds {
  /** Steps that must be done (their checkers green) before the drill can start. */
  steps: string[];
  /** A load balancer in front of the API servers. */
  lb?: boolean;
  controllers?: number;
  workers?: number;
}

export interface Drill {
  kind: 'drill';
  id: string;
  title: string;
  /** What it teaches (docs/drills.md, the drill list). */
  teaches: string;
  /** What the learner reads: the symptom, never the cause. */
  story: LabText;
  needs: DrillNeeds;
  fault: DrillAction[];
  /** Each must fail while the fault is in place; every named step passes once it is fixed. */
  checks: DrillCheck[];
  /** Facts that hold while the fault is in place (the symptom, or what the drill asks to prove). */
  symptoms?: DrillProbe[];
  /** From the symptom to the exact fix; at least three. */
  hints: LabText[];
  /** The reference fix: what the tests apply and "reveal" shows. */
  fix: DrillAction[];
  /** After the fix, what puts the lab back exactly as it was (e.g. a replica count the fault changed). */
  cleanup?: DrillAction[];
  /** How long a fault takes to show (a lease to expire, a health check to mark a server down); the runner waits this long at most. */
  showsWithinSeconds?: number;
}

export interface ExerciseStage {
  title: string;
  /** What to do now. */
  task: LabText;
  /** Pass when every probe passes (and every step listed is green); a function when they depend on the lab (one per node). */
  probes: DrillProbe[] | ((env: DrillEnv) => DrillProbe[]);
  steps?: string[];
  /** The reference way to do this stage (the tests run it). */
  reference: DrillAction[];
}

export interface Exercise {
  kind: 'exercise';
  id: string;
  title: string;
  teaches: string;
  story: LabText;
  needs: DrillNeeds;
  /** Prepares the lab (e.g. a namespace worth keeping). */
  setup: DrillAction[];
  /** Values the exercise works out on this machine at the start (e.g. the release to upgrade to); they join the captures in vars. */
  values?: (env: DrillEnv) => Record<string, string>;
  /** Values to remember at the start (name → command on a node; its trimmed stdout). */
  capture?: { name: string; node: LabText; command: LabText }[];
  stages: ExerciseStage[];
  hints: LabText[];
  /** Stopped before it was done and without a snapshot: what takes the lab back to where it started (before the cleanup). */
  undo?: DrillAction[];
  /** Puts the lab back as the hard way left it when the exercise is stopped without a snapshot. */
  cleanup?: DrillAction[];
}

export function stageProbes(stage: ExerciseStage, env: DrillEnv): DrillProbe[] {
  return typeof stage.probes === 'function' ? stage.probes(env) : stage.probes;
}

export type Lesson = Drill | Exercise;

export function text(value: LabText, env: DrillEnv): string {
  return typeof value === 'function' ? value(env) : value;
}
