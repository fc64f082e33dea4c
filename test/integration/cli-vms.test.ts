// The CLI on real VMs, as a user runs it: `up --vms-only` interrupted with Ctrl-C, `up` again
// continues, `ssh NODE -- CMD`, `status --json`, `destroy` leaves nothing. Every command runs
// inside a network namespace this test creates, so the lab network never touches the host's.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { NetworkNamespace, REPO_ROOT, netnsUnavailableReason } from '../helpers/netns.ts';

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

test('cli on VMs: up --vms-only survives Ctrl-C, then ssh, status and destroy', { skip, timeout: 30 * 60_000 }, async () => {
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

    const destroy = cli(ns, ['destroy', '--lab', lab], 5 * 60_000);
    assert.equal(destroy.code, 0, destroy.stderr);
    assert.equal(existsSync(join(lab, 'vms', 'worker-0')), false, 'overlays removed');
    assert.equal(existsSync(join(lab, 'hardway-lab.yaml')), true, 'the spec stays');
    assert.deepEqual(ns.pids(), [], 'no qemu left in the namespace');
    const links = spawnSync('ip', ['-n', ns.name, '-o', 'link'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(links, /hwl-|hwt-/, 'no bridge or tap left');
  } finally {
    ns.delete();
  }
});
