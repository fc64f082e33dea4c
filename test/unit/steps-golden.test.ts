// The node-side checkers on what their facts scripts really printed on a lab: test/unit/golden/
// SCRIPT@NODE.txt, captured with scripts/capture-golden.ts from an `ha` lab (3 controllers behind
// the LB, 2 workers, 1 vCPU each, every binary built from its Go module) under TCG on a 2-core host.
// That lab was loaded to its limit when these were taken: etcd answered health checks after 7-10 s,
// the controller managers had lost and retaken their leases many times, and two API servers'
// /readyz said etcd was failing or did not answer in 15 s. The tests judge exactly that: what
// passes there must pass, and what is broken must be named with its cause.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { parseSections } from '../../main/engine/shell.ts';
import { etcdProbes } from '../../main/checkers/etcd-cluster.ts';
import { controlPlaneProbes, leaseProbes, rbacProbes } from '../../main/checkers/control-plane.ts';
import { plainSecrets } from '../../main/checkers/cluster.ts';
import { workerProbes } from '../../main/checkers/workers.ts';
import { parseUnitHealth } from '../../main/checkers/unit-health.ts';
import type { Probe } from '../../main/shared/engine-types.ts';

const golden = (name: string) => readFileSync(new URL(`./golden/${name}.txt`, import.meta.url), 'utf8');
const plan = buildPlan(parseSpec(defaultSpecText(), 't.yaml', { hostMemoryMiB: 256 * 1024 }).spec);
const node = (name: string) => plan.nodes.find((n) => n.name === name)!;
const controllers = plan.nodes.filter((n) => n.role === 'controller');
const failing = (probes: Probe[]) => probes.filter((p) => !p.ok);

/** The unit files' hashes as the capture shows them: the files the lab had installed. */
function filesAsCaptured(output: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (parseSections(output).get('unit-files') ?? '').split('\n')) {
    const m = /^([0-9a-f]{64})\s+(\S+)$/.exec(line.trim());
    if (m) out[m[2]!] = m[1]!;
  }
  return out;
}

test('golden etcd 3.6.16: three members over mutual TLS, one leader, plain HTTP and cert-less clients refused', () => {
  const members = controllers.map((n) => ({ node: n, output: golden(`etcd-member-facts@${n.name}`) }));
  const probes = etcdProbes(plan, members, { askedFrom: 'controller-0', output: golden('etcd-cluster-facts@controller-0') });
  assert.deepEqual(failing(probes), []);
  assert.match(probes.find((p) => p.name === 'exactly one leader')!.seen, /controller-0 leads \(3 of 3 members answered, all agree\)/);
  assert.equal(probes.filter((p) => p.name === 'etcd version' || p.name === 'etcd unit active').length, 6);

  // The same member stopped (what `systemctl stop etcd` leaves for the member script).
  const stopped = members.map((m) => (m.node.name === 'controller-2' ? { ...m, output: m.output.replace('==> active\nactive', '==> active\ninactive') } : m));
  const bad = failing(etcdProbes(plan, stopped, { askedFrom: 'controller-0', output: golden('etcd-cluster-facts@controller-0') }));
  assert.deepEqual(bad.map((p) => `${p.node} ${p.name}`), ['controller-2 etcd unit active']);
  assert.match(bad[0]!.hint, /on controller-2: `systemctl start etcd`/);
  // A member running another version than the spec pins.
  const olderPlan = buildPlan(parseSpec(defaultSpecText().replace(/\betcd: \S+/, 'etcd: 3.5.21'), 't.yaml', { hostMemoryMiB: 256 * 1024 }).spec);
  const older = failing(etcdProbes(olderPlan, members.map((m) => ({ ...m, node: olderPlan.nodes.find((n) => n.name === m.node.name)! })), { askedFrom: 'controller-0', output: golden('etcd-cluster-facts@controller-0') }));
  assert.ok(older.length >= 3 && older.every((p) => /version/.test(p.name) && /3\.6\.16/.test(p.seen)), JSON.stringify(older.map((p) => [p.name, p.seen])));
});

test('golden control plane under load: units running (restarts shown), version and files as planned, /readyz names etcd, leases unreadable', () => {
  const out0 = golden('control-plane-facts@controller-0');
  const probes = controlPlaneProbes(plan, node('controller-0'), out0, filesAsCaptured(out0));
  const bad = failing(probes);
  assert.deepEqual(bad.map((p) => p.name), ['/readyz']);
  assert.match(bad[0]!.seen, /\[-\]etcd failed/);
  assert.match(bad[0]!.hint, /runs but is not ready.*readyz\?verbose/);
  for (const unit of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) assert.equal(probes.find((p) => p.name === `${unit} active`)!.ok, true, unit);
  // A controller manager that lost its lease exits and systemd starts it again: running, but counted.
  assert.match(probes.find((p) => p.name === 'kube-controller-manager active')!.seen, /restarted 11 times by systemd; last error: .*leaderelection lost/);
  assert.equal(probes.find((p) => p.name === 'kube-apiserver version')!.seen, plan.versions.kubernetes);
  assert.equal(probes.find((p) => p.name === 'kube-apiserver encrypts secrets')!.ok, true);

  // A unit file edited by hand on the node.
  const edited = { ...filesAsCaptured(out0), '/etc/systemd/system/kube-apiserver.service': 'f'.repeat(64) };
  assert.ok(failing(controlPlaneProbes(plan, node('controller-0'), out0, edited)).some((p) => p.name === '/etc/systemd/system/kube-apiserver.service as planned' && p.seen === 'changed on the node'));

  // controller-1's API server did not answer /readyz within curl's 15 s.
  const out1 = golden('control-plane-facts@controller-1');
  const readyz1 = failing(controlPlaneProbes(plan, node('controller-1'), out1, filesAsCaptured(out1))).find((p) => p.name === '/readyz')!;
  assert.match(readyz1.seen, /Connection timed out/);

  // The lease query timed out: both leases fail, and the hint points at the API server, not at a missing leader.
  const units = controllers.map((c) => ({ node: c.name, output: golden(`control-plane-facts@${c.name}`) }));
  const leases = leaseProbes(out0, 'controller-0', units);
  assert.deepEqual(leases.map((p) => p.ok), [false, false]);
  assert.match(leases[0]!.seen, /Unable to connect to the server/);
  assert.match(leases[0]!.hint, /did not answer the lease query.*readyz/);
  // The same capture with the answer a healthy API server gives: held by running holders.
  const answered = out0.replace(/==> leases\n[\s\S]*$/, `==> leases\nkube-controller-manager controller-2_1c0e kube-scheduler\nkube-scheduler controller-1_9f2a ${new Date((1796222308 - 4) * 1000).toISOString()}\n`)
    .replace('kube-controller-manager controller-2_1c0e kube-scheduler', `kube-controller-manager controller-2_1c0e ${new Date((1796222308 - 2) * 1000).toISOString()}`);
  assert.deepEqual(failing(leaseProbes(answered, 'controller-0', units)), []);
});

test('golden RBAC: the API server\'s kubelet-client identity may reach every kubelet subresource', () => {
  assert.deepEqual(failing(rbacProbes('kube-apiserver-kubelet-client', golden('rbac-facts@controller-0'), 'controller-0')), []);
});

test('golden secrets at rest: the script ran; no secret stored yet before the smoke test', () => {
  assert.deepEqual(plainSecrets(golden('secrets-at-rest@controller-0')), { keys: 0, plain: [] });
});

test('golden worker: containerd 2.4.2, runc 1.5.3, crictl, CNI 1.10, the lab images imported and pause pinned, kubelet and kube-proxy running', () => {
  const out = golden('worker-facts@worker-0');
  const images = Object.values(plan.images);
  const probes = workerProbes(plan, node('worker-0'), out, { kubeBinaries: true, images });
  assert.deepEqual(failing(probes), []);
  assert.equal(probes.filter((p) => p.name.startsWith('image ')).length, 4);
  assert.ok(probes.some((p) => p.name === 'sandbox image pinned' && p.ok));
  assert.equal(parseUnitHealth(parseSections(out), 'kubelet')?.active, 'active');

  const broken = out
    .replace('br_netfilter loaded', 'br_netfilter missing')
    .replace('net.ipv4.ip_forward=1', 'net.ipv4.ip_forward=0')
    .replace(/Server:\n {2}Version: {2}v2\.4\.2\n/, 'ctr: failed to dial "/run/containerd/containerd.sock": connection refused\n')
    .replace('"subnet": "10.200.0.0/24"', '"subnet": "10.200.1.0/24"')
    .replace(/^loopback .*$/m, 'loopback missing')
    .replace(/==> pinned-images\n.*\n?/, '==> pinned-images\n')
    .replace('hardway-lab.local/nginx:debian\n', '')
    .replace(/(==> unit:kube-proxy\n[\s\S]*?)ActiveState=active\nSubState=running/, '$1ActiveState=inactive\nSubState=dead');
  const bad = failing(workerProbes(plan, node('worker-0'), broken, { kubeBinaries: true, images }));
  assert.deepEqual(bad.map((p) => p.name), [
    'kernel module br_netfilter',
    'sysctl net.ipv4.ip_forward',
    'ctr version reaches containerd',
    'CNI bridge config',
    'CNI plugin loopback',
    `image ${plan.images.nginx}`,
    'sandbox image pinned',
    'kube-proxy active',
  ]);
  assert.match(bad.find((p) => p.name === 'sandbox image pinned')!.hint, /pinned_images/);
  assert.match(bad.find((p) => p.name === 'CNI bridge config')!.seen, /subnet 10\.200\.1\.0\/24/);

  // Binaries at other versions than the spec pins.
  const older = buildPlan(parseSpec(defaultSpecText().replace(/\bcontainerd: \S+/, 'containerd: 2.1.4').replace(/\bcrictl: \S+/, 'crictl: 1.33.0'), 't.yaml', { hostMemoryMiB: 256 * 1024 }).spec);
  const versions = failing(workerProbes(older, older.nodes.find((n) => n.name === 'worker-0')!, out, { kubeBinaries: true, images }));
  assert.deepEqual(versions.map((p) => `${p.name}: ${p.seen}`), ['containerd version: 2.4.2', 'crictl version: 1.37.0']);
});

test('golden captures carry no key material', () => {
  for (const name of ['etcd-cluster-facts@controller-0', 'control-plane-facts@controller-0', 'worker-facts@worker-0', 'rbac-facts@controller-0']) {
    const text = golden(name);
    assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE|token:/);
  }
});
