// The qemu provider against real VMs: a preset boots from the base image in a network namespace
// of its own, every node answers SSH with the planned hostname and address, and destroy leaves
// nothing behind. The default run boots `minimal` (controller + worker): the six VMs of `ha` boot
// in the hard-way story anyway; the full tier (HWL_FULL=1) boots `ha` here too. Plus the failure
// paths a person meets: a node that never boots, and a base image that was never built.
//
// Needs root (network namespaces, bridges, taps) and qemu-system-x86_64. Under software emulation
// (TCG, when KVM cannot boot a kernel here) six VMs take several minutes to come up.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { createProvider } from '../../main/providers/create-provider.ts';
import { ProviderError } from '../../main/providers/provider.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import { labSpec, type BrokenBootResult, type LabScenarioResult } from '../helpers/qemu-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('../helpers/qemu-lab-scenarios.ts', import.meta.url));

const qemuMissing = (await commandExists('qemu-system-x86_64')) ? undefined : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
const vmSkip = netnsUnavailableReason() ?? qemuMissing ?? ((await commandExists('mmdebstrap')) ? undefined : 'mmdebstrap is not installed');
if (vmSkip) console.warn(`SKIPPED: qemu provider VM tests: ${vmSkip}`);

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

test('a missing base image is a ProviderError that says to run `hardway-lab image build`', { skip: qemuMissing }, async () => {
  const emptyCache = await tempDir('hwl-empty-cache-');
  const labDir = await tempDir('hwl-noimage-lab-');
  const previous = process.env.HARDWAY_IMAGE_CACHE;
  process.env.HARDWAY_IMAGE_CACHE = emptyCache;
  try {
    const spec = labSpec({ preset: 'minimal', name: 'no-image' });
    const provider = createProvider({ plan: buildPlan(spec), spec, paths: labPaths(labDir), sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummyKeyForPreflightOnly00000000000000000 test' });
    await assert.rejects(provider.preflight(), (error: unknown) => {
      assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${String(error)}`);
      assert.match(error.message, /base image is not built/);
      assert.match(error.hint ?? '', /hardway-lab image build/);
      assert.match(error.describe(), /what to do: run `hardway-lab image build`/);
      return true;
    });
    await assert.rejects(provider.create(), /base image is not built/);
  } finally {
    if (previous === undefined) delete process.env.HARDWAY_IMAGE_CACHE;
    else process.env.HARDWAY_IMAGE_CACHE = previous;
    await rm(emptyCache, { recursive: true, force: true });
    await rm(labDir, { recursive: true, force: true });
  }
});

test('an unknown provider name is refused clearly', async () => {
  const spec = labSpec({ preset: 'minimal', name: 'other-provider' });
  (spec as { provider: string }).provider = 'hyperv';
  assert.throws(
    () => createProvider({ plan: buildPlan(spec), spec, paths: labPaths('/nonexistent'), sshPublicKey: 'ssh-ed25519 AAAA x' }),
    (error: unknown) => error instanceof ProviderError && /"hyperv" provider is not available yet/.test(error.message),
  );
});

const BOOT_PRESET = process.env.HWL_FULL ? 'ha' : 'minimal';
const BOOT_NODES = BOOT_PRESET === 'ha' ? ['lb', 'controller-0', 'controller-1', 'controller-2', 'worker-0', 'worker-1'] : ['controller-0', 'worker-0'];

test(`${BOOT_PRESET} preset: ${BOOT_NODES.length} VMs boot, answer SSH with their planned name and address, and destroy leaves nothing`, { skip: vmSkip, timeout: 45 * 60_000 }, async () => {
  // Built (about 2 minutes) or taken from the cache, in the host namespace: it needs the Debian mirror.
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const labDir = await tempDir('hwl-qemu-ha-');
  try {
    await withNetworkNamespace('qemu-ha', async (ns) => {
      const { result, seconds } = await ns.runScenario<LabScenarioResult>(
        SCENARIOS,
        'bootLabAndCheck',
        {
          labDir,
          preset: BOOT_PRESET,
          name: `qemu-${BOOT_PRESET}`,
          // The smallest sizes the spec allows, to stay light on a 2-core host.
          nodes: { lb: { memoryMiB: 512, cpus: 1 }, controller: { memoryMiB: 1024, cpus: 1 }, worker: { memoryMiB: 1024, cpus: 1 } },
          sshTimeoutMs: 15 * 60_000,
          imageCacheDir: join(image.dir, '..'),
        },
        { timeoutMs: 35 * 60_000 },
      );
      console.log(`scenario took ${seconds} s; acceleration ${result.acceleration}; all ${BOOT_NODES.length} answered SSH after ${result.allSshSeconds.toFixed(1)} s`);
      for (const n of result.nodes) console.log(`  ${n.node.padEnd(13)} SSH after ${n.bootToSshSeconds.toFixed(1)} s  ${n.eth0.split(/\s+/).slice(1, 4).join(' ')}  root ${n.rootSize}`);

      const expected = BOOT_NODES;
      assert.deepEqual(result.nodes.map((n) => n.node), expected);
      for (const n of result.nodes) {
        assert.equal(n.hostname, n.plannedHostname, `${n.node}: hostname`);
        assert.match(n.eth0, new RegExp(`^\\d+: eth0\\s+inet ${n.plannedIp.replace(/\./g, '\\.')}/24 `), `${n.node}: address on eth0 (${n.eth0})`);
        // The disk is the node's size (20 GiB controllers/workers, 10 GiB lb), grown at boot from the 2 GiB base.
        assert.match(n.rootSize, /^(9\.\d|10|19|20)G$/, `${n.node}: root filesystem grown to the disk (${n.rootSize})`);
        // The key pinned on first contact is the one the node generated on its first boot.
        assert.ok(n.hostKeyOnConsole, `${n.node}: the console shows the generated host key`);
        assert.equal(n.hostKeyPinned, n.hostKeyOnConsole, `${n.node}: pinned host key`);
      }
      assert.ok(['kvm', 'tcg'].includes(result.acceleration ?? ''), `acceleration ${result.acceleration}`);
      if (result.acceleration === 'tcg') assert.ok(result.warnings.some((w) => /software emulation|TCG/.test(w)), 'a TCG warning is reported');
      assert.deepEqual(
        result.statusWhileRunning.map((s) => [s.node, s.state]),
        expected.map((n) => [n, 'running']),
      );
      for (const phase of ['preflight', 'network', 'create-overlay', 'boot', 'destroy']) assert.ok(result.progressPhases.includes(phase), `progress phase ${phase}`);

      // Nothing left: no QEMU, no bridge or taps, no disks or pidfiles; status says absent.
      assert.deepEqual(result.leftovers.qemuProcesses, [], 'qemu processes after destroy');
      assert.deepEqual(result.leftovers.links, [], 'network devices after destroy');
      assert.deepEqual(result.leftovers.diskFiles, [], 'disks/pidfiles after destroy');
      assert.equal(result.leftovers.vmsDirExists, false, 'vms/ after destroy');
      assert.deepEqual(result.statusAfterDestroy.map((s) => s.state), expected.map(() => 'absent'));
      // And seen from outside the scenario: the namespace holds no devices and no processes.
      assert.deepEqual(ns.links(), []);
      assert.deepEqual(ns.pids(), []);
    });
  } finally {
    await rm(labDir, { recursive: true, force: true });
  }
});

test('a node whose kernel cannot mount its root: the SSH wait names the node and shows its console', { skip: vmSkip, timeout: 20 * 60_000 }, async () => {
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const labDir = await tempDir('hwl-qemu-broken-');
  try {
    await withNetworkNamespace('qemu-broken', async (ns) => {
      const { result } = await ns.runScenario<BrokenBootResult>(
        SCENARIOS,
        'brokenBootWaitFails',
        { labDir, sshTimeoutMs: 90_000, imageCacheDir: join(image.dir, '..') },
        { timeoutMs: 10 * 60_000 },
      );
      assert.equal(result.createError, undefined, `create() itself should succeed: ${result.createError}`);
      assert.ok(result.waitError, 'waiting for SSH must fail');
      console.log(result.waitError);
      assert.equal(result.waitErrorNode, 'controller-0');
      assert.match(result.waitError!, /controller-0/);
      assert.match(result.waitError!, /no SSH session within 90 s/);
      // The kernel's own last words reach the person: it could not find its root filesystem.
      assert.match(result.waitError!, /Kernel panic|VFS: Unable to mount root|Cannot open root device|not syncing/);
      assert.match(result.consoleTail, /Kernel panic|VFS/);
      // status() does not call a panicked guest "running" just because QEMU still is.
      assert.equal(result.statusAfterFailure?.state, 'failed');
      assert.match(result.statusAfterFailure?.detail ?? '', /kernel panic: VFS: Unable to mount root fs/);
      assert.deepEqual(result.leftovers.qemuProcesses, []);
      assert.deepEqual(result.leftovers.links, []);
      assert.deepEqual(result.leftovers.diskFiles, []);
    });
  } finally {
    await rm(labDir, { recursive: true, force: true });
  }
});
