// The CLI on real VMs, as a user runs it: `up --vms-only` interrupted with Ctrl-C, `up` again
// continues, `ssh NODE -- CMD`, `status --json`; then (with the Go-built artifacts) `up --until
// etcd`, a key written into etcd, `stop` (the units stopped, then the VMs, state.json says
// stopped), `start` (every checker that passed passes again, the key still there), every qemu
// killed at once (a host crash) and `start` again; the snapshots `up` took after each step, one
// saved and deleted by hand, etcd broken and `rewind kubeconfigs` (earlier checkers pass, later
// steps pending, the disk back to before etcd) and `up` green again; `destroy` leaves nothing and
// empties state.json.
// Every command runs inside a network namespace this test creates, so the lab network never
// touches the host's.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { NetworkNamespace, REPO_ROOT, netnsUnavailableReason } from '../helpers/netns.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';
import { readLabState } from '../../main/engine/lab-state.ts';

const built = testArtifacts();
if (built.skip) console.warn(`SKIPPED (inside the CLI test): stop and start on a lab with etcd: ${built.skip}`);
const ETCDCTL = 'etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key --command-timeout=30s';

const CLI = join(REPO_ROOT, 'bin', 'hardway-lab.mjs');
const skip =
  netnsUnavailableReason() ??
  ((await commandExists('qemu-system-x86_64')) ? undefined : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)') ??
  ((await commandExists('mmdebstrap')) ? undefined : 'mmdebstrap is not installed');
if (skip) console.warn(`SKIPPED: CLI on VMs: ${skip}`);

const SPEC = 'name: clitest\npreset: minimal\nnodes:\n  controller:\n    memoryMiB: 1024\n  worker:\n    memoryMiB: 1024\n';

function cli(ns: NetworkNamespace, args: string[], timeoutMs = 60_000) {
  const result = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('cli on VMs: up --vms-only survives Ctrl-C, then ssh, status, up to etcd, stop, start, a host crash, start, and destroy', { skip, timeout: 90 * 60_000 }, async () => {
  await buildBaseImage({ onProgress: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'hwl-cli-'));
  const lab = join(dir, 'lab');
  const specFile = join(dir, 'spec.yaml');
  writeFileSync(specFile, SPEC);
  const ns = NetworkNamespace.create('cli');
  try {
    // Ctrl-C once both VMs are started but before SSH answers.
    const first = spawn('ip', ['netns', 'exec', ns.name, process.execPath, CLI, 'up', '--vms-only', '--lab', lab, '--spec', specFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const interrupted = new Promise<number | null>((resolve) => {
      first.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (/worker-0 started/.test(stderr) && /controller-0 started/.test(stderr)) first.kill('SIGINT');
      });
      first.on('exit', (code) => resolve(code));
    });
    const firstCode = await interrupted;
    assert.notEqual(firstCode, 0, `an interrupted up must not report success:\n${stderr}`);
    assert.match(stderr, /interrupted: .*hardway-lab up.* to continue/);

    const second = cli(ns, ['up', '--vms-only', '--lab', lab], 20 * 60_000);
    assert.equal(second.code, 0, `up after Ctrl-C continues:\n${second.stderr}`);
    assert.match(second.stdout, /controller-0\s+controller\s+10\.240\.0\.11\s+running\s+ok/);
    assert.match(second.stdout, /worker-0\s+worker\s+10\.240\.0\.21\s+running\s+ok/);

    const ssh = cli(ns, ['ssh', 'worker-0', '--lab', lab, '--', 'hostname; exit 7']);
    assert.equal(ssh.stdout.trim(), 'worker-0');
    assert.equal(ssh.code, 7, 'the remote exit code is the CLI exit code');
    assert.equal(cli(ns, ['ssh', 'nosuch', '--lab', lab, '--', 'true']).code, 2);

    const status = cli(ns, ['status', '--json', '--lab', lab]);
    const rows = JSON.parse(status.stdout) as Array<{ node: string; state: string; ssh: string }>;
    assert.deepEqual(rows.map((r) => [r.node, r.state, r.ssh]), [
      ['controller-0', 'running', 'ok'],
      ['worker-0', 'running', 'ok'],
    ]);

    if (built.artifacts) {
      const artifacts = built.artifacts.root;
      const up = cli(ns, ['up', '--until', 'etcd', '--lab', lab, '--artifacts', artifacts], 40 * 60_000);
      assert.equal(up.code, 0, `up --until etcd:\n${up.stderr.slice(-3000)}`);
      assert.equal(cli(ns, ['ssh', 'controller-0', '--lab', lab, '--', `${ETCDCTL} put hwl-lifecycle kept`], 120_000).code, 0);

      const t0 = Date.now();
      const stop = cli(ns, ['stop', '--lab', lab], 10 * 60_000);
      console.log(`stop took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(stop.stderr, /\[worker-0\] stopped kubelet, kube-proxy, containerd/);
      assert.match(stop.stderr, /\[controller-0\] stopped kube-scheduler, kube-controller-manager, kube-apiserver; stopped etcd/);
      assert.ok(stop.stderr.indexOf('stopping the workers') < stop.stderr.indexOf('stopping the control plane'), 'workers first');
      assert.equal(readLabState(join(lab, 'state.json')).lifecycle?.state, 'stopped');
      const stopped = JSON.parse(cli(ns, ['status', '--json', '--lab', lab]).stdout) as Array<{ node: string; state: string }>;
      assert.deepEqual(stopped.map((r) => r.state), ['stopped', 'stopped']);
      assert.deepEqual(ns.pids(), [], 'no qemu runs while stopped');

      for (const round of ['after stop', 'after a host crash']) {
        const t1 = Date.now();
        const start = cli(ns, ['start', '--lab', lab, '--artifacts', artifacts], 30 * 60_000);
        console.log(`start ${round} took ${((Date.now() - t1) / 1000).toFixed(0)} s`);
        assert.equal(start.code, 0, `start ${round}:\n${start.stderr.slice(-3000)}`);
        assert.match(start.stdout, /every checker that passed before passes again/);
        for (const step of ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config', 'etcd']) assert.match(start.stderr, new RegExp(`pass  ${step} \\(after \\d+ s\\)`), `${round}: ${step}`);
        assert.equal(readLabState(join(lab, 'state.json')).lifecycle?.state, 'running');
        const key = cli(ns, ['ssh', 'controller-0', '--lab', lab, '--', `${ETCDCTL} get hwl-lifecycle --print-value-only`], 120_000);
        assert.equal(key.stdout.trim(), 'kept', `${round}: etcd kept its data (${key.stderr})`);
        if (round === 'after stop') {
          // A host crash: every qemu of the lab killed at once, no shutdown.
          for (const pid of ns.pids()) process.kill(pid, 'SIGKILL');
          await new Promise((resolve) => setTimeout(resolve, 2000));
        }
      }

      // Snapshots: `up` took one after each step (the default where the disk has room).
      const listed = JSON.parse(cli(ns, ['snapshot', 'list', '--json', '--lab', lab]).stdout) as Array<{ name: string; afterStep?: string; auto: boolean; live: boolean; missingOn: string[] }>;
      for (const step of ['compute', 'certificates', 'kubeconfigs', 'encryption-config', 'etcd']) {
        const snap = listed.find((s) => s.name === `after-${step}`);
        assert.ok(snap && snap.auto && snap.live && snap.afterStep === step && snap.missingOn.length === 0, `after-${step} in ${JSON.stringify(listed)}`);
      }
      // The VMs ran before preflight here (`up --vms-only` made them), so there is one after it too.
      assert.ok(listed.some((s) => s.name === 'after-preflight' && s.afterStep === 'preflight'), 'after-preflight: the VMs already ran');
      const t2 = Date.now();
      const save = cli(ns, ['snapshot', 'save', 'by-hand', '--lab', lab], 10 * 60_000);
      console.log(`snapshot save took ${((Date.now() - t2) / 1000).toFixed(0)} s: ${save.stdout.trim()}`);
      assert.equal(save.code, 0, save.stderr);
      assert.match(save.stdout, /Saved snapshot "by-hand" of 2 nodes \(live, in [\d.]+ s\), after step etcd/);
      assert.match(cli(ns, ['snapshot', 'list', '--lab', lab]).stdout, /by-hand\s+etcd\s+.*manual, live\s+ok/);
      assert.equal(cli(ns, ['snapshot', 'delete', 'by-hand', '--lab', lab], 5 * 60_000).code, 0);
      assert.doesNotMatch(cli(ns, ['snapshot', 'list', '--lab', lab]).stdout, /by-hand/);
      assert.equal(cli(ns, ['snapshot', 'restore', 'by-hand', '--lab', lab]).code, 1, 'a deleted snapshot cannot be restored');

      // Break the lab after a later step (etcd's data and config gone), then rewind to before etcd.
      assert.equal(cli(ns, ['ssh', 'controller-0', '--lab', lab, '--', 'systemctl stop etcd; rm -rf /var/lib/etcd /etc/etcd'], 120_000).code, 0);
      assert.equal(cli(ns, ['check', 'etcd', '--lab', lab, '--artifacts', artifacts], 5 * 60_000).code, 1, 'the broken etcd fails its checker');
      const t3 = Date.now();
      const rewind = cli(ns, ['rewind', 'kubeconfigs', '--lab', lab, '--artifacts', artifacts], 30 * 60_000);
      console.log(`rewind kubeconfigs took ${((Date.now() - t3) / 1000).toFixed(0)} s`);
      assert.equal(rewind.code, 0, `rewind:\n${rewind.stderr.slice(-3000)}`);
      assert.match(rewind.stdout, /Restored lab "clitest" to after-kubeconfigs .*Steps encryption-config, etcd are not done any more/);
      for (const step of ['preflight', 'compute', 'certificates', 'kubeconfigs']) assert.match(rewind.stderr, new RegExp(`pass  ${step} \\(after \\d+ s\\)`), `rewind: ${step}`);
      const rewound = readLabState(join(lab, 'state.json'));
      assert.equal(rewound.steps.kubeconfigs?.status, 'done');
      assert.equal(rewound.steps['encryption-config'], undefined, 'a later step is pending after the rewind');
      assert.equal(rewound.steps.etcd, undefined, 'a later step is pending after the rewind');
      const noEtcd = cli(ns, ['ssh', 'controller-0', '--lab', lab, '--', 'test -e /usr/local/bin/etcd && echo installed || echo absent'], 120_000);
      assert.equal(noEtcd.stdout.trim(), 'absent', 'the disk is back to before the etcd step');
      const again = cli(ns, ['up', '--until', 'etcd', '--lab', lab, '--artifacts', artifacts], 40 * 60_000);
      assert.equal(again.code, 0, `up after the rewind:\n${again.stderr.slice(-3000)}`);
      assert.match(again.stderr, /resumed at step encryption-config/);
      const fresh = cli(ns, ['ssh', 'controller-0', '--lab', lab, '--', `${ETCDCTL} get hwl-lifecycle --print-value-only`], 120_000);
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.equal(fresh.stdout.trim(), '', 'the key written after the etcd step is not in the etcd made again');
    }

    const destroy = cli(ns, ['destroy', '--lab', lab], 5 * 60_000);
    assert.equal(destroy.code, 0, destroy.stderr);
    assert.deepEqual(readLabState(join(lab, 'state.json')).steps, {}, 'no step of a destroyed lab is done');
    assert.equal(existsSync(join(lab, 'vms', 'worker-0')), false, 'overlays removed');
    assert.equal(existsSync(join(lab, 'snapshots')), false, 'snapshots removed');
    assert.equal(existsSync(join(lab, 'hardway-lab.yaml')), true, 'the spec stays');
    assert.deepEqual(ns.pids(), [], 'no qemu left in the namespace');
    const links = spawnSync('ip', ['-n', ns.name, '-o', 'link'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(links, /hwl-|hwt-/, 'no bridge or tap left');
  } finally {
    ns.delete();
  }
});
