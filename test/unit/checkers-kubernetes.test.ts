// The Kubernetes checkers (steps control-plane, rbac, admin-access, coredns, smoke-test) judged from outputs in the formats the real
// tools print: systemd's `systemctl show` key=value lines (lib-unit-health.sh), kubectl's lease
// jsonpath and node/deployment JSON, busybox 1.35's nslookup, etcdctl's keys. The outputs captured
// whole from a green lab are in test/unit/golden/ (steps-golden.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { parseSections } from '../../main/engine/shell.ts';
import { describeUnit, parseUnitHealth, unitProbe } from '../../main/checkers/unit-health.ts';
import { ENCRYPTION_FLAG, controlPlaneProbes, leaseProbes, rbacProbes } from '../../main/checkers/control-plane.ts';
import { adminAccessProbes, corednsProbes, nslookupAnswer, plainSecrets, smokeProbes, type CommandOutcome, type SmokeFacts } from '../../main/checkers/cluster.ts';
import type { Probe } from '../../main/shared/engine-types.ts';

const plan = buildPlan(parseSpec(defaultSpecText(), 't.yaml', { hostMemoryMiB: 256 * 1024 }).spec);
const failing = (probes: Probe[]) => probes.filter((p) => !p.ok);
const ok = (stdout: string): CommandOutcome => ({ code: 0, stdout, stderr: '' });
const failed = (stderr: string, code = 1): CommandOutcome => ({ code, stdout: '', stderr });

function unitBlock(unit: string, state: { active: string; sub: string; restarts?: number; error?: string }): string {
  return [
    `==> unit:${unit}`,
    `ActiveState=${state.active}`,
    `SubState=${state.sub}`,
    `NRestarts=${state.restarts ?? 0}`,
    'ExecMainStatus=0',
    'ActiveEnterTimestampMonotonic=100000000',
    'MonotonicNow=160000000',
    ...(state.error ? [`LastError=${state.error}`] : []),
  ].join('\n');
}

const RUNNING = { active: 'active', sub: 'running' };
const BOOTSTRAP_ERROR = 'F1202 13:01:07.123456    1234 hooks.go:204] PostStartHook "rbac/bootstrap-roles" failed: unable to initialize roles: timed out waiting for the condition';

test('unit health: state, restarts and the last error; a crash loop is not "running"', () => {
  const s = parseSections(`${unitBlock('kubelet', RUNNING)}\n${unitBlock('kube-apiserver', { active: 'activating', sub: 'auto-restart', restarts: 4, error: BOOTSTRAP_ERROR })}\n`);
  const kubelet = parseUnitHealth(s, 'kubelet')!;
  assert.deepEqual(kubelet, { unit: 'kubelet', active: 'active', sub: 'running', restarts: 0, activeForS: 60, lastError: undefined });
  assert.equal(describeUnit(kubelet), 'active');
  const api = parseUnitHealth(s, 'kube-apiserver')!;
  assert.equal(api.restarts, 4);
  assert.equal(describeUnit(api), `activating (auto-restart); restarted 4 times by systemd; last error: ${BOOTSTRAP_ERROR}`);
  const p = unitProbe('kube-apiserver', api, 'controller-1', 'fix it');
  assert.equal(p.ok, false);
  assert.match(p.seen, /rbac\/bootstrap-roles/);
  assert.equal(parseUnitHealth(s, 'kube-proxy'), undefined);
  assert.equal(describeUnit(undefined), 'unknown (no answer)');
});

function controlPlaneOutput(o: { api?: Parameters<typeof unitBlock>[1]; readyz?: string; flags?: string[] } = {}): string {
  return [
    unitBlock('kube-apiserver', o.api ?? RUNNING),
    unitBlock('kube-controller-manager', RUNNING),
    unitBlock('kube-scheduler', RUNNING),
    '==> version',
    `{"major":"1","minor":"36","gitVersion":"v${plan.versions.kubernetes}"}`,
    '==> readyz',
    o.readyz ?? 'ok',
    '==> apiserver-flags',
    ...(o.flags ?? ['--advertise-address=10.240.0.11', ENCRYPTION_FLAG, '--etcd-servers=https://10.240.0.11:2379']),
    '==> unit-files',
    `${'a'.repeat(64)}  /etc/systemd/system/kube-apiserver.service`,
    '',
  ].join('\n');
}

test('control plane: a healthy controller passes; a crash loop shows its last fatal line; a stopped server says the LB still answers', () => {
  const c0 = plan.nodes.find((n) => n.name === 'controller-0')!;
  const expected = { '/etc/systemd/system/kube-apiserver.service': 'a'.repeat(64) };
  assert.deepEqual(failing(controlPlaneProbes(plan, c0, controlPlaneOutput(), expected)), []);

  const loop = failing(controlPlaneProbes(plan, c0, controlPlaneOutput({ api: { active: 'activating', sub: 'auto-restart', restarts: 5, error: BOOTSTRAP_ERROR }, readyz: '' }), expected));
  assert.deepEqual(loop.map((p) => p.name), ['kube-apiserver active', '/readyz']);
  assert.match(loop[0]!.seen, /restarted 5 times.*PostStartHook "rbac\/bootstrap-roles" failed/);
  assert.match(loop[0]!.hint, /keeps crashing on controller-0.*hardway-lab check etcd/);

  const stopped = failing(controlPlaneProbes(plan, c0, controlPlaneOutput({ api: { active: 'inactive', sub: 'dead' }, readyz: '' }), expected));
  assert.match(stopped[0]!.hint, /kube-apiserver is stopped on controller-0: `systemctl start kube-apiserver` there/);
  assert.match(stopped[1]!.hint, /clients still reach the API through the load balancer/);

  const notReady = failing(controlPlaneProbes(plan, c0, controlPlaneOutput({ readyz: '[-]etcd failed: reason withheld\nreadyz check failed' }), expected));
  assert.deepEqual(notReady.map((p) => p.name), ['/readyz']);
  assert.match(notReady[0]!.seen, /\[-\]etcd failed/);
  assert.match(notReady[0]!.hint, /runs but is not ready/);
});

test('control plane: an API server without its encryption config, and a unit file edited by hand', () => {
  const c0 = plan.nodes.find((n) => n.name === 'controller-0')!;
  const bad = failing(controlPlaneProbes(plan, c0, controlPlaneOutput({ flags: ['--advertise-address=10.240.0.11'] }), { '/etc/systemd/system/kube-apiserver.service': 'b'.repeat(64) }));
  assert.deepEqual(bad.map((p) => p.name), ['/etc/systemd/system/kube-apiserver.service as planned', 'kube-apiserver encrypts secrets']);
  assert.equal(bad[0]!.seen, 'changed on the node');
  assert.match(bad[1]!.hint, /stored in plain text in etcd/);
  assert.match(bad[1]!.hint, /--step smoke-test/);
});

test('control plane: leases held by a running holder; a stopped holder names who takes over; no holder at all', () => {
  const now = 1_790_000_000;
  const renewed = (ago: number) => new Date((now - ago) * 1000).toISOString().replace(/\.\d+Z$/, '.000000Z');
  const leases = (cm: string, sched: string) => `==> epoch\n${now}\n==> leases\nkube-controller-manager ${cm}\nkube-scheduler ${sched}\n`;
  const units = (scheduler: Parameters<typeof unitBlock>[1]) => [
    { node: 'controller-0', output: `${unitBlock('kube-controller-manager', RUNNING)}\n${unitBlock('kube-scheduler', RUNNING)}` },
    { node: 'controller-1', output: `${unitBlock('kube-controller-manager', RUNNING)}\n${unitBlock('kube-scheduler', scheduler)}` },
    { node: 'controller-2', output: `${unitBlock('kube-controller-manager', RUNNING)}\n${unitBlock('kube-scheduler', RUNNING)}` },
  ];
  const healthy = leases(`controller-0_6f1c2d ${renewed(3)}`, `controller-1_0a9b8c ${renewed(4)}`);
  assert.deepEqual(failing(leaseProbes(healthy, 'controller-0', units(RUNNING))), []);

  const stopped = failing(leaseProbes(healthy, 'controller-0', units({ active: 'inactive', sub: 'dead' })));
  assert.deepEqual(stopped.map((p) => p.name), ['kube-scheduler lease held']);
  assert.match(stopped[0]!.seen, /holder controller-1, renewed 4 s ago — but kube-scheduler is not running there/);
  assert.match(stopped[0]!.hint, /controller-0, controller-2 will take the lease over within ~30 s/);

  const stale = failing(leaseProbes(leases(`controller-0_6f1c2d ${renewed(3)}`, `controller-1_0a9b8c ${renewed(300)}`), 'controller-0', units(RUNNING)));
  assert.match(stale[0]!.seen, /renewed 300 s ago/);
  const none = failing(leaseProbes(leases(`controller-0_6f1c2d ${renewed(3)}`, ` ${renewed(3)}`), 'controller-0'));
  assert.match(none[0]!.seen, /holder none/);
  assert.match(none[0]!.hint, /no kube-scheduler is leading/);
  // Released by a holder that stopped cleanly, while others run: they will take it.
  const released = failing(leaseProbes(leases(`controller-0_6f1c2d ${renewed(3)}`, ` ${renewed(3)}`), 'controller-0', units(RUNNING)));
  assert.match(released[0]!.seen, /holder none/);
  assert.match(released[0]!.hint, /the lease is free: its holder stopped and released it.*controller-0, controller-1, controller-2 will take it within seconds/);
  assert.equal(failing(leaseProbes(undefined, undefined)).length, 2);
});

test('rbac: every kubelet subresource answered yes; a missing binding fails each with the rbac step', () => {
  const yes = ['proxy', 'stats', 'log', 'spec', 'metrics'].map((s) => `nodes/${s} yes`).join('\n');
  assert.deepEqual(failing(rbacProbes('kube-apiserver-kubelet-client', yes, 'controller-0')), []);
  const no = failing(rbacProbes('kube-apiserver-kubelet-client', yes.replace(/yes/g, 'no'), 'controller-0'));
  assert.equal(no.length, 5);
  assert.match(no[0]!.hint, /--subresource=proxy --as=kube-apiserver-kubelet-client/);
  assert.match(no[0]!.hint, /hardway-lab up --step rbac/);
});

const NODES = JSON.stringify({
  items: plan.nodes
    .filter((n) => n.role === 'worker')
    .map((w) => ({ metadata: { name: w.name }, status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: w.ip }, { type: 'Hostname', address: w.name }] } })),
});

test('admin access: the LB, the server version, every worker Ready at its lab IP', () => {
  const version = ok(JSON.stringify({ clientVersion: { gitVersion: `v${plan.versions.kubernetes}` }, serverVersion: { gitVersion: `v${plan.versions.kubernetes}` } }));
  const probes = adminAccessProbes(plan, { kubeconfigServer: plan.apiEndpoint.url, version, nodes: ok(NODES) });
  assert.deepEqual(failing(probes), []);
  const notReady = NODES.replace('"status":"True"', '"status":"Unknown"');
  const bad = failing(adminAccessProbes(plan, { kubeconfigServer: 'https://127.0.0.1:6443', version, nodes: ok(notReady) }));
  assert.ok(bad.some((p) => p.node === 'worker-0' && /NotReady|Unknown/.test(p.seen)), JSON.stringify(bad));
  assert.ok(bad.some((p) => /kubeconfig/.test(p.name)), JSON.stringify(bad.map((p) => p.name)));
});

// What busybox 1.35's nslookup prints in a pod with the cluster's resolv.conf: the right answer,
// then NXDOMAIN for a search-domain variant, and exit code 1.
const NSLOOKUP = `Server:\t\t${plan.network.dnsServiceIp}\nAddress:\t${plan.network.dnsServiceIp}:53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: ${plan.network.apiServiceIp}\n\n** server can't find kubernetes.svc.cluster.local: NXDOMAIN\n\n`;

test('coredns: the answer is read from what nslookup printed, not from its exit code', () => {
  assert.equal(nslookupAnswer(NSLOOKUP, 'kubernetes.default.svc.cluster.local'), plan.network.apiServiceIp);
  assert.equal(nslookupAnswer(";; connection timed out; no servers could be reached\n", 'kubernetes.default.svc.cluster.local'), undefined);
  const deployment = ok(JSON.stringify({ spec: { replicas: 2 }, status: { availableReplicas: 2 } }));
  const service = ok(JSON.stringify({ spec: { clusterIP: plan.network.dnsServiceIp } }));
  assert.deepEqual(failing(corednsProbes(plan, { deployment, service, lookup: { code: 1, stdout: NSLOOKUP, stderr: '' } })), []);
  const down = failing(corednsProbes(plan, { deployment: ok(JSON.stringify({ spec: { replicas: 0 }, status: {} })), service, lookup: { code: 1, stdout: ';; connection timed out; no servers could be reached\n', stderr: '' } }));
  assert.deepEqual(down.map((p) => p.name), ['coredns deployment available', 'a pod resolves "kubernetes"']);
  assert.match(down[0]!.hint, /scaled to 0/);
  assert.match(down[1]!.seen, /connection timed out/);
  const noImage = failing(corednsProbes(plan, { deployment: ok(JSON.stringify({ spec: { replicas: 2 }, status: { availableReplicas: 0 } })), service, lookup: { code: 1, stdout: NSLOOKUP, stderr: '' } }));
  assert.match(noImage[0]!.hint, new RegExp(`${plan.images.coredns.replace(/[.]/g, '\\.')} must be imported`));
});

test('secrets at rest: encrypted values pass; a plain one is named; an etcdctl error is shown', () => {
  const atRest = '/registry/secrets/default/kubernetes-the-hard-way k8s:enc:aescbc:v1:key1:\n/registry/secrets/kube-system/bootstrap k8s:enc:aescbc:v1:key1:\n';
  assert.deepEqual(plainSecrets(atRest), { keys: 2, plain: [] });
  assert.deepEqual(plainSecrets(`${atRest}/registry/secrets/default/hwl-written-in-plain-text k8s....v1..Secret...\n`).plain, ['default/hwl-written-in-plain-text']);
  assert.equal(plainSecrets('ERROR context deadline exceeded\n').error, 'context deadline exceeded');
});

function smokeFacts(over: Partial<SmokeFacts> = {}): SmokeFacts {
  const workers = plan.nodes.filter((n) => n.role === 'worker');
  return {
    etcdValueHead: ok('k8s:enc:aescbc:v1:key1:\u0000'),
    secretsAtRest: ok('/registry/secrets/default/kubernetes-the-hard-way k8s:enc:aescbc:v1:key1:\n'),
    deployment: ok(JSON.stringify({ status: { conditions: [{ type: 'Available', status: 'True' }] } })),
    portForward: { ok: true, seen: 'HTTP 200' },
    logs: ok('127.0.0.1 - - "GET / HTTP/1.1" 200'),
    exec: { code: 0, stdout: '', stderr: 'nginx version: nginx/1.22.1' },
    nodePorts: workers.map((w) => ({ node: w.name, ok: true, seen: 'HTTP 200', url: `http://${w.ip}:30080/` })),
    viaLb: ok('ok'),
    nodes: ok(NODES),
    askedFrom: 'controller-0',
    ...over,
  };
}

test('smoke test: all green; a Forbidden from the kubelet points at rbac; a failed NodePort names kube-proxy on that worker', () => {
  const probes = smokeProbes(plan, smokeFacts());
  assert.deepEqual(failing(probes), []);
  assert.equal(probes.filter((p) => p.name === 'NodePort reachable').length, 2);
  const forbidden = 'Error from server (Forbidden): Forbidden (user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource=proxy)';
  const bad = failing(
    smokeProbes(plan, smokeFacts({
      logs: failed(forbidden),
      exec: failed(forbidden),
      nodePorts: smokeFacts().nodePorts.map((np) => (np.node === 'worker-1' ? { ...np, ok: false, seen: 'connection refused' } : np)),
      secretsAtRest: ok('/registry/secrets/default/kubernetes-the-hard-way k8s:enc:aescbc:v1:key1:\n/registry/secrets/default/hwl-written-in-plain-text k8s....v1..Secret\n'),
    })),
  );
  assert.deepEqual(bad.map((p) => `${p.node ?? '-'} ${p.name}`), ['controller-0 every secret encrypted at rest', '- logs', '- exec', 'worker-1 NodePort reachable']);
  assert.match(bad[0]!.seen, /stored in plain text: default\/hwl-written-in-plain-text/);
  assert.match(bad[0]!.hint, /kubectl replace/);
  for (const p of bad.slice(1, 3)) assert.match(p.hint, /Forbidden.*hardway-lab check rbac/);
  assert.match(bad[3]!.hint, /kube-proxy on worker-1/);
  const plain = failing(smokeProbes(plan, smokeFacts({ etcdValueHead: ok('k8s\u0000\n\u000cv1\u0012\u0006Secret') })));
  assert.equal(plain[0]!.name, 'secret encrypted at rest');
  assert.match(plain[0]!.hint, /--encryption-provider-config/);
});
