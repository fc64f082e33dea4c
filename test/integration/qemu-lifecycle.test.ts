// One qemu node through its life: create is idempotent, stop is a clean ACPI power-down, start
// brings the same disk back (same host key), a QEMU killed behind the provider's back (stale
// pidfile) shows as failed and the next create restarts it, destroy leaves nothing.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import type { LifecycleResult } from '../helpers/qemu-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('../helpers/qemu-lab-scenarios.ts', import.meta.url));
const skip =
  netnsUnavailableReason() ??
  ((await commandExists('qemu-system-x86_64')) ? undefined : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)') ??
  ((await commandExists('mmdebstrap')) ? undefined : 'mmdebstrap is not installed');
if (skip) console.warn(`SKIPPED: qemu lifecycle test: ${skip}`);

test('qemu node lifecycle: idempotent create, clean stop, start, stale pidfile, destroy', { skip, timeout: 30 * 60_000 }, async () => {
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-qemu-life-'));
  try {
    await withNetworkNamespace('qemu-life', async (ns) => {
      const { result, seconds } = await ns.runScenario<LifecycleResult>(SCENARIOS, 'nodeLifecycle', { labDir, imageCacheDir: join(image.dir, '..') }, { timeoutMs: 25 * 60_000 });
      console.log(`lifecycle took ${seconds} s; clean stop took ${result.stopSeconds.toFixed(1)} s`);
      assert.ok(result.firstPid > 1);
      assert.equal(result.pidAfterSecondCreate, result.firstPid, 'a second create leaves a running node alone');
      assert.equal(result.stateAfterStop, 'stopped');
      assert.ok(result.qemuExitedAfterStop, 'QEMU exited after stop');
      assert.ok(result.consoleShowsCleanShutdown, `the guest shut down cleanly (ACPI power button), not killed; its console ended with:\n${result.consoleAtStop}`);
      assert.equal(result.restartHostname, 'controller-0');
      assert.ok(result.restartHostKeyMatched, 'same disk, same host key after start');
      assert.equal(result.stateAfterKill, 'failed', `status with a stale pidfile: ${result.stateDetailAfterKill}`);
      assert.match(result.stateDetailAfterKill ?? '', /exited unexpectedly/);
      assert.ok(result.pidAfterRecreate && result.pidAfterRecreate !== result.firstPid, 'create restarts a node whose QEMU died');
      assert.equal(result.hostnameAfterRecreate, 'controller-0');
      assert.ok(result.bootIdsDiffer);
      assert.deepEqual(result.leftovers.qemuProcesses, []);
      assert.deepEqual(result.leftovers.links, []);
      assert.deepEqual(result.leftovers.diskFiles, []);
      assert.equal(result.leftovers.vmsDirExists, false);
      assert.deepEqual(ns.links(), []);
      assert.deepEqual(ns.pids(), []);
    });
  } finally {
    await rm(labDir, { recursive: true, force: true });
  }
});
