// Full tier (opt-in: `npm test -- full`): the hard way on real VMs, all of Kubernetes: 3
// controllers behind the LB and 2 workers (1 vCPU each; HWL_HA_SIZES=1 for the preset's own 2
// vCPU / 2 GiB), qemu provider in a network namespace of its own, every binary built from its Go
// module and the lab's own images. The story (../integration/hardway-lab-scenarios.ts, scope
// `full`): kill -9 mid-step and resume, all 14 steps green, idempotent re-runs, the UI on the
// running cluster, real faults caught with the hints that name their fixes, and `up` repairing them.
// The default run does the control-plane part of it (../integration/hardway-steps.test.ts).
//
// Measured on the 2-core CI host under TCG: about 45 minutes for `up` alone (control-plane ~15,
// workers ~13 min), and a loaded cluster of six VMs there can starve haproxy's health checks and
// SSH handshakes; with KVM it is a fraction of that. HWL_CAPTURE_GOLDEN=1 also refreshes
// test/unit/golden/ from the green lab.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { findBaseImage } from '../../main/image/build-image.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import { loadBalancerDebsReason, testArtifacts } from '../helpers/lab-artifacts.ts';
import { chromiumUnavailableReason, SCREENSHOTS } from '../e2e/support/chromium.ts';
import type { CompactCheck, CompactProbe, HardwayStoryResult } from '../integration/hardway-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('../integration/hardway-lab-scenarios.ts', import.meta.url));
const built = testArtifacts();

async function skipReason(): Promise<string | undefined> {
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

const skip = await skipReason();
if (skip) console.warn(`SKIPPED: the hard way on VMs: ${skip}`);
const noUi = chromiumUnavailableReason();
if (!skip && noUi) console.warn(`SKIPPED (inside this test): the UI on the running cluster: ${noUi}`);

const byStep = (checks: CompactCheck[], step: string) => checks.find((c) => c.step === step)!;
const find = (c: CompactCheck, name: string, node?: string): CompactProbe | undefined => c.failing.find((p) => p.name === name && (node === undefined || p.node === node));
const names = (c: CompactCheck) => c.failing.map((p) => `${p.node ?? '-'} ${p.name}`);

test('the hard way on 3 controllers behind the LB and 2 workers: all 14 steps green, the UI on it, faults caught with their hints, `up` repairs', { skip, timeout: 180 * 60_000 }, async (t) => {
  const labDir = mkdtempSync(join(tmpdir(), 'hwl-steps-lab-'));
  const r = await withNetworkNamespace('steps', async (ns) => {
    const run = await ns.runScenario<HardwayStoryResult>(SCENARIOS, 'hardwayStory', { labDir, artifactsDir: built.artifacts!.root, ui: !noUi, screenshots: SCREENSHOTS, scope: 'full', shape: process.env.HWL_HA_SIZES ? 'ha' : 'small' }, { timeoutMs: 175 * 60_000 });
    console.log(`the story took ${run.seconds} s`);
    assert.deepEqual(ns.pids(), [], 'no process left in the namespace');
    return run.result;
  });
  console.log(
    `acceleration ${r.acceleration}, waits scaled by ${r.timingScale}; API servers ready after ${JSON.stringify(r.apiserverReadySeconds)} s; ` +
      `step seconds: ${JSON.stringify(r.stepSeconds)}; re-runs: ${JSON.stringify(r.rerun.map((x) => [x.step, x.seconds]))}; ` +
      `UI ${r.ui?.seconds ?? '-'} s; sweep with every fault ${r.faults.sweep.seconds} s; repair ${r.repaired.seconds} s`,
  );

  await t.test('kill -9 during etcd, then up resumes at etcd without regenerating any certificate', () => {
    assert.equal(r.scope, 'full');
    assert.equal(r.kill.statusAtKill.etcd, 'running');
    for (const done of ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config']) assert.equal(r.kill.statusAtKill[done], 'done', `${done} was done before the kill`);
    assert.equal(r.resumed.resumedAt, 'etcd');
    assert.equal(r.resumed.ok, true, JSON.stringify(r.resumed.states));
    assert.deepEqual(r.pkiAtEnd, r.pkiAtKill, 'no certificate or key regenerated, through the kill, the resume and the repairs');
    assert.ok(Object.keys(r.pkiAtKill).length > 20);
  });

  await t.test('the control plane came up one API server at a time, each ready', () => {
    assert.deepEqual(Object.keys(r.apiserverReadySeconds).sort(), ['controller-0', 'controller-1', 'controller-2']);
    for (const [node, s] of Object.entries(r.apiserverReadySeconds)) assert.ok(s >= 0 && s < 1800, `${node}: ${s} s`);
  });

  await t.test('stand-in pods on two workers cannot talk before the routes step', () => {
    const before = r.podRoutesBeforeRoutes!;
    assert.equal(before.ok, false);
    const traffic = before.failing.filter((p) => p.name.startsWith('pod traffic'));
    assert.deepEqual(traffic.map((p) => p.name), ['pod traffic worker-0 → worker-1', 'pod traffic worker-1 → worker-0']);
    assert.match(traffic[0]!.seen, /100% packet loss|unreachable/i);
  });

  await t.test('full up: every one of the 14 checkers passes, none skipped, the smoke test included', () => {
    assert.equal(r.fullUp.ok, true, JSON.stringify(r.fullUp.checks.filter((c) => !c.ok), null, 1));
    assert.equal(r.fullUp.checks.length, 14);
    for (const check of r.fullUp.checks) {
      assert.equal(check.skipped, undefined, `${check.step} ran`);
      assert.equal(check.ok, true, `${check.step}: ${JSON.stringify(check.failing)}`);
      assert.ok(check.probes > 0);
    }
    // ha: 10 routes, 6 "survive a reboot", traffic both ways.
    assert.equal(byStep(r.fullUp.checks, 'pod-routes').probes, 18);
    // The smoke test: encryption at rest, deployment, port-forward, logs, exec, NodePort on both workers, the LB, nodes Ready.
    assert.ok(byStep(r.fullUp.checks, 'smoke-test').probes >= 11);
  });

  await t.test('re-running finished steps changes nothing', () => {
    for (const rerun of r.rerun) {
      assert.equal(rerun.ok, true, `${rerun.step} still passes`);
      assert.deepEqual(rerun.changes, [], `${rerun.step} changed nothing`);
    }
    assert.deepEqual(r.pidsAfter, r.pidsBefore, 'etcd, the API servers, schedulers, containerd, kubelets, kube-proxies and haproxy were not restarted');
    for (const [unit, pid] of Object.entries(r.pidsBefore)) assert.ok(Number(pid) > 0, `${unit} runs`);
  });

  await t.test('the UI on the running cluster: API ready through the LB, workers Ready, a Kubernetes checker from the walkthrough', { skip: noUi }, () => {
    assert.equal(r.uiError, undefined, r.uiError);
    const ui = r.ui!;
    assert.match(ui.dashboard!.api, /ready/);
    assert.match(ui.dashboard!.apiDetail, /https:\/\/10\.240\.0\.10:6443/);
    assert.match(ui.dashboard!.kubeNodes, /2\/2 Ready/);
    assert.match(ui.dashboard!.kubeNodeList, /worker-0.*Ready.*worker-1.*Ready/s);
    for (const [node, state] of Object.entries(ui.dashboard!.nodeStates)) assert.match(state, /\bok\b/, `${node} is healthy on the dashboard`);
    assert.equal(ui.hostnameSeen, 'controller-0');
    assert.equal(ui.kubeCheck?.verdict, 'passed', JSON.stringify(ui.kubeCheck));
    assert.ok((ui.kubeCheck?.probes ?? 0) > 20);
    assert.equal(ui.rerun?.status, 'done');
    assert.deepEqual(ui.pageErrors.filter((e) => !/Failed to load resource/.test(e)), []);
  });

  const f = r.faults;
  await t.test('an API server stopped: the checker names it, the LB marks it DOWN, the API still answers through the LB', () => {
    const cp = f.apiserverStopped.controlPlane;
    const stopped = find(cp, 'kube-apiserver active', 'controller-1');
    assert.ok(stopped, JSON.stringify(cp.failing));
    assert.match(stopped!.seen, /inactive/);
    assert.match(stopped!.hint, /kube-apiserver is stopped on controller-1: `systemctl start kube-apiserver` there/);
    assert.match(find(cp, '/readyz', 'controller-1')!.hint, /clients still reach the API through the load balancer/);
    assert.ok(find(f.apiserverStopped.loadBalancer, 'backend UP', 'controller-1'), JSON.stringify(f.apiserverStopped.loadBalancer.failing));
    assert.equal(f.apiserverStopped.viaLb.code, 0, `kubectl through the LB still works: ${f.apiserverStopped.viaLb.output}`);
  });

  await t.test('the scheduler lease holder stopped: the checker says so, and the lease moves to a running scheduler', () => {
    const { node, immediately, moved, newHolder } = f.leaseHolderStopped;
    const unit = find(immediately, 'kube-scheduler active', node);
    assert.ok(unit, JSON.stringify(immediately.failing));
    const lease = find(immediately, 'kube-scheduler lease held');
    if (lease) {
      // Asked before the lease expired: it names the stopped holder and who takes over.
      assert.match(lease.seen, new RegExp(`holder ${node}.*not running there`));
      assert.match(lease.hint, /will take the lease over within ~30 s/);
    }
    assert.equal(find(moved, 'kube-scheduler lease held'), undefined, `the lease moved (after ${moved.waitedS} s)`);
    assert.ok(newHolder && newHolder !== node, `new holder ${newHolder}`);
    assert.ok(find(moved, 'kube-scheduler active', node), 'the stopped scheduler is still reported');
  });

  await t.test('a secret written through an API server without its encryption config: plain in etcd, and the checkers say so', () => {
    const cp = f.plainSecret.controlPlane;
    assert.match(find(cp, 'kube-apiserver encrypts secrets', 'controller-0')!.hint, /stored in plain text/);
    assert.ok(find(cp, '/etc/systemd/system/kube-apiserver.service as planned', 'controller-0'));
    const every = find(f.plainSecret.smoke, 'every secret encrypted at rest')!;
    assert.match(every.seen, /stored in plain text: default\/hwl-written-in-plain-text/);
    assert.match(every.hint, /kubectl replace/);
    assert.equal(find(f.plainSecret.smoke, 'secret encrypted at rest'), undefined, 'the smoke test\'s own secret is still encrypted');
  });

  await t.test('a kubelet stopped: that node NotReady; kube-proxy stopped with its rules gone: the NodePort fails, the hint names kube-proxy', () => {
    const n = f.nodes!;
    const notReady = find(n.kubeletStopped, 'node registered and Ready', n.otherNode)!;
    assert.equal(notReady.seen, 'NotReady', `after ${n.kubeletStopped.waitedS} s`);
    assert.ok(find(n.workers, 'kubelet active', n.otherNode));
    assert.ok(find(n.workers, 'kube-proxy active', n.podNode));
    const nodePort = find(n.smoke, 'NodePort reachable', n.podNode)!;
    assert.ok(nodePort, JSON.stringify(n.smoke.failing));
    assert.match(nodePort.hint, new RegExp(`kube-proxy on ${n.podNode}`));
  });

  await t.test('CoreDNS at 0 replicas: the in-pod lookup fails; the API server → kubelet RBAC removed: logs and exec fail with the rbac hint', () => {
    const n = f.nodes!;
    assert.ok(find(n.coredns, 'coredns deployment available'));
    assert.ok(find(n.coredns, 'a pod resolves "kubernetes"'));
    assert.deepEqual(n.rbac.failing.map((p) => p.name), ['proxy', 'stats', 'log', 'spec', 'metrics'].map((s) => `kube-apiserver-kubelet-client may get nodes/${s}`));
    for (const name of ['logs', 'exec']) assert.match(find(n.smoke, name)?.hint ?? '', /Forbidden.*hardway-lab check rbac/, `${name}: ${JSON.stringify(n.smoke.failing)}`);
  });

  await t.test('every fault at once: each step fails exactly where it was broken, with its hint', () => {
    const sweep = f.sweep.checks;
    assert.equal(sweep.length, 14);
    for (const ok of ['preflight', 'compute', 'kubeconfigs', 'encryption-config']) assert.equal(byStep(sweep, ok).ok, true, `${ok}: ${JSON.stringify(byStep(sweep, ok).failing)}`);
    const etcd = byStep(sweep, 'etcd');
    assert.match(find(etcd, 'etcd unit active', 'controller-2')!.hint, /on controller-2: `systemctl start etcd`/);
    assert.ok(!find(etcd, 'exactly one leader'), 'two members still have a leader');
    const certs = byStep(sweep, 'certificates');
    assert.match(find(certs, '/var/lib/kubernetes/kube-apiserver.crt: SAN IP:10.240.0.10', 'controller-1')?.hint ?? '', /not 10\.240\.0\.10/);
    assert.match(find(certs, '/var/lib/kubelet/kubelet.crt: usage clientAuth', 'worker-0')?.hint ?? '', /system:node:worker-0 logs in with this certificate as a client/);
    assert.match(find(certs, '/var/lib/kubernetes/apiserver-etcd-client.crt: key matches certificate', 'controller-1')?.seen ?? '', /another certificate/);
    const routes = byStep(sweep, 'pod-routes');
    assert.match(find(routes, "route to worker-1's pods", 'controller-1')!.hint, /ip route add 10\.200\.1\.0\/24 via 10\.240\.0\.22/);
    for (const broken of ['control-plane', 'rbac', 'load-balancer', 'workers', 'admin-access', 'coredns', 'smoke-test']) assert.equal(byStep(sweep, broken).ok, false, `${broken} is broken`);
    for (const check of sweep) for (const p of check.failing) assert.ok(p.hint.length > 10, `${check.step}: ${p.node ?? '-'} ${p.name} has a hint`);
    console.log(`failing probes with every fault in place: ${JSON.stringify(Object.fromEntries(sweep.filter((c) => !c.ok).map((c) => [c.step, names(c)])))}`);
  });

  await t.test('up repairs every fault: it resumes at the first failing step and ends green', () => {
    assert.equal(r.repaired.resumedAt, 'certificates');
    assert.equal(r.repaired.ok, true, JSON.stringify({ failedSteps: r.repaired.states.filter((s) => s.status === 'failed'), failingChecks: r.repaired.checks.filter((c) => !c.ok) }, null, 1));
    assert.equal(r.repaired.checks.length, 14, 'the final table has every step');
    for (const c of r.repaired.checks) assert.ok(c.ok && !c.skipped, `${c.step} after repair: ${JSON.stringify(c.failing)}`);
  });

  await t.test('destroy leaves nothing behind', () => {
    assert.deepEqual(r.leftovers.qemuProcesses, []);
    assert.deepEqual(r.leftovers.diskFiles, []);
  });

  const stateFile = join(labDir, 'state.json');
  if (existsSync(stateFile)) console.log(`state.json kept in ${labDir}: ${readFileSync(stateFile, 'utf8').length} bytes`);
  rmSync(labDir, { recursive: true, force: true });
});
