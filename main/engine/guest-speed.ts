// How much slower than this host the lab's VMs run: the same small CPU-bound shell loop is timed
// on the host and on every node at once (so contention between VMs counts too). Waits in the steps
// are written for KVM speed, which is close to the host's; they are multiplied by the ratio, so a
// software-emulated (TCG) lab on a busy 2-core host gets the time it needs and a KVM lab on a
// laptop does not wait needlessly long when something is really wrong.

import { spawnSync } from 'node:child_process';

/** About 0.1 s on a current host; 20-60 times that under TCG with every VM running it at once. */
export const SPEED_PROBE = 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done';

export interface MeasuredTiming {
  /** What waits are multiplied by. */
  scale: number;
  hostSeconds: number;
  /** The slowest node's time for the same loop. */
  guestSeconds: number;
  slowestNode: string;
  measuredAt: string;
}

/** Never below 1 (a guest is not faster than its host); at most 20, so that a wait meant for a
 * minute at KVM speed still gives up within the half hour when something is really stuck. */
export const MIN_SCALE = 1;
export const MAX_SCALE = 20;

export function hostProbeSeconds(): number {
  const started = process.hrtime.bigint();
  const result = spawnSync('bash', ['-c', SPEED_PROBE], { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`could not time the speed probe on this host: ${result.error?.message ?? `exit ${result.status}`}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export function timingFrom(hostSeconds: number, perNode: readonly { node: string; seconds: number }[]): MeasuredTiming {
  const slowest = [...perNode].sort((a, b) => b.seconds - a.seconds)[0] ?? { node: 'none', seconds: hostSeconds };
  const ratio = slowest.seconds / Math.max(hostSeconds, 0.01);
  const scale = Math.round(Math.min(MAX_SCALE, Math.max(MIN_SCALE, ratio)) * 10) / 10;
  return { scale, hostSeconds: round(hostSeconds), guestSeconds: round(slowest.seconds), slowestNode: slowest.node, measuredAt: new Date().toISOString() };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
