import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { main } from '../../main/cli/cli.ts';

const ROOMY = { hostMemoryMiB: 256 * 1024 };

function planOf(yaml: string) {
  return buildPlan(parseSpec(yaml, 'test.yaml', ROOMY).spec);
}

test('plan: ha preset has the classic hard-way addresses', () => {
  const plan = planOf(defaultSpecText());
  const rows = plan.nodes.map((n) => [n.name, n.role, n.ip, n.podCidr ?? '-']);
  assert.deepEqual(rows, [
    ['lb', 'lb', '10.240.0.10', '-'],
    ['controller-0', 'controller', '10.240.0.11', '-'],
    ['controller-1', 'controller', '10.240.0.12', '-'],
    ['controller-2', 'controller', '10.240.0.13', '-'],
    ['worker-0', 'worker', '10.240.0.21', '10.200.0.0/24'],
    ['worker-1', 'worker', '10.240.0.22', '10.200.1.0/24'],
  ]);
  assert.equal(plan.apiEndpoint.url, 'https://10.240.0.10:6443');
  assert.equal(plan.network.apiServiceIp, '10.32.0.1');
  assert.equal(plan.network.dnsServiceIp, '10.32.0.10');
  assert.equal(plan.network.gateway, '10.240.0.1');
  assert.equal(plan.network.netmask, '255.255.255.0');
});

test('plan: MACs are unique, locally administered and stable per lab', () => {
  const plan = planOf(defaultSpecText());
  const macs = plan.nodes.map((n) => n.mac);
  assert.equal(new Set(macs).size, macs.length);
  for (const mac of macs) assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
  const other = planOf('name: other\n');
  assert.notDeepEqual(other.nodes.map((n) => n.mac), macs, 'two labs must not share MACs');
});

test('plan: same spec gives the same plan', () => {
  assert.deepEqual(planOf(defaultSpecText()), planOf(defaultSpecText()));
});

test('plan: every node routes each other worker\'s pod CIDR via that worker', () => {
  const plan = planOf(defaultSpecText());
  for (const node of plan.nodes) {
    const routes = plan.routes.filter((r) => r.node === node.name);
    const expected = plan.nodes
      .filter((w) => w.role === 'worker' && w.name !== node.name)
      .map((w) => `${w.podCidr} via ${w.ip}`);
    assert.deepEqual(routes.map((r) => `${r.destination} via ${r.via}`), expected, node.name);
  }
});

test('plan: the API server certificate covers every address clients use', () => {
  const plan = planOf(defaultSpecText());
  const apiserver = plan.certificates.find((c) => c.id === 'kube-apiserver')!;
  for (const ip of ['10.32.0.1', '127.0.0.1', '10.240.0.10', '10.240.0.11', '10.240.0.12', '10.240.0.13']) {
    assert.ok(apiserver.ipAddresses.includes(ip), ip);
  }
  for (const dns of ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster', 'kubernetes.default.svc.cluster.local']) {
    assert.ok(apiserver.dnsNames.includes(dns), dns);
  }
  for (const etcd of plan.certificates.filter((c) => c.id.startsWith('etcd-'))) {
    assert.deepEqual(etcd.usages, ['serverAuth', 'clientAuth']);
  }
});

test('plan: minimal preset talks to the single controller directly', () => {
  const plan = planOf('preset: minimal\n');
  assert.deepEqual(plan.nodes.map((n) => n.name), ['controller-0', 'worker-0']);
  assert.equal(plan.apiEndpoint.url, 'https://10.240.0.11:6443');
  assert.equal(plan.routes.filter((r) => r.node === 'controller-0').length, 1);
});

test('plan: 20 workers get 20 distinct pod CIDRs', () => {
  const plan = planOf('nodes:\n  worker:\n    count: 20\n');
  const workers = plan.nodes.filter((n) => n.role === 'worker');
  assert.equal(workers.length, 20);
  assert.equal(workers[19]!.ip, '10.240.0.40');
  assert.equal(workers[19]!.podCidr, '10.200.19.0/24');
});

test('plan: keys and kubeconfigs are planned 0600, certificates 0644', () => {
  const plan = planOf(defaultSpecText());
  for (const node of plan.nodes) {
    for (const file of node.files) {
      const secret = /\.key$|kubeconfig|encryption-config/.test(file.path);
      assert.equal(file.mode, secret ? 0o600 : file.path.endsWith('hardway-pod-routes') ? 0o755 : 0o644, `${node.name}:${file.path}`);
    }
  }
});

test('cli: plan prints a table and --json the same plan as data', async () => {
  const lab = join(mkdtempSync(join(tmpdir(), 'hwl-plan-')), 'lab');
  const out: string[] = [];
  const io = { out: (t: string) => out.push(t), err: () => {} };
  assert.equal(await main(['plan', '--lab', lab], io), 0);
  assert.match(out.join(''), /controller-2\s+controller\s+10\.240\.0\.13/);
  assert.match(out.join(''), /etcd-controller-0\s+CN=etcd-controller-0\s+serverAuth\+clientAuth\s+controller-0,localhost,10\.240\.0\.11,127\.0\.0\.1/);
  out.length = 0;
  assert.equal(await main(['plan', '--json', '--lab', lab], io), 0);
  const plan = JSON.parse(out.join(''));
  assert.equal(plan.nodes.length, 6);
  assert.equal(existsSync(lab), false, 'plan writes nothing');
});

test('cli: init writes the default spec once and refuses to overwrite it', async () => {
  const lab = join(mkdtempSync(join(tmpdir(), 'hwl-init-')), 'lab');
  const err: string[] = [];
  const io = { out: () => {}, err: (t: string) => err.push(t) };
  assert.equal(await main(['init', '--lab', lab, '--preset', 'minimal'], io), 0);
  assert.match(readFileSync(join(lab, 'hardway-lab.yaml'), 'utf8'), /^preset: minimal/m);
  assert.equal(await main(['init', '--lab', lab], io), 2);
  assert.match(err.join(''), /already exists/);
  assert.equal(await main(['frobnicate'], io), 2);
  assert.match(err.join(''), /unknown command "frobnicate"/);
});
