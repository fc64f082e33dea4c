// The libvirt provider against real VMs: the `minimal` preset (controller-0 + worker-0) comes up as
// libvirt domains on a libvirt network, both answer SSH with their planned hostname and address,
// a node stops and starts again, and destroy leaves no domain, network, bridge or disk.
//
// Needs root (network namespace, a libvirtd of its own started by hand in it), libvirtd and
// qemu-system-x86_64. Under software emulation (TCG) the two VMs need ~60-90 s to answer SSH.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import type { LibvirtScenarioResult } from './libvirt-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('./libvirt-scenarios.ts', import.meta.url));

async function missingTool(): Promise<string | undefined> {
  for (const [tool, pkg] of [
    ['libvirtd', 'libvirt-daemon-system'],
    ['virtlogd', 'libvirt-daemon-system'],
    ['virsh', 'libvirt-clients'],
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['qemu-img', 'qemu-utils'],
    ['mmdebstrap', 'mmdebstrap'],
  ]) {
    if (!(await commandExists(tool!)) && !(await commandExists(`/usr/sbin/${tool}`))) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  return undefined;
}

const skip = netnsUnavailableReason() ?? (await missingTool());
if (skip) console.warn(`SKIPPED: libvirt provider VM test: ${skip}`);

test('libvirt: minimal preset boots as libvirt domains, answers SSH as planned, stops/starts, and destroy leaves nothing', { skip, timeout: 40 * 60_000 }, async () => {
  // Built (about 2 minutes) or taken from the cache, in the host namespace: it needs the Debian mirror.
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-libvirt-'));
  try {
    await withNetworkNamespace('libvirt', async (ns) => {
      const { result, seconds } = await ns.runScenario<LibvirtScenarioResult>(
        SCENARIOS,
        'bootLibvirtLab',
        {
          labDir,
          name: 'hwl-libvirt',
          imageCacheDir: join(image.dir, '..'),
          // The smallest sizes the spec allows, to stay light on a 2-core host.
          nodes: { controller: { memoryMiB: 1024, cpus: 1 }, worker: { memoryMiB: 1024, cpus: 1 } },
          sshTimeoutMs: 10 * 60_000,
        },
        { timeoutMs: 30 * 60_000 },
      );
      console.log(`scenario took ${seconds} s (${result.acceleration}); second create() ${result.secondCreateSeconds.toFixed(1)} s`);
      for (const n of result.nodes) console.log(`  ${n.node.padEnd(13)} SSH after ${n.sshSeconds.toFixed(1)} s  ${n.eth0.split(/\s+/).slice(1, 4).join(' ')}`);

      // virsh shows whose VMs they are.
      assert.deepEqual([...result.domainsWhileRunning].sort(), ['hwl-libvirt-controller-0', 'hwl-libvirt-worker-0']);
      assert.ok(result.networksWhileRunning.includes('hwl-libvirt-net'), `active networks: ${result.networksWhileRunning.join(', ')}`);
      assert.equal(result.domainXmlType, result.acceleration === 'kvm' ? 'kvm' : 'qemu');
      if (result.acceleration === 'tcg') assert.ok(result.warnings.some((w) => /TCG|software emulation/.test(w)));

      assert.deepEqual(result.nodes.map((n) => n.node), ['controller-0', 'worker-0']);
      for (const n of result.nodes) {
        assert.equal(n.hostname, n.node, `${n.node}: hostname`);
        assert.match(n.eth0, new RegExp(`^\\d+: eth0\\s+inet ${n.plannedIp.replace(/\./g, '\\.')}/24 `), `${n.node}: planned address on eth0 (${n.eth0})`);
        assert.ok(n.consoleLogBytes > 1000, `${n.node}: the serial console is logged (${n.consoleLogBytes} bytes)`);
      }
      assert.deepEqual(result.statusWhileRunning.map((s) => [s.node, s.state]), [['controller-0', 'running'], ['worker-0', 'running']]);
      assert.ok(result.secondCreateSeconds < 30, 'create() on a running lab changes nothing');
      assert.deepEqual(result.statusAfterStop.map((s) => [s.node, s.state]), [['controller-0', 'running'], ['worker-0', 'stopped']]);
      assert.equal(result.restartedHostname, 'worker-0');
      for (const phase of ['probe-kvm', 'network', 'create-overlay', 'define', 'boot', 'stop', 'destroy']) assert.ok(result.progressPhases.includes(phase), `progress phase ${phase}`);

      // Nothing left: no domain, no lab network, no bridge, no QEMU, no overlay.
      assert.deepEqual(result.after.domains, []);
      assert.ok(!result.after.networks.includes('hwl-libvirt-net'), `networks after destroy: ${result.after.networks.join(', ')}`);
      assert.deepEqual(result.after.links, [], 'network devices after destroy');
      assert.deepEqual(result.after.qemuProcesses, []);
      assert.deepEqual(result.after.vmsEntries, [], 'lab vms/ after destroy');
      assert.deepEqual(result.after.status.map((s) => s.state), ['absent', 'absent']);
      // Seen from outside: the daemons are gone with everything they started.
      assert.deepEqual(ns.pids(), []);
      assert.deepEqual(ns.links(), []);
    });
  } finally {
    await rm(labDir, { recursive: true, force: true });
  }
});
