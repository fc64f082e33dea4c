// Stop and start a lab, the same way from every face (CLI, Electron, browser mode), under the lab
// lock. Stop shuts the cluster down in an order that keeps etcd and the API safe: the workers
// first (kubelet, kube-proxy and containerd stopped, then the VMs), then on the controllers the
// schedulers, controller managers and API servers before etcd, then those VMs, and the load
// balancer last. Start boots the load balancer and the controllers, then the workers, and waits
// until every step whose checker passed before passes again; nothing is re-issued or re-installed
// (no step runs). After a host crash (every qemu killed) start is the same: the disks hold etcd's
// data and every file the steps wrote.

import { setTimeout as sleep } from 'node:timers/promises';
import type { LabEngine } from '../engine/lab-engine.ts';
import type { CheckResult } from '../shared/engine-types.ts';
import { readLabState, withLabLock, writeLabState } from '../engine/lab-state.ts';
import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Provider } from '../providers/provider.ts';
import type { SshPool } from '../ssh/ssh-pool.ts';
import type { LabPaths } from './lab-dir.ts';

export interface LifecycleParts {
  plan: Plan;
  paths: LabPaths;
  provider: Provider;
  pool: SshPool;
  engine: LabEngine;
}

export interface LifecycleOptions {
  onProgress?: (message: string, fraction?: number) => void;
  signal?: AbortSignal;
}

export interface StopReport {
  seconds: number;
  /** Per node: what was stopped on it over SSH before its VM went down (or why that was skipped). */
  services: Record<string, string>;
}

export interface StartReport {
  seconds: number;
  /** Seconds until each node answered over SSH. */
  sshSeconds: Record<string, number>;
  /** Every step that was done before the stop, checked until it passed (or the deadline). */
  checks: CheckResult[];
  /** Seconds from boot until each of those steps passed again. */
  passedAfterSeconds: Record<string, number>;
  ok: boolean;
}

const WORKER_UNITS = ['kubelet', 'kube-proxy', 'containerd'];
const CONTROL_PLANE_UNITS = ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver'];

export async function stopLab(parts: Omit<LifecycleParts, 'engine'>, options: LifecycleOptions = {}): Promise<StopReport> {
  const { plan, paths, provider, pool } = parts;
  const progress = options.onProgress ?? (() => {});
  return withLabLock(paths.lock, 'stop', async () => {
    const started = Date.now();
    const services: Record<string, string> = {};
    const running = new Set((await provider.status()).filter((s) => s.state === 'running' || s.state === 'starting').map((s) => s.node));
    const runningOf = (role: PlannedNode['role']) => nodesOf(plan, role).filter((n) => running.has(n));
    const [workers, controllers, lbs] = [runningOf('worker'), runningOf('controller'), runningOf('lb')];
    /** Stops units on nodes; a node that does not answer is shut down anyway (its disk is consistent after an ACPI shutdown). */
    const stopUnits = async (nodes: string[], units: string[]): Promise<void> => {
      await Promise.all(
        nodes.map(async (node) => {
          const result = await pool.exec(node, `systemctl stop ${units.join(' ')} 2>&1; true`, { timeoutMs: 180_000, signal: options.signal }).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message.split('\n')[0] ?? '' }));
          services[node] = [services[node], result.code === 0 ? `stopped ${units.join(', ')}` : `could not stop ${units.join(', ')} (${result.stderr.trim()}); shut down anyway`].filter(Boolean).join('; ');
        }),
      );
    };
    progress(`stopping the workers: ${workers.join(', ') || 'none running'}`, 0.05);
    await stopUnits(workers, WORKER_UNITS);
    if (workers.length) await provider.stop(workers);
    progress(`stopping the control plane, then etcd, on ${controllers.join(', ') || 'no running controller'}`, 0.35);
    await stopUnits(controllers, CONTROL_PLANE_UNITS);
    await stopUnits(controllers, ['etcd']);
    if (controllers.length) await provider.stop(controllers);
    progress(`stopping the load balancer`, 0.8);
    if (lbs.length) await provider.stop(lbs);
    pool.close();
    const state = readLabState(paths.state);
    state.lifecycle = { state: 'stopped', since: new Date().toISOString() };
    writeLabState(paths.state, state);
    progress('stopped', 1);
    return { seconds: Math.round((Date.now() - started) / 1000), services };
  });
}

export async function startLab(parts: LifecycleParts, options: LifecycleOptions = {}): Promise<StartReport> {
  return withLabLock(parts.paths.lock, 'start', async () => {
    const before = readLabState(parts.paths.state);
    return bootAndRecheck(parts, parts.engine.steps.filter((s) => before.steps[s.id]?.status === 'done').map((s) => s.id), options);
  });
}

/**
 * Boots every node (the load balancer and the controllers, then the workers), marks the lab
 * running, and checks each of `wereDone` until it passes or the deadline (scaled to the guests'
 * measured speed) is over: what `start` and a snapshot restore wait for. The caller holds the lock.
 */
export async function bootAndRecheck(parts: LifecycleParts, wereDone: readonly string[], options: LifecycleOptions = {}): Promise<StartReport> {
  const { plan, paths, provider, pool, engine } = parts;
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const scale = Math.min(engine.timing().scale, 10);
  const sshSeconds: Record<string, number> = {};
  const boot = async (names: string[]): Promise<void> => {
    if (names.length === 0) return;
    await provider.start(names);
    await Promise.all(
      names.map(async (node) => {
        await pool.waitForSsh(node, { timeoutMs: 10 * 60_000 * Math.max(1, scale / 2), signal: options.signal, consoleTail: () => provider.consoleTail(node, 30) });
        sshSeconds[node] = Math.round((Date.now() - started) / 1000);
      }),
    );
  };
  progress(`booting the load balancer and the controllers`, 0.05);
  await boot([...nodesOf(plan, 'lb'), ...nodesOf(plan, 'controller')]);
  progress(`booting the workers`, 0.35);
  await boot(nodesOf(plan, 'worker'));
  const state = readLabState(paths.state);
  state.lifecycle = { state: 'running', since: new Date().toISOString() };
  writeLabState(paths.state, state);

  // Every step that passed before must pass again; services come up by themselves (enabled
  // units), which under software emulation takes minutes.
  const deadline = Date.now() + 20 * 60_000 * Math.max(1, scale / 4);
  const checks: CheckResult[] = [];
  const passedAfterSeconds: Record<string, number> = {};
  for (const [index, id] of wereDone.entries()) {
    progress(`waiting for step ${id} to pass its checker again`, 0.5 + (0.5 * index) / Math.max(wereDone.length, 1));
    let result: CheckResult;
    for (;;) {
      options.signal?.throwIfAborted();
      [result] = (await engine.check(id, { signal: options.signal })) as [CheckResult];
      if (result.ok || Date.now() > deadline) break;
      await sleep(10_000);
    }
    checks.push(result);
    if (result.ok) passedAfterSeconds[id] = Math.round((Date.now() - started) / 1000);
  }
  const ok = checks.every((c) => c.ok);
  progress(ok ? 'started: every checker that passed before passes again' : `started, but ${checks.filter((c) => !c.ok).map((c) => c.step).join(', ')} still fail`, 1);
  return { seconds: Math.round((Date.now() - started) / 1000), sshSeconds, checks, passedAfterSeconds, ok };
}

function nodesOf(plan: Plan, role: PlannedNode['role']): string[] {
  return plan.nodes.filter((n) => n.role === role).map((n) => n.name);
}
