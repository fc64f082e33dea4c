// The rendered systemd units: `systemd-analyze verify` against a temporary root per node, and
// the flags that matter for the hard way, parsed from ExecStart and checked one by one.
//
// How verify is made honest without PID 1 systemd or the lab's binaries on this host: each node's
// rendered tree is copied into a temporary root together with the host's systemd unit directory
// (for targets such as network-online.target). The binaries the install step puts in
// /usr/local/bin (etcd, kube-*, containerd) are not on this host; they are created in that root
// as empty executables, and only those named in LAB_BINARIES: any other missing executable, any
// unknown key and any bad value is reported by systemd-analyze and fails the test.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { buildPlan, findNode, type Plan } from '../../main/plan/address-plan.ts';
import type { FileOrigin } from '../../main/plan/file-plan.ts';
import { labPaths, renderedFilePath, type LabPaths } from '../../main/lab/lab-dir.ts';
import { ensurePki } from '../../main/pki/ensure-pki.ts';
import { renderLab } from '../../main/render/render-lab.ts';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';

const LAB_BINARIES = [
  '/usr/local/bin/etcd',
  '/usr/local/bin/kube-apiserver',
  '/usr/local/bin/kube-controller-manager',
  '/usr/local/bin/kube-scheduler',
  '/usr/local/bin/containerd',
  '/usr/local/bin/kubelet',
  '/usr/local/bin/kube-proxy',
];
const CONTROLLER_IPS: Record<string, string> = { 'controller-0': '10.240.0.11', 'controller-1': '10.240.0.12', 'controller-2': '10.240.0.13' };
const WORKER_IPS: Record<string, string> = { 'worker-0': '10.240.0.21', 'worker-1': '10.240.0.22' };
const HOST_UNITS = '/usr/lib/systemd/system';

let root: string;
let paths: LabPaths;
let plan: Plan;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hwl-render-units-'));
  paths = labPaths(join(root, 'lab'));
  const { spec } = parseSpec(defaultSpecText());
  plan = buildPlan(spec);
  await ensurePki(plan, paths, { algorithm: spec.pki.keyAlgorithm });
  await renderLab(plan, paths);
});

after(() => rmSync(root, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// A small unit-file reader: sections, keys (repeatable), backslash continuations, comments.

interface Unit {
  sections: Map<string, Map<string, string[]>>;
}

function parseUnit(text: string): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    if (!pending && /^\s*[#;]/.test(raw)) continue;
    if (raw.endsWith('\\')) {
      pending += raw.slice(0, -1) + ' ';
      continue;
    }
    logical.push(pending + raw);
    pending = '';
  }
  assert.equal(pending, '', 'the unit ends inside a continued line');
  for (const line of logical.map((l) => l.trim()).filter(Boolean)) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      assert.ok(!sections.has(header[1]!), `section [${header[1]}] appears twice`);
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `not a key=value line inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return { sections };
}

function value(unit: Unit, section: string, key: string): string | undefined {
  return unit.sections.get(section)?.get(key)?.at(-1);
}

/** ExecStart split into the binary, its flags (`--a=b`, or bare `--a` for true) and other arguments. */
function execFlags(unit: Unit): { binary: string; flags: Map<string, string>; args: string[] } {
  const exec = value(unit, 'Service', 'ExecStart');
  assert.ok(exec, 'ExecStart is set');
  const [binary, ...words] = exec.split(/\s+/);
  const flags = new Map<string, string>();
  const args: string[] = [];
  for (const word of words) {
    if (!word.startsWith('-')) {
      args.push(word);
      continue;
    }
    // Our templates always write `--flag=value`: a separate value would be read as an argument.
    assert.match(word, /^--[a-z0-9-]+(=|$)/, `unexpected word in ExecStart: ${word}`);
    const eq = word.indexOf('=');
    const name = eq > 0 ? word.slice(0, eq) : word;
    assert.ok(!flags.has(name), `${name} is given twice`);
    flags.set(name, eq > 0 ? word.slice(eq + 1) : '');
  }
  return { binary: binary!, flags, args };
}

function unitOf(node: string, name: string): Unit {
  return parseUnit(readFileSync(renderedFilePath(paths, node, `/etc/systemd/system/${name}`), 'utf8'));
}

function originOf(node: string, path: string): FileOrigin | undefined {
  return findNode(plan, node).files.find((f) => f.path === path)?.origin;
}

function assertPki(node: string, path: string | undefined, id: string, part: 'crt' | 'key' | 'pub') {
  assert.ok(path, `flag for pki/${id}.${part} is set`);
  assert.deepEqual(originOf(node, path), { kind: 'pki', id, part }, `${node}: ${path} is pki/${id}.${part}`);
}

function unitNames(node: string): string[] {
  return findNode(plan, node)
    .files.filter((f) => f.path.startsWith('/etc/systemd/system/') && f.path.endsWith('.service'))
    .map((f) => f.path.slice('/etc/systemd/system/'.length));
}

// ---------------------------------------------------------------------------------------------

test('every rendered unit has [Unit], [Service] and [Install] WantedBy=multi-user.target, and its files are planned', () => {
  for (const node of plan.nodes) {
    for (const name of unitNames(node.name)) {
      const unit = unitOf(node.name, name);
      assert.deepEqual([...unit.sections.keys()], ['Unit', 'Service', 'Install'], `${node.name}:${name}`);
      assert.ok(value(unit, 'Unit', 'Description'), `${node.name}:${name} has a Description`);
      assert.equal(value(unit, 'Install', 'WantedBy'), 'multi-user.target', `${node.name}:${name}`);
      const { binary, flags } = execFlags(unit);
      assert.ok(binary.startsWith('/'), `${node.name}:${name}: ExecStart uses an absolute path`);
      // Every file a flag names must be one the plan puts on this node.
      for (const [flag, v] of flags) {
        for (const path of v.split(',')) {
          if (/^\/.*(\.crt|\.key|\.pub|\.yaml|\.toml|kubeconfig)$/.test(path)) {
            assert.ok(originOf(node.name, path), `${node.name}:${name} ${flag}=${path} is not a planned file of ${node.name}`);
          }
        }
      }
    }
  }
});

test('systemd-analyze verify accepts every unit of every node (in a temporary root)', (t: TestContext) => {
  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
  if (!analyze || !existsSync(join(HOST_UNITS, 'multi-user.target'))) {
    const why = 'systemd-analyze or the systemd unit directory is missing (apt-get install systemd); unit structure was still checked by parsing';
    console.warn(`SKIPPED: ${t.name}: ${why}`);
    return t.skip(why);
  }
  const verify = (rootDir: string, units: string[]) => {
    const r = spawnSync(analyze, ['verify', `--root=${rootDir}`, ...units], { encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
  };

  const roots: Record<string, string> = {};
  for (const node of plan.nodes) {
    const nodeRoot = join(root, 'roots', node.name);
    roots[node.name] = nodeRoot;
    cpSync(join(paths.nodes, node.name), nodeRoot, { recursive: true });
    mkdirSync(join(nodeRoot, 'usr/lib/systemd'), { recursive: true });
    // A copy, not a symlink: verify resolves the unit directory's own symlinks inside the root.
    const copied = spawnSync('cp', ['-a', HOST_UNITS, join(nodeRoot, 'usr/lib/systemd/')], { encoding: 'utf8' });
    assert.equal(copied.status, 0, `cp -a ${HOST_UNITS}: ${copied.stderr}`);
    const names = unitNames(node.name);
    for (const name of names) {
      const binary = execFlags(unitOf(node.name, name)).binary;
      if (existsSync(join(nodeRoot, binary))) continue;
      assert.ok(LAB_BINARIES.includes(binary), `${node.name}:${name} runs ${binary}, which neither the render nor the install step provides`);
      mkdirSync(join(nodeRoot, dirname(binary)), { recursive: true });
      writeFileSync(join(nodeRoot, binary), '');
      chmodSync(join(nodeRoot, binary), 0o755);
    }
    const r = verify(nodeRoot, names);
    assert.equal(r.status, 0, `systemd-analyze verify on ${node.name} failed:\n${r.output}`);
    // verify exits 0 on some problems (an unknown key is "ignored"): any message at all fails.
    assert.equal(r.output, '', `systemd-analyze verify on ${node.name} reported:\n${r.output}`);
  }

  // The check is real: a bad value, an unknown key and a missing executable are all caught.
  const broken = roots['controller-0']!;
  const etcd = join(broken, 'etc/systemd/system/etcd.service');
  const original = readFileSync(etcd, 'utf8');
  for (const [what, text] of [
    ['bad Restart value', original.replace('Restart=on-failure', 'Restart=sometimes')],
    ['unknown key', original.replace('RestartSec=5', 'RestartSec=5\nRestartSecs=5')],
    ['missing executable', original.replace('/usr/local/bin/etcd', '/usr/local/bin/etcd-missing')],
  ] as const) {
    writeFileSync(etcd, text);
    const r = verify(broken, ['etcd.service']);
    assert.ok(r.status !== 0 || r.output !== '', `systemd-analyze verify did not notice a ${what}`);
  }
  writeFileSync(etcd, original);
  assert.deepEqual(verify(broken, ['etcd.service']), { status: 0, output: '' });
});

test('etcd units: TLS for clients and peers, all three members over https :2380', () => {
  const initialCluster = 'controller-0=https://10.240.0.11:2380,controller-1=https://10.240.0.12:2380,controller-2=https://10.240.0.13:2380';
  for (const [node, ip] of Object.entries(CONTROLLER_IPS)) {
    const unit = unitOf(node, 'etcd.service');
    const { binary, flags } = execFlags(unit);
    assert.equal(binary, '/usr/local/bin/etcd');
    assert.equal(value(unit, 'Service', 'Type'), 'notify');
    const expected: Record<string, string> = {
      '--name': node,
      '--initial-advertise-peer-urls': `https://${ip}:2380`,
      '--listen-peer-urls': `https://${ip}:2380`,
      '--listen-client-urls': `https://${ip}:2379,https://127.0.0.1:2379`,
      '--advertise-client-urls': `https://${ip}:2379`,
      '--initial-cluster': initialCluster,
      '--initial-cluster-state': 'new',
      '--initial-cluster-token': 'hardway-etcd',
      '--data-dir': '/var/lib/etcd',
      '--client-cert-auth': '',
      '--peer-client-cert-auth': '',
    };
    for (const [flag, v] of Object.entries(expected)) assert.equal(flags.get(flag), v, `${node} etcd ${flag}`);
    assertPki(node, flags.get('--trusted-ca-file'), 'ca', 'crt');
    assertPki(node, flags.get('--peer-trusted-ca-file'), 'ca', 'crt');
    assertPki(node, flags.get('--cert-file'), `etcd-${node}`, 'crt');
    assertPki(node, flags.get('--key-file'), `etcd-${node}`, 'key');
    assertPki(node, flags.get('--peer-cert-file'), `etcd-${node}`, 'crt');
    assertPki(node, flags.get('--peer-key-file'), `etcd-${node}`, 'key');
  }
});

// The flags of every unit, against the real binaries the lab installs (built from their Go
// modules by the test runner's artifacts tier): a flag a release removed fails here, not on a VM.
const UNIT_BINARIES: [node: string, unit: string, binary: string][] = [
  ['controller-0', 'etcd.service', 'etcd'],
  ['controller-0', 'kube-apiserver.service', 'kube-apiserver'],
  ['controller-0', 'kube-controller-manager.service', 'kube-controller-manager'],
  ['controller-0', 'kube-scheduler.service', 'kube-scheduler'],
  ['worker-0', 'kubelet.service', 'kubelet'],
  ['worker-0', 'kube-proxy.service', 'kube-proxy'],
];
const built = testArtifacts();

for (const [node, unit, binary] of UNIT_BINARIES) {
  test(`every flag of ${unit} is one the real ${binary} knows (${binary} --help)`, (t: TestContext) => {
    if (built.skip) {
      console.warn(`SKIPPED: ${t.name}: ${built.skip}`);
      return t.skip(built.skip);
    }
    const path = join(built.artifacts!.root, 'bin', binary);
    const help = spawnSync(path, ['--help'], { encoding: 'utf8', timeout: 60_000 });
    const known = new Set([...`${help.stdout}${help.stderr}`.matchAll(/^\s+(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
    assert.ok(known.size > 5, `could not read the flag list from ${path} --help`);
    const { flags } = execFlags(unitOf(node, unit));
    assert.deepEqual([...flags.keys()].filter((f) => !known.has(f)), [], `flags ${binary} ${built.artifacts!.versions.kubernetes} does not know`);
  });
}

test('kube-apiserver units: etcd over TLS, service range, encryption, service accounts, kubelet client, Node,RBAC', () => {
  for (const [node, ip] of Object.entries(CONTROLLER_IPS)) {
    const { binary, flags } = execFlags(unitOf(node, 'kube-apiserver.service'));
    assert.equal(binary, '/usr/local/bin/kube-apiserver');
    const expected: Record<string, string> = {
      '--advertise-address': ip,
      '--bind-address': '0.0.0.0',
      '--secure-port': '6443',
      '--allow-privileged': 'true',
      '--authorization-mode': 'Node,RBAC',
      '--etcd-servers': 'https://10.240.0.11:2379,https://10.240.0.12:2379,https://10.240.0.13:2379',
      '--service-cluster-ip-range': '10.32.0.0/24',
      '--service-account-issuer': 'https://10.240.0.10:6443',
    };
    for (const [flag, v] of Object.entries(expected)) assert.equal(flags.get(flag), v, `${node} kube-apiserver ${flag}`);
    assert.equal(flags.has('--apiserver-count'), false, 'deprecated no-op flag (lease endpoint reconciler)');
    assert.deepEqual(originOf(node, flags.get('--encryption-provider-config')!), { kind: 'encryption-config' });
    assertPki(node, flags.get('--client-ca-file'), 'ca', 'crt');
    assertPki(node, flags.get('--tls-cert-file'), 'kube-apiserver', 'crt');
    assertPki(node, flags.get('--tls-private-key-file'), 'kube-apiserver', 'key');
    assertPki(node, flags.get('--etcd-cafile'), 'ca', 'crt');
    assertPki(node, flags.get('--etcd-certfile'), 'apiserver-etcd-client', 'crt');
    assertPki(node, flags.get('--etcd-keyfile'), 'apiserver-etcd-client', 'key');
    assertPki(node, flags.get('--kubelet-certificate-authority'), 'ca', 'crt');
    assertPki(node, flags.get('--kubelet-client-certificate'), 'apiserver-kubelet-client', 'crt');
    assertPki(node, flags.get('--kubelet-client-key'), 'apiserver-kubelet-client', 'key');
    assertPki(node, flags.get('--service-account-key-file'), 'service-accounts', 'pub');
    assertPki(node, flags.get('--service-account-signing-key-file'), 'service-accounts', 'key');
  }
});

test('kube-controller-manager and kube-scheduler units: leader election, CIDRs, signing, local kubeconfigs', () => {
  for (const node of Object.keys(CONTROLLER_IPS)) {
    const { binary, flags } = execFlags(unitOf(node, 'kube-controller-manager.service'));
    assert.equal(binary, '/usr/local/bin/kube-controller-manager');
    const expected: Record<string, string> = {
      '--cluster-cidr': '10.200.0.0/16',
      // Pod CIDRs are fixed per worker by the plan (CNI, kubelet podCIDR, static routes).
      '--allocate-node-cidrs': 'false',
      '--service-cluster-ip-range': '10.32.0.0/24',
      '--use-service-account-credentials': 'true',
      '--leader-elect': 'true',
    };
    for (const [flag, v] of Object.entries(expected)) assert.equal(flags.get(flag), v, `${node} kube-controller-manager ${flag}`);
    assertPki(node, flags.get('--cluster-signing-cert-file'), 'ca', 'crt');
    assertPki(node, flags.get('--cluster-signing-key-file'), 'ca', 'key');
    assertPki(node, flags.get('--root-ca-file'), 'ca', 'crt');
    assertPki(node, flags.get('--service-account-private-key-file'), 'service-accounts', 'key');
    assert.deepEqual(originOf(node, flags.get('--kubeconfig')!), {
      kind: 'kubeconfig',
      identity: 'kube-controller-manager',
      user: 'system:kube-controller-manager',
      server: 'localhost',
    });

    const scheduler = execFlags(unitOf(node, 'kube-scheduler.service'));
    assert.equal(scheduler.binary, '/usr/local/bin/kube-scheduler');
    assert.deepEqual(originOf(node, scheduler.flags.get('--config')!), { kind: 'template', template: 'controller/kube-scheduler.yaml' });
  }
});

test('worker units: containerd, kubelet with --node-ip and its own kubeconfig, kube-proxy', () => {
  for (const [node, ip] of Object.entries(WORKER_IPS)) {
    const containerd = execFlags(unitOf(node, 'containerd.service'));
    assert.equal(containerd.binary, '/usr/local/bin/containerd');
    assert.deepEqual(originOf(node, containerd.flags.get('--config')!), { kind: 'template', template: 'worker/containerd-config.toml' });
    assert.equal(value(unitOf(node, 'containerd.service'), 'Service', 'Delegate'), 'yes');

    const kubeletUnit = unitOf(node, 'kubelet.service');
    const kubelet = execFlags(kubeletUnit);
    assert.equal(kubelet.binary, '/usr/local/bin/kubelet');
    assert.equal(kubelet.flags.get('--node-ip'), ip, 'the node IP is pinned to the lab address');
    assert.equal(kubelet.flags.get('--hostname-override'), node);
    assert.match(value(kubeletUnit, 'Unit', 'After') ?? '', /containerd\.service/);
    assert.deepEqual(originOf(node, kubelet.flags.get('--config')!), { kind: 'template', template: 'worker/kubelet-config.yaml' });
    assert.deepEqual(originOf(node, kubelet.flags.get('--kubeconfig')!), {
      kind: 'kubeconfig',
      identity: `kubelet-${node}`,
      user: `system:node:${node}`,
      server: 'api-endpoint',
    });

    const proxy = execFlags(unitOf(node, 'kube-proxy.service'));
    assert.equal(proxy.binary, '/usr/local/bin/kube-proxy');
    assert.deepEqual(originOf(node, proxy.flags.get('--config')!), { kind: 'template', template: 'worker/kube-proxy-config.yaml' });
  }
});

test('hardway-pod-routes.service: a oneshot after network-online that stays active, on every node', () => {
  for (const node of plan.nodes) {
    const unit = unitOf(node.name, 'hardway-pod-routes.service');
    assert.equal(value(unit, 'Service', 'Type'), 'oneshot');
    assert.equal(value(unit, 'Service', 'RemainAfterExit'), 'yes');
    assert.match(value(unit, 'Unit', 'After') ?? '', /network-online\.target/);
    assert.match(value(unit, 'Unit', 'Wants') ?? '', /network-online\.target/);
    assert.equal(value(unit, 'Service', 'ExecStart'), '/usr/local/sbin/hardway-pod-routes /etc/hardway/pod-routes');
    const script = node.files.find((f) => f.path === '/usr/local/sbin/hardway-pod-routes');
    assert.equal(script?.mode, 0o755);
    assert.ok(node.files.some((f) => f.path === '/etc/hardway/pod-routes'));
  }
});
