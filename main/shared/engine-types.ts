// Shapes shared by the step engine, the checkers and every face (CLI, browser mode, desktop app).
// Plain data only: these cross the IPC/HTTP boundary to the renderer as JSON.

import type { Role } from './roles.ts';

/** One observation of a checker: what was expected, what was seen, where, and how to fix it. */
export interface Probe {
  name: string;
  node?: string;
  ok: boolean;
  expected: string;
  seen: string;
  /** What to do when it fails; names the fix. */
  hint: string;
}

export interface CheckResult {
  step: string;
  ok: boolean;
  probes: Probe[];
  startedAt: string;
  durationMs: number;
  /** Set when the check could not run at all (e.g. no kube binaries), with the reason. */
  skipped?: string;
}

/** A command a learner runs by hand, bound to the node it runs on. */
export interface StepCommand {
  node: string;
  command: string;
  description?: string;
}

export interface StepInfo {
  id: string;
  index: number;
  title: string;
  /** A short explanation for learners (plain text or simple Markdown). */
  explanation: string;
  roles: Role[];
  commands: StepCommand[];
  /** True when the step needs Kubernetes server binaries (kube-apiserver, kubelet, ...). */
  needsKubeBinaries: boolean;
}

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepState {
  id: string;
  status: StepStatus;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  error?: string;
  lastCheck?: CheckResult;
}

export type LabEvent =
  | { type: 'step'; state: StepState }
  | { type: 'log'; step?: string; node?: string; stream: 'stdout' | 'stderr' | 'info'; line: string }
  | { type: 'progress'; step?: string; node?: string; phase: string; message: string; fraction?: number }
  | { type: 'check'; result: CheckResult };
