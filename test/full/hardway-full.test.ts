// The hard-way steps on a real `ha` lab (lb + 3 controllers + 2 workers, qemu provider, inside a
// network namespace of its own), with Debian's etcd, haproxy, containerd, runc and CNI plugins as
// the artifacts. One lab, one story (see hardway-lab-scenarios.ts): kill -9 mid-step and resume,
// pod traffic only after the routes step, idempotent re-runs, the load balancer with stand-in API
// servers, real faults caught with their hints, and the engine repairing them.
//
// Steps that need Kubernetes server binaries (control-plane, rbac, admin-access, coredns,
// smoke-test) are skipped loudly unless HARDWAY_ARTIFACTS_DIR holds them; Debian packages none.
//
// Needs root, qemu-system-x86_64, mmdebstrap (the base image) and the Debian packages above.
// Under software emulation (TCG) this takes about 15–20 minutes on a quiet 2-core host (step and
// sweep times are printed); with KVM a few minutes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildBaseImage } from '../../main/image/build-image.ts';
import { fillArtifactsFromDebian } from '../../main/artifacts/fill-from-debian.ts';
import { ArtifactSet } from '../../main/artifacts/artifact-set.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import type { CompactCheck, HardwayStoryResult } from './hardway-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('./hardway-lab-scenarios.ts', import.meta.url));
const DEBIAN_PACKAGES = ['etcd-server', 'etcd-client', 'containerd', 'runc', 'containernetworking-plugins'];

function skipReason(): string | undefined {
  const netns = netnsUnavailableReason();
  if (netns) return netns;
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'mmdebstrap']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  const absent = DEBIAN_PACKAGES.filter((pkg) => spawnSync('dpkg-query', ['-W', '-f', '${db:Status-Status}', pkg], { encoding: 'utf8' }).stdout !== 'installed');
  if (absent.length) return `Debian packages missing: ${absent.join(', ')} (apt-get install ${absent.join(' ')})`;
  return undefined;
}

const skip = skipReason();
if (skip) console.warn(`SKIPPED: hard-way steps on VMs: ${skip}`);

/** The artifacts: Debian's packages from this host, plus Kubernetes binaries if the user has them. */
async function prepareArtifacts(): Promise<{ dir: string; versions: Record<string, string>; kube: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-steps-artifacts-'));
  const user = process.env.HARDWAY_ARTIFACTS_DIR;
  if (user && existsSync(user)) cpSync(user, dir, { recursive: true });
  const filled = await fillArtifactsFromDebian(dir, { log: (line) => console.log(`[artifacts] ${line}`) });
  const set = new ArtifactSet(dir, 'directory');
  if (!set.kubeBinaries) {
    console.warn(
      'SKIPPED (inside this test): steps control-plane, rbac, admin-access, coredns and smoke-test, and kubelet/kube-proxy in step workers — ' +
        'no Kubernetes server binaries; put kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet and kube-proxy into $HARDWAY_ARTIFACTS_DIR/bin to run them',
    );
  }
  return { dir, versions: filled.versions, kube: set.kubeBinaries };
}

const byStep = (checks: CompactCheck[], step: string) => checks.find((c) => c.step === step)!;
const KUBE_STEPS = ['control-plane', 'rbac', 'admin-access', 'coredns', 'smoke-test'];

test('hard-way steps on the ha preset: run, resume after kill -9, checkers catch real faults, the engine repairs', { skip, timeout: 60 * 60_000 }, async (t) => {
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const artifacts = await prepareArtifacts();
  const labDir = mkdtempSync(join(tmpdir(), 'hwl-steps-lab-'));
  const versions = { etcd: artifacts.versions.etcd!, containerd: artifacts.versions.containerd!, runc: artifacts.versions.runc!, cniPlugins: artifacts.versions.cniPlugins! };
  let r: HardwayStoryResult;
  try {
    r = await withNetworkNamespace('steps', async (ns) => {
      const previous = process.env.HARDWAY_IMAGE_CACHE;
      process.env.HARDWAY_IMAGE_CACHE = join(image.dir, '..');
      try {
        const run = await ns.runScenario<HardwayStoryResult>(SCENARIOS, 'hardwayStory', { labDir, artifactsDir: artifacts.dir, versions }, { timeoutMs: 55 * 60_000 });
        console.log(`the story took ${run.seconds} s`);
        assert.deepEqual(ns.pids(), [], 'no process left in the namespace');
        return run.result;
      } finally {
        if (previous === undefined) delete process.env.HARDWAY_IMAGE_CACHE;
        else process.env.HARDWAY_IMAGE_CACHE = previous;
      }
    });
  } finally {
    rmSync(artifacts.dir, { recursive: true, force: true });
  }
  console.log(`acceleration ${r.acceleration}; step seconds: ${JSON.stringify(r.stepSeconds)}; full check sweep (with faults) ${r.sweep.seconds} s`);

  await t.test('kill -9 during etcd, then up resumes at etcd without regenerating any certificate', () => {
    assert.equal(r.kill.statusAtKill.etcd, 'running');
    for (const done of ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config']) assert.equal(r.kill.statusAtKill[done], 'done', `${done} was done before the kill`);
    assert.equal(r.resumed.resumedAt, 'etcd');
    assert.equal(r.resumed.ok, true, JSON.stringify(r.resumed.states));
    assert.deepEqual(r.pkiAtEnd, r.pkiAtKill, 'no certificate or key regenerated, through the kill, the resume and the repairs');
    assert.ok(Object.keys(r.pkiAtKill).length > 20);
  });

  await t.test('stand-in pods on two workers cannot talk before the routes step', () => {
    const before = r.podRoutesBeforeRoutes;
    assert.equal(before.ok, false);
    const traffic = before.failing.filter((p) => p.name.startsWith('pod traffic'));
    assert.deepEqual(traffic.map((p) => p.name), ['pod traffic worker-0 → worker-1', 'pod traffic worker-1 → worker-0']);
    assert.match(traffic[0]!.seen, /100% packet loss|unreachable/i);
    assert.ok(before.failing.some((p) => p.node === 'worker-0' && p.name === "route to worker-1's pods" && p.seen === 'no route'));
  });

  await t.test('full up: every checker passes; the kube steps are skipped, loudly, only without kube binaries', () => {
    assert.equal(r.fullUp.ok, true, JSON.stringify(r.fullUp.checks.filter((c) => !c.ok && !c.skipped), null, 1));
    // It resumes at the first step after `--until workers` that never ran (admin-access, skipped
    // without kube binaries) — or earlier, if a checker of a done step failed meanwhile.
    const order = ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config', 'etcd', 'control-plane', 'rbac', 'load-balancer', 'workers', 'admin-access'];
    assert.ok(order.includes(r.fullUp.resumedAt ?? ''), `resumed at ${r.fullUp.resumedAt}`);
    assert.equal(r.fullUp.states.find((s) => s.id === 'pod-routes')?.status, 'done');
    for (const check of r.fullUp.checks) {
      if (KUBE_STEPS.includes(check.step) && !artifacts.kube) {
        assert.match(check.skipped ?? '', /Kubernetes server binaries/, `${check.step} skipped with the reason`);
      } else {
        assert.equal(check.ok, true, `${check.step}: ${JSON.stringify(check.failing)}`);
        assert.ok(check.probes > 0);
      }
    }
    // The routes checker proves traffic now flows both ways.
    // ha: 10 routes (lb 2, controllers 2 each, workers 1 each), 6 "survive a reboot", traffic both ways.
    assert.equal(byStep(r.fullUp.checks, 'pod-routes').probes, 18);
  });

  await t.test('re-running finished steps changes nothing', () => {
    for (const rerun of r.rerun) {
      assert.equal(rerun.ok, true, `${rerun.step} still passes`);
      assert.deepEqual(rerun.changes, [], `${rerun.step} changed nothing`);
    }
    assert.deepEqual(r.pidsAfter, r.pidsBefore, 'etcd, containerd and haproxy were not restarted');
    for (const [unit, pid] of Object.entries(r.pidsBefore)) assert.ok(Number(pid) > 0, `${unit} runs`);
  });

  await t.test('load balancer: every backend UP and /version through the LB; a backend failing /readyz is named', () => {
    const allUp = r.lb.allUp;
    assert.equal(allUp.ok, true, JSON.stringify(allUp.failing));
    const oneFailing = r.lb.oneFailing;
    assert.equal(oneFailing.ok, false);
    const down = oneFailing.failing.find((p) => p.name === 'backend UP')!;
    assert.equal(down.node, 'controller-1');
    // haproxy reports the 503 stand-in as "Layer7 wrong status" (L7STS).
    assert.match(down.seen, /DOWN.*L7STS/);
    assert.match(down.hint, /answers but haproxy's check \(GET \/readyz over TLS\) fails/);
    assert.equal(r.lb.standInsGone.ok, true, 'without API servers (and without kube binaries) DOWN backends are expected');
  });

  await t.test('faults are caught, each with its hint', () => {
    const etcd = byStep(r.faults, 'etcd');
    assert.equal(etcd.ok, false);
    const stopped = etcd.failing.filter((p) => p.node === 'controller-1').map((p) => p.name);
    assert.ok(stopped.includes('etcd unit active') && stopped.includes('endpoint health over TLS'), JSON.stringify(etcd.failing));
    assert.match(etcd.failing.find((p) => p.name === 'etcd unit active')!.hint, /on controller-1: `systemctl start etcd`/);
    assert.ok(!etcd.failing.some((p) => p.name === 'exactly one leader'), 'two members still have a leader');

    const certs = byStep(r.faults, 'certificates');
    const find = (node: string, name: string) => certs.failing.find((p) => p.node === node && p.name === name);
    assert.match(find('controller-0', '/var/lib/kubernetes/kube-apiserver.crt: SAN IP:10.240.0.10')?.hint ?? '', /not 10\.240\.0\.10/);
    assert.match(find('worker-0', '/var/lib/kubelet/kubelet.crt: usage clientAuth')?.hint ?? '', /system:node:worker-0 logs in with this certificate as a client/);
    assert.match(find('controller-0', '/var/lib/kubernetes/apiserver-etcd-client.crt: key matches certificate')?.seen ?? '', /another certificate/);
    assert.ok(find('controller-0', '/var/lib/kubernetes/apiserver-etcd-client.key present'));

    const routes = byStep(r.faults, 'pod-routes');
    const lost = routes.failing.find((p) => p.node === 'controller-1');
    assert.equal(lost?.name, "route to worker-1's pods");
    assert.match(lost!.hint, /ip route add 10\.200\.1\.0\/24 via 10\.240\.0\.22/);

    // Nothing else was broken, and nothing else is reported.
    for (const check of r.faults) {
      if (!['etcd', 'certificates', 'pod-routes'].includes(check.step)) assert.ok(check.ok || check.skipped, `${check.step}: ${JSON.stringify(check.failing)}`);
    }
  });

  await t.test('up repairs the faults: it resumes at the first failing step and ends green', () => {
    assert.equal(r.repaired.resumedAt, 'certificates');
    assert.equal(r.repaired.ok, true, JSON.stringify({ failedSteps: r.repaired.states.filter((s) => s.status === 'failed'), failingChecks: r.repaired.checks.filter((c) => !c.ok && !c.skipped) }, null, 1));
    for (const c of r.repaired.checks) assert.ok(c.ok || c.skipped, `${c.step} after repair: ${JSON.stringify(c.failing)}`);
    assert.equal(r.repaired.checks.length, 14, 'the final table has every step');
  });

  await t.test('destroy leaves nothing behind', () => {
    assert.deepEqual(r.leftovers.qemuProcesses, []);
    assert.deepEqual(r.leftovers.diskFiles, []);
  });

  const stateFile = join(labDir, 'state.json');
  if (existsSync(stateFile)) console.log(`state.json kept in ${labDir}: ${readFileSync(stateFile, 'utf8').length} bytes`);
  rmSync(labDir, { recursive: true, force: true });
});
