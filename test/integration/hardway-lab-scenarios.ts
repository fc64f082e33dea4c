// Scenarios for the hard-way steps on real VMs. They run INSIDE a test's own network namespace
// (test/helpers/netns.ts runs them through netns-scenario-runner.ts), so QEMU, the lab bridge, the
// taps, every SSH client and the engine itself live there. One `ha` lab is booted and shared by
// every part of the story (a 2-core host cannot afford several), and destroyed at the end.
//
// The story, in order:
//   1. `up --until workers` in a child process, killed with SIGKILL while step etcd runs;
//   2. `up --until workers` again here: it resumes at etcd, no certificate is regenerated;
//   3. the pod-routes checker before the routes exist: stand-in pods on two workers cannot talk;
//   4. full `up`: pod routes installed, kube steps skipped loudly, every checker green;
//   5. re-running finished steps changes nothing (no service restarted, no file rewritten);
//   6. the load balancer with stand-in API servers (socat with the API server certificate):
//      all backends UP and /version through the LB, then one backend failing /readyz;
//   7. faults — a member stopped, a cert missing a SAN, one missing an EKU, a key that does not
//      match, a route deleted — each caught with its hint; then `up` repairs them all;
//   8. destroy, and nothing left behind (the full check sweep of step 7 is timed).

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { buildPlan, type Plan } from '../../main/plan/address-plan.ts';
import { labPaths, type LabPaths } from '../../main/lab/lab-dir.ts';
import { presetSpec, type ClusterSpec, type VersionsSpec } from '../../main/spec/cluster-spec.ts';
import { validateSpec } from '../../main/spec/parse-spec.ts';
import { openLabRuntime, type LabRuntime } from '../../main/lab/lab-runtime.ts';
import type { LabEngine, UpResult } from '../../main/engine/lab-engine.ts';
import type { CheckResult, StepState } from '../../main/engine/engine-types.ts';
import { readLabState } from '../../main/engine/lab-state.ts';
import { shellJoin } from '../../main/engine/shell.ts';
import { loadIssuer } from '../../main/pki/load-issuer.ts';
import { issueCertificate } from '../../main/pki/issue-certificate.ts';
import { generateKeyPair, privateKeyPem } from '../../main/pki/key-pair.ts';
import { readPkiFile } from '../../main/pki/pki-files.ts';
import { findLeftovers, type Leftovers } from '../helpers/qemu-lab-scenarios.ts';

const RUNNER = fileURLToPath(new URL('../helpers/netns-scenario-runner.ts', import.meta.url));
const THIS_MODULE = fileURLToPath(import.meta.url);

function log(message: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${message}`);
}

export interface HardwayLabArgs {
  labDir: string;
  artifactsDir: string;
  /** Versions of what is in the artifacts directory (the spec pins them). */
  versions: Partial<VersionsSpec>;
  name?: string;
}

export function hardwaySpec(args: Pick<HardwayLabArgs, 'versions' | 'name'>): ClusterSpec {
  const spec = presetSpec('ha', args.name ?? 'hw-steps');
  // The smallest sizes the spec allows: six VMs on a 2-core host.
  Object.assign(spec.nodes.lb, { memoryMiB: 512, cpus: 1 });
  Object.assign(spec.nodes.controller, { memoryMiB: 1024, cpus: 1 });
  Object.assign(spec.nodes.worker, { memoryMiB: 1024, cpus: 1 });
  spec.versions = { ...spec.versions, ...args.versions };
  const errors = validateSpec(spec).filter((i) => i.severity === 'error');
  if (errors.length > 0) throw new Error(`test spec is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return spec;
}

interface Lab {
  spec: ClusterSpec;
  plan: Plan;
  paths: LabPaths;
  runtime: LabRuntime;
  engine: LabEngine;
}

async function openLab(args: HardwayLabArgs): Promise<Lab> {
  const spec = hardwaySpec(args);
  const plan = buildPlan(spec);
  const paths = labPaths(args.labDir);
  await mkdir(paths.root, { recursive: true });
  const runtime = await openLabRuntime({ plan, spec, paths });
  const engine = runtime.engine({ artifactsDir: args.artifactsDir });
  engine.onEvent((event) => {
    if (event.type === 'step' && event.state.status !== 'running') {
      const why = event.state.status === 'failed' && event.state.error ? `: ${event.state.error}` : '';
      log(`step ${event.state.id}: ${event.state.status}${event.state.durationMs ? ` in ${(event.state.durationMs / 1000).toFixed(1)} s` : ''}${why}`);
    }
    else if (event.type === 'step') log(`step ${event.state.id}: running`);
    else if (event.type === 'progress' && event.phase === 'warning') log(`WARNING ${event.message}`);
    else if (event.type === 'check') log(`check ${event.result.step}: ${event.result.skipped ? 'skipped' : event.result.ok ? 'pass' : `FAIL (${event.result.probes.filter((p) => !p.ok).map((p) => `${p.node ?? '-'} ${p.name}`).join('; ')})`} in ${(event.result.durationMs / 1000).toFixed(1)} s`);
  });
  return { spec, plan, paths, runtime, engine };
}

/** Run in a child process and killed with SIGKILL mid-step by the main scenario. */
export async function runUpUntil(args: HardwayLabArgs & { until: string }): Promise<unknown> {
  const lab = await openLab(args);
  try {
    const result = await lab.engine.up({ until: args.until, finalCheck: false });
    return { ok: result.ok };
  } finally {
    lab.runtime.close();
  }
}

export interface CompactCheck {
  step: string;
  ok: boolean;
  skipped?: string;
  probes: number;
  failing: { node?: string; name: string; expected: string; seen: string; hint: string }[];
  durationMs: number;
}

function compact(results: readonly CheckResult[]): CompactCheck[] {
  return results.map((r) => ({
    step: r.step,
    ok: r.ok,
    skipped: r.skipped,
    probes: r.probes.length,
    failing: r.probes.filter((p) => !p.ok).map((p) => ({ node: p.node, name: p.name, expected: p.expected, seen: p.seen, hint: p.hint })),
    durationMs: r.durationMs,
  }));
}

function compactUp(result: UpResult) {
  return { ok: result.ok, resumedAt: result.resumedAt, failedStep: result.failedStep, states: result.states.map((s) => ({ id: s.id, status: s.status, durationMs: s.durationMs, error: s.error })), checks: compact(result.checks) };
}

function pkiHashes(paths: LabPaths): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(paths.pki).sort()) {
    if (!/\.(crt|key|pub)$/.test(name)) continue;
    out[name] = createHash('sha256').update(readFileSync(join(paths.pki, name))).digest('hex');
  }
  return out;
}

/** Services whose main process must survive a re-run of a finished step. */
async function mainPids(lab: Lab): Promise<Record<string, string>> {
  const wanted: [string, string][] = [
    ...lab.plan.nodes.filter((n) => n.role === 'controller').map((n) => [n.name, 'etcd'] as [string, string]),
    ...lab.plan.nodes.filter((n) => n.role === 'worker').map((n) => [n.name, 'containerd'] as [string, string]),
    ...lab.plan.nodes.filter((n) => n.role === 'lb').map((n) => [n.name, 'haproxy'] as [string, string]),
  ];
  const out: Record<string, string> = {};
  await Promise.all(
    wanted.map(async ([node, unit]) => {
      const r = await lab.runtime.pool.run(node, `systemctl show -p MainPID --value ${unit}`);
      out[`${node}/${unit}`] = r.stdout.trim();
    }),
  );
  return out;
}

function logSizes(paths: LabPaths, step: string): Map<string, number> {
  const dir = join(paths.logs, step);
  const sizes = new Map<string, number>();
  if (!existsSync(dir)) return sizes;
  for (const name of readdirSync(dir)) sizes.set(name, statSync(join(dir, name)).size);
  return sizes;
}

/** Lines a step logged since `before` that show it changed something on a node. */
function changesLogged(paths: LabPaths, step: string, before: Map<string, number>): string[] {
  const dir = join(paths.logs, step);
  const lines: string[] = [];
  for (const name of readdirSync(dir)) {
    const text = readFileSync(join(dir, name)).subarray(before.get(name) ?? 0).toString('utf8');
    for (const line of text.split('\n')) {
      if (/ (installing|updating) \/|\$ chmod | restarting | starting \S+ \(|setting hostname|turning swap off|loading kernel module|sysctl \S+=/.test(line)) lines.push(`${name}: ${line}`);
    }
  }
  return lines;
}

async function checkUntil(engine: LabEngine, step: string, done: (r: CheckResult) => boolean, timeoutMs: number): Promise<CheckResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [result] = await engine.check(step);
    if (done(result!) || Date.now() > deadline) return result!;
    await sleep(5000);
  }
}

const STANDIN_UNIT = 'hwl-standin-apiserver';

/** A stand-in for kube-apiserver on a controller: TLS with the API server's certificate, every request answered with `status`. */
async function startStandIn(lab: Lab, node: string, status: 200 | 503): Promise<void> {
  const reason = status === 200 ? 'OK' : 'Service Unavailable';
  const body = status === 200 ? 'ok' : 'not ready';
  const script = `#!/bin/sh\nprintf 'HTTP/1.1 ${status} ${reason}\\r\\nContent-Type: text/plain\\r\\nContent-Length: ${body.length + 1}\\r\\nConnection: close\\r\\n\\r\\n${body}\\n'\n`;
  await lab.runtime.pool.upload(node, script, `/root/hwl-standin-${status}.sh`, 0o755);
  const address = `OPENSSL-LISTEN:6443,reuseaddr,fork,cert=/var/lib/kubernetes/kube-apiserver.crt,key=/var/lib/kubernetes/kube-apiserver.key,verify=0`;
  await lab.runtime.pool.run(node, `systemctl stop ${STANDIN_UNIT} 2>/dev/null; systemctl reset-failed ${STANDIN_UNIT} 2>/dev/null; ${shellJoin(['systemd-run', `--unit=${STANDIN_UNIT}`, 'socat', address, `EXEC:/root/hwl-standin-${status}.sh`])}`);
}

async function stopStandIns(lab: Lab): Promise<void> {
  await Promise.all(
    lab.plan.nodes.filter((n) => n.role === 'controller').map((n) => lab.runtime.pool.run(n.name, `systemctl stop ${STANDIN_UNIT} 2>/dev/null; systemctl reset-failed ${STANDIN_UNIT} 2>/dev/null; true`)),
  );
}

/** A certificate of the plan, issued by the lab CA but changed (a SAN or an EKU left out). */
async function faultyCertificate(lab: Lab, id: string, change: (plan: Plan['certificates'][number]) => void): Promise<{ crt: string; key: string }> {
  const issuer = await loadIssuer(lab.paths);
  const certPlan = structuredClone(lab.plan.certificates.find((c) => c.id === id)!);
  change(certPlan);
  const keys = await generateKeyPair(lab.spec.pki.keyAlgorithm);
  const cert = await issueCertificate(certPlan, keys, { algorithm: lab.spec.pki.keyAlgorithm, issuer });
  return { crt: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

export interface HardwayStoryResult {
  acceleration?: string;
  kill: { killedDuringStep: string; afterSeconds: number; statusAtKill: Record<string, string>; childOutputTail: string };
  resumed: ReturnType<typeof compactUp> & { seconds: number };
  podRoutesBeforeRoutes: CompactCheck;
  fullUp: ReturnType<typeof compactUp> & { seconds: number };
  rerun: { step: string; changes: string[]; ok: boolean }[];
  pidsBefore: Record<string, string>;
  pidsAfter: Record<string, string>;
  lb: { allUp: CompactCheck; oneFailing: CompactCheck; standInsGone: CompactCheck };
  faults: CompactCheck[];
  repaired: ReturnType<typeof compactUp> & { seconds: number };
  pkiAtKill: Record<string, string>;
  pkiAtEnd: Record<string, string>;
  sweep: { seconds: number; checks: CompactCheck[] };
  stepSeconds: Record<string, number>;
  leftovers: Leftovers;
}

export async function hardwayStory(args: HardwayLabArgs): Promise<HardwayStoryResult> {
  const lab = await openLab(args);
  const result: Partial<HardwayStoryResult> = {};
  let child: ChildProcess | undefined;
  try {
    // 1. `up --until workers` in a child process; SIGKILL it a few seconds into step etcd.
    log('starting `up --until workers` in a child process');
    const started = Date.now();
    child = spawn(process.execPath, ['--import', 'tsx', RUNNER, THIS_MODULE, 'runUpUntil', JSON.stringify({ ...args, until: 'workers' })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let childOutput = '';
    const keep = (chunk: Buffer) => {
      childOutput += chunk.toString('utf8');
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) console.log(`[child] ${line}`);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));
    for (;;) {
      if (exitCode !== undefined) throw new Error(`the child engine exited (code ${exitCode}) before step etcd ran:\n${childOutput.slice(-3000)}`);
      if (Date.now() - started > 40 * 60_000) throw new Error('step etcd never started in the child engine');
      const state = readLabState(lab.paths.state);
      if (state.steps.etcd?.status === 'running') break;
      await sleep(500);
    }
    await sleep(4000);
    const statusAtKill = Object.fromEntries(Object.values(readLabState(lab.paths.state).steps).map((s: StepState) => [s.id, s.status]));
    result.pkiAtKill = pkiHashes(lab.paths);
    child.kill('SIGKILL');
    await exited;
    child = undefined;
    result.kill = { killedDuringStep: 'etcd', afterSeconds: (Date.now() - started) / 1000, statusAtKill, childOutputTail: childOutput.slice(-2000) };
    log(`killed the child engine with SIGKILL during step etcd (states: ${JSON.stringify(statusAtKill)})`);

    // 2. `up --until workers` again: resumes at etcd.
    let t = Date.now();
    result.resumed = { ...compactUp(await lab.engine.up({ until: 'workers', finalCheck: false })), seconds: (Date.now() - t) / 1000 };
    result.acceleration = (await lab.runtime.provider.preflight()).acceleration;

    // 3. Before the routes step: stand-in pods on two workers cannot reach each other.
    result.podRoutesBeforeRoutes = compact(await lab.engine.check('pod-routes'))[0]!;

    // 4. The whole way: routes, kube steps skipped loudly, final check of every step.
    t = Date.now();
    result.fullUp = { ...compactUp(await lab.engine.up()), seconds: (Date.now() - t) / 1000 };
    result.stepSeconds = Object.fromEntries(Object.values(readLabState(lab.paths.state).steps).map((s) => [s.id, (s.durationMs ?? 0) / 1000]));

    // 5. Re-running finished steps changes nothing.
    result.pidsBefore = await mainPids(lab);
    result.rerun = [];
    for (const step of ['compute', 'certificates', 'kubeconfigs', 'encryption-config', 'etcd', 'load-balancer', 'workers', 'pod-routes']) {
      const before = logSizes(lab.paths, step);
      const run = await lab.engine.runStep(step);
      result.rerun.push({ step, changes: changesLogged(lab.paths, step, before), ok: run.state.status === 'done' });
    }
    result.pidsAfter = await mainPids(lab);

    // 6. The load balancer in front of stand-in API servers.
    const controllers = lab.plan.nodes.filter((n) => n.role === 'controller');
    await Promise.all(controllers.map((c) => startStandIn(lab, c.name, 200)));
    const allUpProbe = (r: CheckResult) => r.probes.filter((p) => p.name === 'backend UP').every((p) => p.ok && /^UP/.test(p.seen));
    const allUp = await checkUntil(lab.engine, 'load-balancer', allUpProbe, 90_000);
    await startStandIn(lab, 'controller-1', 503);
    const oneFailing = await checkUntil(lab.engine, 'load-balancer', (r) => r.probes.some((p) => p.node === 'controller-1' && p.name === 'backend UP' && !p.ok && /L7STS/.test(p.seen)), 120_000);
    await stopStandIns(lab);
    const standInsGone = await checkUntil(lab.engine, 'load-balancer', (r) => r.ok, 60_000);
    result.lb = { allUp: compact([allUp])[0]!, oneFailing: compact([oneFailing])[0]!, standInsGone: compact([standInsGone])[0]! };

    // 7. Faults, made for real on the nodes.
    const pool = lab.runtime.pool;
    await pool.run('controller-1', 'systemctl stop etcd');
    const noLbSan = await faultyCertificate(lab, 'kube-apiserver', (p) => (p.ipAddresses = p.ipAddresses.filter((ip) => ip !== lab.plan.apiEndpoint.ip)));
    await pool.upload('controller-0', noLbSan.crt, '/var/lib/kubernetes/kube-apiserver.crt', 0o644);
    await pool.upload('controller-0', noLbSan.key, '/var/lib/kubernetes/kube-apiserver.key', 0o600);
    const noClientAuth = await faultyCertificate(lab, 'kubelet-worker-0', (p) => (p.usages = p.usages.filter((u) => u !== 'clientAuth')));
    await pool.upload('worker-0', noClientAuth.crt, '/var/lib/kubelet/kubelet.crt', 0o644);
    await pool.upload('worker-0', noClientAuth.key, '/var/lib/kubelet/kubelet.key', 0o600);
    // Another identity's key next to the API server's etcd client certificate.
    await pool.upload('controller-0', readPkiFile(lab.paths, 'admin', 'key'), '/var/lib/kubernetes/apiserver-etcd-client.key', 0o600);
    const lostRoute = lab.plan.routes.find((r) => r.node === 'controller-1' && r.owner === 'worker-1')!;
    await pool.run('controller-1', `ip route del ${lostRoute.destination}`);
    t = Date.now();
    const faultSweep = await lab.engine.check();
    result.faults = compact(faultSweep);
    result.sweep = { seconds: (Date.now() - t) / 1000, checks: result.faults };

    // ... and the engine repairs what it can.
    t = Date.now();
    result.repaired = { ...compactUp(await lab.engine.up()), seconds: (Date.now() - t) / 1000 };
    result.pkiAtEnd = pkiHashes(lab.paths);
  } finally {
    if (child) child.kill('SIGKILL');
    lab.runtime.close();
    log('destroying the lab');
    await lab.runtime.provider.destroy();
  }
  result.leftovers = await findLeftovers(lab.paths.root);
  return result as HardwayStoryResult;
}

export interface BenchResult {
  acceleration?: string;
  upSeconds: number;
  ok: boolean;
  steps: { id: string; status: string; seconds: number }[];
  sweepSeconds: number[];
  perStepCheckSeconds: Record<string, number>;
}

/** For bench/steps-bench.ts: a fresh `up` timed per step, then check sweeps; destroyed afterwards. */
export async function benchUp(args: HardwayLabArgs & { sweeps?: number }): Promise<BenchResult> {
  const lab = await openLab(args);
  try {
    const t = Date.now();
    const up = await lab.engine.up({ finalCheck: false });
    const upSeconds = (Date.now() - t) / 1000;
    const sweepSeconds: number[] = [];
    let last: CheckResult[] = [];
    for (let i = 0; i < (args.sweeps ?? 2); i++) {
      const s = Date.now();
      last = await lab.engine.check();
      sweepSeconds.push((Date.now() - s) / 1000);
    }
    return {
      acceleration: (await lab.runtime.provider.preflight()).acceleration,
      upSeconds,
      ok: up.ok && last.every((c) => c.ok || c.skipped !== undefined),
      steps: up.states.map((s) => ({ id: s.id, status: s.status, seconds: (s.durationMs ?? 0) / 1000 })),
      sweepSeconds,
      perStepCheckSeconds: Object.fromEntries(last.map((c) => [c.step, c.durationMs / 1000])),
    };
  } finally {
    lab.runtime.close();
    await lab.runtime.provider.destroy();
  }
}
