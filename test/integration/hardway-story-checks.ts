// What the hard-way story tests assert on the story's result (hardway-lab-scenarios.ts): the
// default run's cluster scope (hardway-steps.test.ts: one worker) and the full tier's (../full/
// hardway-full.test.ts: two workers). Each test adds what only its scope has.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { findBaseImage } from '../../main/image/build-image.ts';
import { netnsUnavailableReason } from '../helpers/netns.ts';
import { loadBalancerDebsReason, type testArtifacts } from '../helpers/lab-artifacts.ts';
import type { CompactCheck, CompactProbe, HardwayStoryResult } from './hardway-lab-scenarios.ts';

export const byStep = (checks: CompactCheck[], step: string) => checks.find((c) => c.step === step)!;
export const find = (c: CompactCheck, name: string, node?: string): CompactProbe | undefined => c.failing.find((p) => p.name === name && (node === undefined || p.node === node));
export const names = (c: CompactCheck) => c.failing.map((p) => `${p.node ?? '-'} ${p.name}`);

/** Why the story cannot run on this host, or undefined. */
export async function storySkipReason(built: ReturnType<typeof testArtifacts>): Promise<string | undefined> {
  const netns = netnsUnavailableReason();
  if (netns) return netns;
  for (const tool of ['qemu-system-x86_64', 'qemu-img']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (built.skip) return built.skip;
  const debs = loadBalancerDebsReason(built.artifacts!.root);
  if (debs) return debs;
  if (!(await findBaseImage())) return 'no base image: run `npx hardway-lab image build` (as .ci/run does)';
  return undefined;
}

export function assertKilledAndResumed(r: HardwayStoryResult, scope: HardwayStoryResult['scope']): void {
  assert.equal(r.scope, scope);
  assert.equal(r.kill.statusAtKill.etcd, 'running');
  for (const done of ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config']) assert.equal(r.kill.statusAtKill[done], 'done', `${done} was done before the kill`);
  assert.equal(r.resumed.resumedAt, 'etcd');
  assert.equal(r.resumed.ok, true, JSON.stringify(r.resumed.states));
  assert.deepEqual(r.pkiAtEnd, r.pkiAtKill, 'no certificate or key regenerated, through the kill, the resume and the repairs');
  assert.ok(Object.keys(r.pkiAtKill).length > 20);
}

export function assertApiServersReady(r: HardwayStoryResult): void {
  assert.deepEqual(Object.keys(r.apiserverReadySeconds).sort(), ['controller-0', 'controller-1', 'controller-2']);
  for (const [node, s] of Object.entries(r.apiserverReadySeconds)) assert.ok(s >= 0 && s < 1800, `${node}: ${s} s`);
}

export function assertRerunsChangedNothing(r: HardwayStoryResult, services: string): void {
  for (const rerun of r.rerun) {
    assert.equal(rerun.ok, true, `${rerun.step} still passes`);
    assert.deepEqual(rerun.changes, [], `${rerun.step} changed nothing`);
  }
  assert.deepEqual(r.pidsAfter, r.pidsBefore, `${services} were not restarted`);
  for (const [unit, pid] of Object.entries(r.pidsBefore)) assert.ok(Number(pid) > 0, `${unit} runs`);
}

/** The UI part, as far as both scopes see it (the full one adds the workers). */
export function assertUiOnCluster(r: HardwayStoryResult): NonNullable<HardwayStoryResult['ui']> {
  assert.equal(r.uiError, undefined, r.uiError);
  const ui = r.ui!;
  assert.match(ui.dashboard!.api, /ready/);
  assert.match(ui.dashboard!.apiDetail, /https:\/\/10\.240\.0\.10:6443/);
  assert.equal(ui.hostnameSeen, 'controller-0');
  assert.equal(ui.kubeCheck?.verdict, 'passed', JSON.stringify(ui.kubeCheck));
  assert.ok((ui.kubeCheck?.probes ?? 0) > 20);
  assert.equal(ui.rerun?.status, 'done');
  assert.deepEqual(ui.pageErrors.filter((e) => !/Failed to load resource/.test(e)), []);
  return ui;
}

export function assertApiServerStopped(f: HardwayStoryResult['faults']): void {
  const cp = f.apiserverStopped.controlPlane;
  const stopped = find(cp, 'kube-apiserver active', 'controller-1');
  assert.ok(stopped, JSON.stringify(cp.failing));
  assert.match(stopped!.seen, /inactive/);
  assert.match(stopped!.hint, /kube-apiserver is stopped on controller-1: `systemctl start kube-apiserver` there/);
  assert.match(find(cp, '/readyz', 'controller-1')!.hint, /clients still reach the API through the load balancer/);
  assert.ok(find(f.apiserverStopped.loadBalancer, 'backend UP', 'controller-1'), JSON.stringify(f.apiserverStopped.loadBalancer.failing));
  assert.equal(f.apiserverStopped.viaLb.code, 0, `kubectl through the LB still works: ${f.apiserverStopped.viaLb.output}`);
  assert.match(f.apiserverStopped.viaLb.output, /"serverVersion"/);
}

export function assertLeaseMoved(f: HardwayStoryResult['faults']): void {
  const { node, immediately, moved, newHolder } = f.leaseHolderStopped;
  assert.ok(find(immediately, 'kube-scheduler active', node), JSON.stringify(immediately.failing));
  const lease = find(immediately, 'kube-scheduler lease held');
  if (lease && /holder none/.test(lease.seen)) {
    // The holder stopped cleanly and released the lease: the others take it within seconds.
    assert.match(lease.hint, /the lease is free: its holder stopped and released it/);
  } else if (lease) {
    // Asked before the lease expired: it names the stopped holder and who takes over.
    assert.match(lease.seen, new RegExp(`holder ${node}.*not running there`));
    assert.match(lease.hint, /will take the lease over within ~30 s/);
  }
  assert.equal(find(moved, 'kube-scheduler lease held'), undefined, `the lease moved (after ${moved.waitedS} s)`);
  assert.ok(newHolder && newHolder !== node, `new holder ${newHolder}`);
  assert.ok(find(moved, 'kube-scheduler active', node), 'the stopped scheduler is still reported');
}

/** The sweep with every fault in place, for the steps both scopes break; `steps` lists the scope's. */
export function assertSweepNamesFaults(sweep: CompactCheck[], steps: readonly string[], broken: readonly string[]): void {
  assert.deepEqual(sweep.map((c) => c.step), steps);
  for (const ok of ['preflight', 'compute', 'kubeconfigs', 'encryption-config']) assert.equal(byStep(sweep, ok).ok, true, `${ok}: ${JSON.stringify(byStep(sweep, ok).failing)}`);
  const etcd = byStep(sweep, 'etcd');
  assert.match(find(etcd, 'etcd unit active', 'controller-2')!.hint, /on controller-2: `systemctl start etcd`/);
  assert.ok(!find(etcd, 'exactly one leader'), 'two members still have a leader');
  const certs = byStep(sweep, 'certificates');
  assert.match(find(certs, '/var/lib/kubernetes/kube-apiserver.crt: SAN IP:10.240.0.10', 'controller-1')?.hint ?? '', /not 10\.240\.0\.10/);
  assert.match(find(certs, '/var/lib/kubelet/kubelet.crt: usage clientAuth', 'worker-0')?.hint ?? '', /system:node:worker-0 logs in with this certificate as a client/);
  assert.match(find(certs, '/var/lib/kubernetes/apiserver-etcd-client.crt: key matches certificate', 'controller-1')?.seen ?? '', /another certificate/);
  for (const step of broken) assert.equal(byStep(sweep, step).ok, false, `${step} is broken`);
  for (const check of sweep) for (const p of check.failing) assert.ok(p.hint.length > 10, `${check.step}: ${p.node ?? '-'} ${p.name} has a hint`);
  console.log(`failing probes with every fault in place: ${JSON.stringify(Object.fromEntries(sweep.filter((c) => !c.ok).map((c) => [c.step, names(c)])))}`);
}

/** Every checker of the scope passed on the `up` that built it, none skipped. */
export function assertEveryStepGreen(up: HardwayStoryResult['fullUp'], steps: readonly string[]): void {
  assert.equal(up.ok, true, JSON.stringify({ failedStep: up.failedStep, failing: up.checks.filter((c) => !c.ok) }, null, 1));
  assert.deepEqual(up.checks.map((c) => c.step), steps);
  for (const check of up.checks) {
    assert.equal(check.skipped, undefined, `${check.step} ran`);
    assert.equal(check.ok, true, `${check.step}: ${JSON.stringify(check.failing)}`);
    assert.ok(check.probes > 0);
  }
  // Per controller: 3 units, 4 files as planned, version, /readyz, encryption; then the 2 leases.
  assert.ok(byStep(up.checks, 'control-plane').probes >= 3 * 9 + 2, String(byStep(up.checks, 'control-plane').probes));
  // The smoke test: encryption at rest, deployment, port-forward, logs, exec, NodePort on each worker, the LB, nodes Ready.
  if (steps.includes('smoke-test')) assert.ok(byStep(up.checks, 'smoke-test').probes >= 10, String(byStep(up.checks, 'smoke-test').probes));
}

/** Faults B: kube-proxy stopped with its rules gone, then a kubelet stopped. */
export function assertNodeFaultsCaught(f: HardwayStoryResult['faults']): void {
  const n = f.nodes!;
  const notReady = find(n.kubeletStopped, 'node registered and Ready', n.otherNode)!;
  assert.ok(notReady, `after ${n.kubeletStopped.waitedS} s: ${JSON.stringify(n.kubeletStopped.failing)}`);
  assert.equal(notReady.seen, 'NotReady', `after ${n.kubeletStopped.waitedS} s`);
  assert.ok(find(n.workers, 'kubelet active', n.otherNode));
  assert.ok(find(n.workers, 'kube-proxy active', n.podNode));
  const nodePort = find(n.smoke, 'NodePort reachable', n.podNode)!;
  assert.ok(nodePort, JSON.stringify(n.smoke.failing));
  assert.match(nodePort.hint, new RegExp(`kube-proxy on ${n.podNode}`));
}

/** Faults B: CoreDNS at 0 replicas, the API server → kubelet RBAC removed. */
export function assertDnsAndRbacFaultsCaught(f: HardwayStoryResult['faults']): void {
  const n = f.nodes!;
  assert.ok(find(n.coredns, 'coredns deployment available'), JSON.stringify(n.coredns.failing));
  assert.ok(find(n.coredns, 'a pod resolves "kubernetes"'), JSON.stringify(n.coredns.failing));
  assert.deepEqual(n.rbac.failing.map((p) => p.name), ['proxy', 'stats', 'log', 'spec', 'metrics'].map((s) => `kube-apiserver-kubelet-client may get nodes/${s}`));
  for (const name of ['logs', 'exec']) assert.match(find(n.smoke, name)?.hint ?? '', /Forbidden.*hardway-lab check rbac/, `${name}: ${JSON.stringify(n.smoke.failing)}`);
}

export function assertRepaired(r: HardwayStoryResult, steps: readonly string[]): void {
  assert.equal(r.repaired.resumedAt, 'certificates');
  assert.equal(r.repaired.ok, true, JSON.stringify({ failedStep: r.repaired.failedStep, failedSteps: r.repaired.states.filter((s) => s.status === 'failed'), failingChecks: r.repaired.checks.filter((c) => !c.ok) }, null, 1));
  assert.deepEqual(r.repaired.checks.map((c) => c.step), steps, 'the final table has every step of the scope');
  for (const c of r.repaired.checks) assert.ok(c.ok && !c.skipped, `${c.step} after repair: ${JSON.stringify(c.failing)}`);
}

/** Stop/start and a host crash: every VM went down, came back, and every checker passed again with etcd's data. */
export function assertLifecycleRound(r: HardwayStoryResult, kind: 'stop-start' | 'crash-start', steps: readonly string[]): void {
  const round = r.lifecycle?.find((x) => x.kind === kind);
  assert.ok(round, `the ${kind} round ran (${r.lifecycle ? JSON.stringify(r.lifecycle.map((x) => x.kind)) : 'no lifecycle rounds'})`);
  for (const [node, state] of Object.entries(round.vmsAfterStop)) assert.notEqual(state, 'running', `${node} was down`);
  if (kind === 'stop-start') {
    assert.equal(round.lifecycleAfterStop, 'stopped');
    for (const node of Object.keys(round.vmsAfterStop)) assert.match(round.stop!.services[node] ?? '', /^stopped /, `${node}: ${round.stop!.services[node]}`);
  }
  assert.equal(round.start.ok, true, JSON.stringify(round.start.checks.filter((c) => !c.ok), null, 1));
  assert.deepEqual(round.start.checks.map((c) => c.step), steps, 'every step that was done is checked again');
  assert.equal(round.configMapBack, 'same', "etcd's data survived");
  assert.equal(round.lifecycleAfterStart, 'running');
  console.log(`${kind}: ${round.stop ? `stop ${round.stop.seconds} s, ` : ''}start ${round.start.seconds} s (SSH ${JSON.stringify(round.start.sshSeconds)}; green after ${JSON.stringify(round.start.passedAfterSeconds)})`);
}

export function assertNothingLeft(r: HardwayStoryResult): void {
  assert.deepEqual(r.leftovers.qemuProcesses, []);
  assert.deepEqual(r.leftovers.diskFiles, []);
}

/** Every drill the scope reaches: the named probes failed with the fault in, its symptoms held, green after the reference fix. */
export function assertDrillsProven(r: HardwayStoryResult, expected: readonly string[]): void {
  const d = r.drills;
  assert.ok(d, 'the drill rounds ran (after a green repair)');
  for (const s of d.skipped) console.warn(`SKIPPED (inside this test): drill ${s.id}: it ${s.reason}`);
  assert.deepEqual(d.proofs.map((p) => p.id).sort(), [...expected].sort(), 'the drills this scope reaches');
  const wrong: string[] = [];
  for (const p of d.proofs) {
    if (p.error) wrong.push(`${p.id}: ${p.error}`);
    for (const f of p.failures) if (!f.seen) wrong.push(`${p.id}: ${f.step} did not fail /${f.probe}/${f.node ? ` on ${f.node}` : ''}`);
    for (const s of p.symptoms) if (!s.ok) wrong.push(`${p.id}: symptom "${s.name}" did not hold: ${s.seen}`);
    if (!p.solved) wrong.push(`${p.id}: not green after the reference fix: ${JSON.stringify(p.afterFix.filter((s) => !s.ok))}`);
    if (p.stopOutcome !== 'solved') wrong.push(`${p.id}: stopped as ${p.stopOutcome}`);
  }
  assert.deepEqual(wrong, []);
  // Each failing probe carries a hint that names a fix, as every checker's does.
  for (const p of d.proofs) for (const f of p.failures) assert.ok((f.seen?.hint ?? '').length > 10, `${p.id}: ${f.step} ${f.seen?.name} has a hint`);
}

/** etcd snapshot and restore: the wrong attempt fails where it went wrong; the right one passes every stage, with a new cluster id. */
export function assertRestoreExercise(r: HardwayStoryResult): void {
  const wrong = r.drills?.restoreWrong;
  const right = r.drills?.restore;
  assert.ok(wrong && right, 'both attempts ran');
  assert.equal(wrong.solved, false);
  if (r.drills!.restoreWrongKind === 'snapshot-before-namespace') {
    assert.equal(wrong.stages[0]?.passed, true, JSON.stringify(wrong.stages[0]));
    assert.equal(wrong.stages[1]?.passed, false, 'the restore from a snapshot taken before the namespace existed fails');
    const missing = wrong.stages[1]!.probes.find((p) => /namespace hwl-backup is back/.test(p.name));
    assert.equal(missing?.ok, false, JSON.stringify(wrong.stages[1]));
    assert.match(missing!.hint, /snapshot taken after the namespace existed/);
  } else {
    // The namespace deleted with no snapshot saved: stage 1 fails on the snapshot, not on the namespace.
    assert.equal(wrong.stages[0]?.passed, false, JSON.stringify(wrong.stages[0]));
    const snapshot = wrong.stages[0]!.probes.find((p) => /is a valid etcd snapshot/.test(p.name));
    assert.equal(snapshot?.ok, false, JSON.stringify(wrong.stages[0]));
    assert.match(snapshot!.hint, /snapshot save \/root\/etcd-backup\.db/);
    assert.equal(wrong.stages[0]!.probes.find((p) => /deleted/.test(p.name))?.ok, true, 'the namespace was deleted');
  }
  assert.equal(right.error, undefined, right.error);
  assert.deepEqual(right.stages.map((s) => s.passed), [true, true], JSON.stringify(right.stages, null, 1));
  assert.equal(right.solved, true);
  assert.ok(right.stages[1]!.probes.find((p) => /new cluster id/.test(p.name))?.ok, 'etcd was really restored');
}

/**
 * The dashboard and the checkers agree with the faults in place: the etcd member the etcd checker
 * names is the one the dashboard shows unhealthy (2 of 3, degraded, not down), and the stopped API
 * server the control-plane checker names is the one whose unit the dashboard shows inactive.
 */
export function assertDashboardAgrees(f: HardwayStoryResult['faults']): void {
  const d = f.dashboard;
  const etcd = byStep(f.sweep.checks, 'etcd');
  assert.ok(etcd.failing.some((p) => p.node === 'controller-2'), `the etcd checker names controller-2: ${JSON.stringify(etcd.failing)}`);
  assert.equal(d.etcd.health, 'degraded', d.etcd.detail);
  assert.match(d.etcd.detail, /^2\/3 members healthy \(not healthy: controller-2\)/);
  assert.equal(d.units['controller-2']?.etcd, 'inactive');
  const controlPlane = byStep(f.sweep.checks, 'control-plane');
  assert.ok(controlPlane.failing.some((p) => p.node === 'controller-1'), `the control-plane checker names controller-1: ${JSON.stringify(controlPlane.failing)}`);
  assert.equal(d.units['controller-1']?.['kube-apiserver'], 'inactive');
  for (const node of ['controller-0', 'controller-2']) assert.equal(d.units[node]?.['kube-apiserver'], 'active', `${node}'s API server runs`);
}

