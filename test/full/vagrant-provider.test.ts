// The vagrant provider against real VMs: the box is made from the base image and added to a
// VAGRANT_HOME of the test's own, then `vagrant up --provider=libvirt` brings up the `minimal`
// preset (controller-0 + worker-0) from the shipped Vagrantfile. Both answer SSH through OUR
// SshPool on their planned addresses, `vagrant ssh-config` agrees on address, user and key, and
// `vagrant destroy -f` leaves no domain, network or machine volume.
//
// Needs root (network namespace, a libvirtd of its own), vagrant + vagrant-libvirt, libvirtd and
// qemu-system-x86_64. Under software emulation (TCG) `vagrant up` of two VMs takes ~2-3 minutes.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import type { VagrantScenarioResult } from './vagrant-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('./vagrant-scenarios.ts', import.meta.url));

async function missingTool(): Promise<string | undefined> {
  for (const [tool, pkg] of [
    ['vagrant', 'vagrant vagrant-libvirt'],
    ['libvirtd', 'libvirt-daemon-system'],
    ['virsh', 'libvirt-clients'],
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['mmdebstrap', 'mmdebstrap'],
  ]) {
    if (!(await commandExists(tool!))) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  const plugins = spawnPlugins();
  if (!plugins.includes('vagrant-libvirt')) return 'the vagrant-libvirt plugin is not installed (apt-get install vagrant-libvirt)';
  return undefined;
}

function spawnPlugins(): string {
  // `vagrant plugin list` is local (no network).
  const result = spawnSync('vagrant', ['plugin', 'list'], { encoding: 'utf8', env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' }, timeout: 60_000 });
  return `${result.stdout ?? ''}`;
}

const skip = netnsUnavailableReason() ?? (await missingTool());
if (skip) console.warn(`SKIPPED: vagrant provider VM test: ${skip}`);

test('vagrant: the box from the builder, `vagrant up` of two nodes, SSH through our pool, ssh-config agrees, destroy cleans up', { skip, timeout: 45 * 60_000 }, async () => {
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-vagrant-'));
  const vagrantHome = await mkdtemp(join(tmpdir(), 'hwl-vagrant-home-'));
  try {
    await withNetworkNamespace('vagrant', async (ns) => {
      const { result, seconds } = await ns.runScenario<VagrantScenarioResult>(
        SCENARIOS,
        'bootVagrantLab',
        {
          labDir,
          vagrantHome,
          name: 'hwl-vagrant',
          imageCacheDir: join(image.dir, '..'),
          nodes: { controller: { memoryMiB: 1024, cpus: 1 }, worker: { memoryMiB: 1024, cpus: 1 } },
          sshTimeoutMs: 5 * 60_000,
        },
        { timeoutMs: 35 * 60_000 },
      );
      console.log(`scenario took ${seconds} s (${result.acceleration}); vagrant up took ${result.upSeconds.toFixed(1)} s; box ${result.box.name} ${result.box.version}`);

      assert.equal(result.box.name, 'hardway-lab/bookworm');
      assert.equal(result.boxAddedAgain, false, 'an added box is found by name and version, not added again');
      assert.deepEqual([...result.domainsWhileRunning].sort(), ['hwl-vagrant-vagrant-controller-0', 'hwl-vagrant-vagrant-worker-0']);
      assert.deepEqual(result.statusWhileRunning.map((s) => [s.node, s.state]), [['controller-0', 'running'], ['worker-0', 'running']]);
      assert.deepEqual(result.nodes.map((n) => n.node), ['controller-0', 'worker-0']);
      for (const n of result.nodes) {
        assert.equal(n.hostname, n.node, `${n.node}: hostname`);
        assert.match(n.eth1, new RegExp(`^\\d+: eth1\\s+inet ${n.plannedIp.replace(/\./g, '\\.')}/24 `), `${n.node}: planned address on the lab NIC (${n.eth1})`);
        // Traffic leaves by the lab network, not vagrant-libvirt's management NIC.
        assert.match(n.defaultRoute, /^default via 10\.240\.0\.1 dev eth1/, `${n.node}: default route (${n.defaultRoute})`);
        // vagrant ssh-config agrees with our pool: same address, root, the lab's key.
        assert.equal(n.sshConfig.host, n.node);
        assert.equal(n.sshConfig.hostName, n.plannedIp);
        assert.equal(n.sshConfig.user, 'root');
        assert.equal(n.sshConfig.port, 22);
        assert.deepEqual(n.sshConfig.identityFiles, [result.privateKeyPath]);
      }

      assert.deepEqual(result.after.domains, []);
      assert.deepEqual(result.after.networks.filter((n) => n.startsWith('hwl-vagrant-')), [], `networks after destroy: ${result.after.networks.join(', ')}`);
      assert.deepEqual(result.after.volumes, [], 'machine volumes after destroy');
      assert.deepEqual(result.after.links, [], 'network devices after destroy');
      assert.deepEqual(result.after.status.map((s) => s.state), ['absent', 'absent']);
      assert.deepEqual(ns.pids(), []);
    });
  } finally {
    await rm(labDir, { recursive: true, force: true });
    await rm(vagrantHome, { recursive: true, force: true });
  }
});
