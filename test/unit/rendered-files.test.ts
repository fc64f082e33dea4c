// Renders the default (ha) lab with a real PKI into a temporary lab directory and checks the
// rendered files with the real tools where they exist here: haproxy -c, kubectl, openssl,
// containerd, the CNI plugins, ip and bash. Expected values are written out, not derived from the
// plan, so a wrong plan or a wrong template both fail.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { buildPlan, findNode, type Plan } from '../../main/plan/address-plan.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';
import { labPaths, renderedFilePath, type LabPaths } from '../../main/lab/lab-dir.ts';
import { ensureEncryptionKey, ensurePki } from '../../main/pki/ensure-pki.ts';
import { renderLab, type RenderResult } from '../../main/render/render-lab.ts';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';

const LB = 'https://10.240.0.10:6443';
const LOCAL = 'https://127.0.0.1:6443';
const CONTROLLERS = ['controller-0', 'controller-1', 'controller-2'];
const WORKERS = ['worker-0', 'worker-1'];
const NODE_IPS: Record<string, string> = {
  lb: '10.240.0.10',
  'controller-0': '10.240.0.11',
  'controller-1': '10.240.0.12',
  'controller-2': '10.240.0.13',
  'worker-0': '10.240.0.21',
  'worker-1': '10.240.0.22',
};
const POD_CIDRS: Record<string, string> = { 'worker-0': '10.200.0.0/24', 'worker-1': '10.200.1.0/24' };

let root: string;
let paths: LabPaths;
let plan: Plan;
let result: RenderResult;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hwl-render-'));
  paths = labPaths(root);
  const { spec } = parseSpec(defaultSpecText());
  plan = buildPlan(spec);
  await ensurePki(plan, paths, { algorithm: spec.pki.keyAlgorithm });
  result = await renderLab(plan, paths);
});

after(() => rmSync(root, { recursive: true, force: true }));

function rendered(node: string, path: string): string {
  return readFileSync(renderedFilePath(paths, node, path), 'utf8');
}

function run(command: string, args: string[], input?: string) {
  const r = spawnSync(command, args, { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${command} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}${r.stderr}` };
}

function toolPath(candidates: string[]): string | undefined {
  return candidates.find((c) => existsSync(c));
}

function skipLoudly(t: TestContext, why: string): void {
  console.warn(`SKIPPED: ${t.name}: ${why}`);
  t.skip(why);
}

/** Root, and not the fast tier (`npm test -- fast` leaves out what needs root: network namespaces). */
function isRoot(): boolean {
  return process.getuid?.() === 0 && !process.env.HWL_FAST;
}

test('haproxy.cfg passes `haproxy -c`, balances over every controller, and a broken variant fails', (t) => {
  const cfg = rendered('lb', '/etc/haproxy/haproxy.cfg');
  const servers = cfg.split('\n').filter((l) => /^\s*server\s/.test(l)).map((l) => l.trim());
  assert.deepEqual(servers, [
    'server controller-0 10.240.0.11:6443 check check-ssl verify none',
    'server controller-1 10.240.0.12:6443 check check-ssl verify none',
    'server controller-2 10.240.0.13:6443 check check-ssl verify none',
  ]);
  for (const line of ['bind *:6443', 'mode tcp', 'balance roundrobin', 'option httpchk GET /readyz', 'http-check expect status 200']) {
    assert.ok(cfg.split('\n').some((l) => l.trim() === line), `haproxy.cfg has "${line}"`);
  }

  const haproxy = toolPath(['/usr/sbin/haproxy', '/usr/bin/haproxy']);
  if (!haproxy) return skipLoudly(t, 'haproxy is not installed (apt-get install haproxy); only the text was checked');
  const good = run(haproxy, ['-c', '-f', renderedFilePath(paths, 'lb', '/etc/haproxy/haproxy.cfg')]);
  assert.equal(good.status, 0, `haproxy -c failed:\n${good.output}`);
  assert.doesNotMatch(good.output, /\[(WARNING|ALERT)\]/, `haproxy -c warned:\n${good.output}`);

  const broken = join(root, 'haproxy-broken.cfg');
  writeFileSync(broken, cfg.replace('check check-ssl verify none', 'check check-ssl verify nonee'));
  const bad = run(haproxy, ['-c', '-f', broken]);
  assert.notEqual(bad.status, 0, 'haproxy -c accepted a config with a broken server line');
  assert.match(bad.output, /ALERT/);
});

test('every kubeconfig parses with kubectl, points at the right server and embeds the right identity', (t) => {
  const expected: Array<{ node: string | null; path: string; server: string; user: string; cn: string; identity: string }> = [
    { node: null, path: 'kubeconfigs/admin.kubeconfig', server: LB, user: 'admin', cn: 'admin', identity: 'admin' },
    ...CONTROLLERS.flatMap((node) => [
      { node, path: '/root/admin.kubeconfig', server: LOCAL, user: 'admin', cn: 'admin', identity: 'admin' },
      {
        node,
        path: '/var/lib/kubernetes/kube-controller-manager.kubeconfig',
        server: LOCAL,
        user: 'system:kube-controller-manager',
        cn: 'system:kube-controller-manager',
        identity: 'kube-controller-manager',
      },
      {
        node,
        path: '/var/lib/kubernetes/kube-scheduler.kubeconfig',
        server: LOCAL,
        user: 'system:kube-scheduler',
        cn: 'system:kube-scheduler',
        identity: 'kube-scheduler',
      },
    ]),
    ...WORKERS.flatMap((node) => [
      { node, path: '/var/lib/kubelet/kubeconfig', server: LB, user: `system:node:${node}`, cn: `system:node:${node}`, identity: `kubelet-${node}` },
      { node, path: '/var/lib/kube-proxy/kubeconfig', server: LB, user: 'system:kube-proxy', cn: 'system:kube-proxy', identity: 'kube-proxy' },
    ]),
  ];
  const renderedKubeconfigs = result.files.filter((f) => /kubeconfig$/.test(f.path)).map((f) => `${f.node}:${f.path}`);
  assert.deepEqual(renderedKubeconfigs.sort(), expected.map((e) => `${e.node}:${e.path}`).sort());

  const kubectl = toolPath(['/usr/bin/kubectl', '/usr/local/bin/kubectl']);
  const caPem = readFileSync(join(paths.pki, 'ca.crt'), 'utf8');
  for (const e of expected) {
    const file = e.node ? renderedFilePath(paths, e.node, e.path) : join(root, e.path);
    const where = `${e.node ?? 'host'}:${e.path}`;
    let config: any;
    if (kubectl) {
      const view = run(kubectl, ['config', 'view', '--kubeconfig', file, '--raw', '-o', 'json']);
      assert.equal(view.status, 0, `kubectl config view ${where} failed:\n${view.output}`);
      config = JSON.parse(view.stdout);
    } else {
      config = parseYaml(readFileSync(file, 'utf8'));
    }
    const context = config.contexts.find((c: any) => c.name === config['current-context']);
    assert.ok(context, `${where}: current-context ${config['current-context']} exists`);
    const cluster = config.clusters.find((c: any) => c.name === context.context.cluster).cluster;
    const user = config.users.find((u: any) => u.name === context.context.user);
    assert.equal(cluster.server, e.server, `${where}: server`);
    assert.equal(user.name, e.user, `${where}: user name`);
    assert.equal(Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8'), caPem, `${where}: CA data is pki/ca.crt`);

    const certPem = Buffer.from(user.user['client-certificate-data'], 'base64').toString('utf8');
    const keyPem = Buffer.from(user.user['client-key-data'], 'base64').toString('utf8');
    assert.equal(certPem, readFileSync(join(paths.pki, `${e.identity}.crt`), 'utf8'), `${where}: certificate is pki/${e.identity}.crt`);
    const subject = run('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], certPem);
    assert.equal(subject.status, 0, subject.output);
    const cn = /(?:^|[=,])CN=([^,\n]+)/.exec(subject.stdout.replace(/^subject=/, ''))?.[1];
    assert.equal(cn, e.cn, `${where}: client certificate CN (${subject.stdout.trim()})`);
    // The embedded key must belong to the embedded certificate (compare non-empty public keys).
    const certKey = run('openssl', ['x509', '-noout', '-pubkey'], certPem).stdout;
    const keyPub = run('openssl', ['pkey', '-pubout'], keyPem).stdout;
    assert.match(certKey, /BEGIN PUBLIC KEY/);
    assert.equal(keyPub, certKey, `${where}: client key matches the certificate`);
  }
  if (!kubectl) skipLoudly(t, 'kubectl not found at /usr/bin/kubectl: kubeconfigs were parsed as YAML instead of by kubectl');
});

test('the encryption config is aescbc key1 (32 random bytes) then identity, for secrets, private, same on every controller', async () => {
  const key = await ensureEncryptionKey(paths);
  const texts = CONTROLLERS.map((c) => rendered(c, '/var/lib/kubernetes/encryption-config.yaml'));
  assert.equal(new Set(texts).size, 1, 'every API server must use the same key');
  const config = parseYaml(texts[0]!);
  assert.equal(config.kind, 'EncryptionConfiguration');
  assert.equal(config.apiVersion, 'apiserver.config.k8s.io/v1');
  assert.equal(config.resources.length, 1);
  assert.deepEqual(config.resources[0].resources, ['secrets']);
  const providers = config.resources[0].providers;
  assert.equal(providers.length, 2);
  assert.deepEqual(Object.keys(providers[0]), ['aescbc']);
  assert.equal(providers[0].aescbc.keys.length, 1);
  assert.equal(providers[0].aescbc.keys[0].name, 'key1');
  const secret: string = providers[0].aescbc.keys[0].secret;
  assert.equal(Buffer.from(secret, 'base64').length, 32);
  assert.equal(Buffer.from(secret, 'base64').toString('base64'), secret, 'valid base64');
  assert.equal(secret, key);
  assert.deepEqual(providers[1], { identity: {} }, 'identity comes last');
  for (const c of CONTROLLERS) {
    assert.equal(statSync(renderedFilePath(paths, c, '/var/lib/kubernetes/encryption-config.yaml')).mode & 0o777, 0o600);
  }
});

test('CNI configs: bridge on cni0 with the worker\'s pod CIDR, plus loopback', () => {
  for (const worker of WORKERS) {
    const bridge = JSON.parse(rendered(worker, '/etc/cni/net.d/10-bridge.conf'));
    assert.equal(bridge.cniVersion, '1.0.0');
    assert.equal(bridge.name, 'bridge');
    assert.equal(bridge.type, 'bridge');
    assert.equal(bridge.bridge, 'cni0');
    assert.equal(bridge.isGateway, true);
    assert.equal(bridge.ipMasq, true);
    assert.equal(bridge.ipam.type, 'host-local');
    assert.deepEqual(bridge.ipam.ranges, [[{ subnet: POD_CIDRS[worker] }]]);
    assert.deepEqual(bridge.ipam.routes, [{ dst: '0.0.0.0/0' }]);
    const loopback = JSON.parse(rendered(worker, '/etc/cni/net.d/99-loopback.conf'));
    assert.equal(loopback.type, 'loopback');
    assert.equal(loopback.cniVersion, '1.0.0');
  }
});

test('the real CNI bridge plugin accepts the rendered config and gives a pod an address in the worker\'s CIDR', (t) => {
  const cniDir = ['/opt/cni/bin', '/usr/lib/cni'].find((d) => existsSync(join(d, 'bridge')) && existsSync(join(d, 'host-local')));
  if (!isRoot()) return skipLoudly(t, 'needs root for network namespaces (and is not in the fast tier)');
  if (!cniDir) return skipLoudly(t, 'CNI plugins not installed (apt-get install containernetworking-plugins)');
  if (!toolPath(['/usr/sbin/iptables', '/sbin/iptables'])) return skipLoudly(t, 'iptables not installed (the bridge plugin needs it for ipMasq)');

  const hostNs = `hwl-render-h-${process.pid}`;
  const podNs = `hwl-render-p-${process.pid}`;
  const state = mkdtempSync(join(tmpdir(), 'hwl-cni-'));
  const conf = JSON.parse(rendered('worker-1', '/etc/cni/net.d/10-bridge.conf'));
  // Only for the test: keep host-local's allocations out of the host's /var/lib/cni.
  conf.ipam.dataDir = state;
  const confText = JSON.stringify(conf);
  const cni = (command: 'ADD' | 'DEL', plugin: string, config: string, ifname: string) =>
    run('ip', ['netns', 'exec', hostNs, 'env', `CNI_COMMAND=${command}`, 'CNI_CONTAINERID=hwl-render-test', `CNI_NETNS=/run/netns/${podNs}`, `CNI_IFNAME=${ifname}`, `CNI_PATH=${cniDir}`, join(cniDir, plugin)], config);
  try {
    for (const ns of [hostNs, podNs]) assert.equal(run('ip', ['netns', 'add', ns]).status, 0, `ip netns add ${ns}`);
    const added = cni('ADD', 'bridge', confText, 'eth0');
    assert.equal(added.status, 0, `bridge plugin ADD failed:\n${added.output}`);
    const cniResult = JSON.parse(added.stdout);
    const address: string = cniResult.ips[0].address;
    assert.match(address, /^10\.200\.1\.\d+\/24$/, `pod address ${address} is in worker-1's pod CIDR`);
    assert.equal(cniResult.ips[0].gateway, '10.200.1.1');
    assert.match(run('ip', ['-n', hostNs, 'addr', 'show', 'cni0']).stdout, /inet 10\.200\.1\.1\/24/);
    assert.match(run('ip', ['-n', podNs, 'route', 'show']).stdout, /default via 10\.200\.1\.1 dev eth0/);
    const lo = cni('ADD', 'loopback', rendered('worker-1', '/etc/cni/net.d/99-loopback.conf'), 'lo');
    assert.equal(lo.status, 0, `loopback plugin ADD failed:\n${lo.output}`);
    assert.match(run('ip', ['-n', podNs, 'link', 'show', 'lo']).stdout, /state UNKNOWN|UP/);
    assert.equal(cni('DEL', 'bridge', confText, 'eth0').status, 0);
  } finally {
    run('ip', ['netns', 'del', podNs]);
    run('ip', ['netns', 'del', hostNs]);
    rmSync(state, { recursive: true, force: true });
  }
});

test('pod-routes lists every other worker\'s pod CIDR via that worker, on every node', () => {
  for (const node of Object.keys(NODE_IPS)) {
    const lines = rendered(node, '/etc/hardway/pod-routes')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
    const want = WORKERS.filter((w) => w !== node).map((w) => `${POD_CIDRS[w]} via ${NODE_IPS[w]}`);
    assert.deepEqual(lines, want, `pod routes on ${node}`);
  }
});

test('the pod-routes script is valid bash, installs the routes idempotently and rejects a malformed file', (t) => {
  const script = renderedFilePath(paths, 'controller-0', '/usr/local/sbin/hardway-pod-routes');
  const syntax = run('bash', ['-n', script]);
  assert.equal(syntax.status, 0, `bash -n: ${syntax.output}`);
  assert.equal(statSync(script).mode & 0o777, 0o755);
  if (!isRoot()) return skipLoudly(t, 'needs root to create a network namespace for the route test (and is not in the fast tier)');

  const ns = `hwl-render-r-${process.pid}`;
  const routes = renderedFilePath(paths, 'controller-0', '/etc/hardway/pod-routes');
  try {
    assert.equal(run('ip', ['netns', 'add', ns]).status, 0);
    // A stand-in for the lab NIC (a veth pair: no dummy module everywhere) so the gateways are
    // on-link; nothing is sent anywhere.
    for (const args of [
      ['link', 'add', 'lab0', 'type', 'veth', 'peer', 'name', 'lab1'],
      ['addr', 'add', '10.240.0.11/24', 'dev', 'lab0'],
      ['link', 'set', 'lab1', 'up'],
      ['link', 'set', 'lab0', 'up'],
    ]) {
      const r = run('ip', ['-n', ns, ...args]);
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.output}`);
    }
    for (let i = 0; i < 2; i++) {
      const applied = run('ip', ['netns', 'exec', ns, 'bash', script, routes]);
      assert.equal(applied.status, 0, `run ${i + 1}:\n${applied.output}`);
    }
    const table = run('ip', ['-n', ns, 'route', 'show']).stdout;
    assert.match(table, /^10\.200\.0\.0\/24 via 10\.240\.0\.21 dev lab0/m);
    assert.match(table, /^10\.200\.1\.0\/24 via 10\.240\.0\.22 dev lab0/m);

    const moved = join(root, 'pod-routes-moved');
    writeFileSync(moved, '10.200.0.0/24 via 10.240.0.23\n');
    assert.equal(run('ip', ['netns', 'exec', ns, 'bash', script, moved]).status, 0);
    assert.match(run('ip', ['-n', ns, 'route', 'show']).stdout, /^10\.200\.0\.0\/24 via 10\.240\.0\.23 dev lab0/m, 'replace corrects a wrong route');

    const malformed = join(root, 'pod-routes-malformed');
    writeFileSync(malformed, '10.200.0.0/24 10.240.0.21\n');
    const failed = run('ip', ['netns', 'exec', ns, 'bash', script, malformed]);
    assert.notEqual(failed.status, 0);
    assert.match(failed.stderr, /pod-routes-malformed:1: expected "DESTINATION via GATEWAY"/);
  } finally {
    run('ip', ['netns', 'del', ns]);
  }
});

test('/etc/hosts on every node has localhost and every node name with its lab IP', () => {
  for (const node of Object.keys(NODE_IPS)) {
    const entries = rendered(node, '/etc/hosts')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/));
    assert.ok(entries.some(([ip, ...names]) => ip === '127.0.0.1' && names.includes('localhost')), `${node}: localhost`);
    for (const [name, ip] of Object.entries(NODE_IPS)) {
      assert.ok(entries.some(([i, ...names]) => i === ip && names.includes(name)), `${node}: ${name} → ${ip}`);
    }
    assert.ok(!entries.some(([ip, ...names]) => ip !== NODE_IPS[node] && names.includes(node)), `${node} resolves only to its lab IP`);
  }
});

test('worker configs: kubelet, kube-proxy, containerd, kernel modules and sysctls', (t) => {
  for (const worker of WORKERS) {
    const kubelet = parseYaml(rendered(worker, '/var/lib/kubelet/kubelet-config.yaml'));
    assert.equal(kubelet.kind, 'KubeletConfiguration');
    assert.equal(kubelet.apiVersion, 'kubelet.config.k8s.io/v1beta1');
    assert.equal(kubelet.authentication.x509.clientCAFile, '/var/lib/kubernetes/ca.crt');
    assert.equal(kubelet.authentication.webhook.enabled, true);
    assert.equal(kubelet.authentication.anonymous.enabled, false);
    assert.equal(kubelet.authorization.mode, 'Webhook');
    assert.deepEqual(kubelet.clusterDNS, ['10.32.0.10']);
    assert.equal(kubelet.clusterDomain, 'cluster.local');
    assert.equal(kubelet.podCIDR, POD_CIDRS[worker]);
    assert.equal(kubelet.cgroupDriver, 'systemd');
    assert.equal(kubelet.containerRuntimeEndpoint, 'unix:///var/run/containerd/containerd.sock');
    assert.equal(kubelet.resolvConf, '/etc/resolv.conf');
    assert.equal(kubelet.tlsCertFile, '/var/lib/kubelet/kubelet.crt');
    assert.equal(kubelet.tlsPrivateKeyFile, '/var/lib/kubelet/kubelet.key');
    const node = findNode(plan, worker);
    for (const [path, origin] of [
      [kubelet.authentication.x509.clientCAFile, 'pki/ca.crt'],
      [kubelet.tlsCertFile, `pki/kubelet-${worker}.crt`],
      [kubelet.tlsPrivateKeyFile, `pki/kubelet-${worker}.key`],
    ]) {
      const file = node.files.find((f) => f.path === path);
      assert.ok(file && file.origin.kind === 'pki' && `pki/${file.origin.id}.${file.origin.part}` === origin, `${worker}: ${path} is ${origin}`);
    }

    const proxy = parseYaml(rendered(worker, '/var/lib/kube-proxy/kube-proxy-config.yaml'));
    assert.equal(proxy.kind, 'KubeProxyConfiguration');
    assert.equal(proxy.mode, 'iptables');
    assert.equal(proxy.clusterCIDR, '10.200.0.0/16');
    assert.equal(proxy.clientConnection.kubeconfig, '/var/lib/kube-proxy/kubeconfig');
    assert.equal(proxy.hostnameOverride, worker);

    const modules = rendered(worker, '/etc/modules-load.d/kubernetes.conf').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    assert.deepEqual(modules, ['overlay', 'br_netfilter']);
    const sysctl = Object.fromEntries(
      rendered(worker, '/etc/sysctl.d/kubernetes.conf')
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('#'))
        .map((l) => l.split('=').map((s) => s.trim())),
    );
    assert.equal(sysctl['net.bridge.bridge-nf-call-iptables'], '1');
    assert.equal(sysctl['net.ipv4.ip_forward'], '1');
  }

  const built = testArtifacts();
  if (built.skip) return skipLoudly(t, `config.toml not loaded by containerd: ${built.skip}`);
  const containerd = join(built.artifacts!.root, 'bin', 'containerd');
  // `config dump` loads the file as containerd does and prints the effective config: a misspelt
  // key is dropped there, and a version-2 key in this version-3 file is ignored, so checking the
  // dump proves containerd understood each setting.
  const dump = run(containerd, ['--config', renderedFilePath(paths, 'worker-0', '/etc/containerd/config.toml'), 'config', 'dump']);
  assert.equal(dump.status, 0, `containerd config dump failed:\n${dump.output}`);
  for (const setting of [
    'SystemdCgroup = true',
    "bin_dirs = ['/opt/cni/bin']",
    "conf_dir = '/etc/cni/net.d'",
    "snapshotter = 'overlayfs'",
    "default_runtime_name = 'runc'",
    "runtime_type = 'io.containerd.runc.v2'",
    `sandbox = '${plan.images.pause}'`,
  ]) {
    assert.ok(dump.stdout.split('\n').some((l) => l.trim() === setting), `containerd's effective config has ${setting}`);
  }
  assert.doesNotMatch(dump.output, /level=warning.*(deprecated|unknown|ignor)/i, 'containerd warns about nothing in the file');
});

test('kube-scheduler config: leader election on, kubeconfig is a planned file', () => {
  for (const c of CONTROLLERS) {
    const config = parseYaml(rendered(c, '/etc/kubernetes/config/kube-scheduler.yaml'));
    assert.equal(config.kind, 'KubeSchedulerConfiguration');
    assert.equal(config.apiVersion, 'kubescheduler.config.k8s.io/v1');
    assert.equal(config.leaderElection.leaderElect, true);
    const kubeconfig = findNode(plan, c).files.find((f) => f.path === config.clientConnection.kubeconfig);
    assert.ok(kubeconfig?.origin.kind === 'kubeconfig' && kubeconfig.origin.identity === 'kube-scheduler');
  }
});

test('file modes: keys, kubeconfigs and the encryption config are 0600; modes match the plan', () => {
  assert.ok(result.files.length > 50, `rendered ${result.files.length} files`);
  for (const f of result.files) {
    const mode = statSync(f.labPath).mode & 0o777;
    assert.equal(mode, f.mode, `${f.node ?? 'host'}:${f.path} mode ${mode.toString(8)} vs planned ${f.mode.toString(8)}`);
    if (/\.key$|kubeconfig$|encryption-config\.yaml$/.test(f.path)) assert.equal(mode, 0o600, `${f.node ?? 'host'}:${f.path} is private`);
    if (f.node) assert.equal(f.labPath, renderedFilePath(paths, f.node, f.path));
  }
  const planned = plan.nodes.reduce((n, node) => n + node.files.length, 0) + 1;
  assert.equal(result.files.length, planned, 'every planned file (and the host admin kubeconfig) is rendered');
});

test('rendering is deterministic and replaces stale files', async () => {
  const digest = () =>
    Object.fromEntries(result.files.map((f) => [f.labPath, createHash('sha256').update(readFileSync(f.labPath)).digest('hex')]));
  const first = digest();
  const stale = join(paths.nodes, 'worker-9', 'etc', 'stale.conf');
  mkdirSync(join(paths.nodes, 'worker-9', 'etc'), { recursive: true });
  writeFileSync(stale, 'from a removed node');
  const again = await renderLab(plan, paths);
  assert.deepEqual(again.files, result.files);
  assert.deepEqual(digest(), first, 'same plan + same PKI → same bytes');
  assert.equal(existsSync(stale), false, 'files of nodes no longer in the plan are gone');
  assert.equal(existsSync(`${paths.nodes}.rendering`), false, 'no staging directory is left behind');
});

test('a missing certificate fails the render with the node, the file and what to do, leaving the last render intact', async () => {
  const victim = join(paths.pki, 'kube-proxy.crt');
  const saved = readFileSync(victim);
  const before = rendered('worker-0', '/etc/hosts');
  rmSync(victim);
  try {
    await assert.rejects(renderLab(plan, paths), (error: Error) => {
      assert.match(error.message, /on worker-0/);
      assert.match(error.message, /kube-proxy\.crt does not exist/);
      assert.match(error.message, /hardway-lab pki/);
      return true;
    });
    assert.equal(rendered('worker-0', '/etc/hosts'), before);
  } finally {
    writeFileSync(victim, saved, { mode: 0o644 });
  }
});

test('the minimal preset (no load balancer, one worker) renders too: clients use controller-0, the lone worker has no pod routes', async (t) => {
  const minimalRoot = mkdtempSync(join(tmpdir(), 'hwl-render-minimal-'));
  t.after(() => rmSync(minimalRoot, { recursive: true, force: true }));
  const minimalPaths = labPaths(minimalRoot);
  const { spec } = parseSpec(defaultSpecText().replace(/^preset: ha\b.*$/m, 'preset: minimal'));
  const minimal = buildPlan(spec);
  await ensurePki(minimal, minimalPaths, { algorithm: spec.pki.keyAlgorithm });
  const out = await renderLab(minimal, minimalPaths);
  assert.deepEqual([...new Set(out.files.map((f) => f.node))], ['controller-0', 'worker-0', null]);
  const kubelet = parseYaml(readFileSync(renderedFilePath(minimalPaths, 'worker-0', '/var/lib/kubelet/kubeconfig'), 'utf8'));
  assert.equal(kubelet.clusters[0].cluster.server, 'https://10.240.0.11:6443');
  const admin = parseYaml(readFileSync(join(minimalRoot, 'kubeconfigs/admin.kubeconfig'), 'utf8'));
  assert.equal(admin.clusters[0].cluster.server, 'https://10.240.0.11:6443');
  const routes = (node: string) =>
    readFileSync(renderedFilePath(minimalPaths, node, '/etc/hardway/pod-routes'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'));
  assert.deepEqual(routes('controller-0'), ['10.200.0.0/24 via 10.240.0.21']);
  assert.deepEqual(routes('worker-0'), [], 'the only worker needs no pod route');
  const unit = readFileSync(renderedFilePath(minimalPaths, 'controller-0', '/etc/systemd/system/etcd.service'), 'utf8');
  assert.match(unit, /--initial-cluster=controller-0=https:\/\/10\.240\.0\.11:2380 \\/);
});
