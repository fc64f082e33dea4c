// E2E, tier 2: the UI on a REAL lab. The `ha` preset (lb + 3 controllers + 2 workers) under QEMU
// (TCG here) in a network namespace of the test's own, with Debian's etcd as the artifact. The
// server, the VMs and Chromium all run inside the namespace (support/real-lab-ui-scenario.ts);
// this file prepares what needs the host (base image, artifacts, the lab's spec) and asserts on
// what the scenario saw in the page.
//
// Needs root, qemu-system-x86_64, mmdebstrap (first image build), Debian's etcd-server and
// etcd-client, and Chromium. About 8 minutes under software emulation (TCG) on a quiet 2-core host.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { fillArtifactsFromDebian } from '../../main/artifacts/fill-from-debian.ts';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { defaultSpecText } from '../../main/spec/parse-spec.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import { chromiumUnavailableReason, SCREENSHOTS } from './support/chromium.ts';
import type { RealLabUiResult } from './support/real-lab-ui-scenario.ts';

const SCENARIO = fileURLToPath(new URL('./support/real-lab-ui-scenario.ts', import.meta.url));

const skip =
  netnsUnavailableReason() ??
  chromiumUnavailableReason() ??
  ((await commandExists('qemu-system-x86_64')) ? undefined : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)') ??
  ((await commandExists('mmdebstrap')) ? undefined : 'mmdebstrap is not installed (needed to build the base image)') ??
  (existsSync('/usr/bin/etcd') && existsSync('/usr/bin/etcdctl') ? undefined : "Debian's etcd-server and etcd-client are not installed (the lab's etcd comes from them here)") ??
  (process.env.HWL_E2E_SKIP_REAL_LAB ? 'HWL_E2E_SKIP_REAL_LAB is set' : undefined);
if (skip) console.warn(`SKIPPED: e2e on a real lab: ${skip}`);

/** The ha preset at the smallest sizes the spec allows: six VMs under TCG on a small host. */
function smallHaSpec(name: string, versions: Record<string, string>): string {
  const doc = parseDocument(defaultSpecText());
  doc.set('name', name);
  // The spec pins what the artifacts really are: the etcd checker compares the running version.
  for (const key of ['etcd', 'containerd', 'runc', 'cniPlugins'] as const) if (versions[key]) doc.setIn(['versions', key], versions[key]);
  doc.setIn(['nodes', 'lb', 'memoryMiB'], 512);
  doc.setIn(['nodes', 'controller', 'cpus'], 1);
  doc.setIn(['nodes', 'controller', 'memoryMiB'], 1024);
  doc.setIn(['nodes', 'worker', 'cpus'], 1);
  doc.setIn(['nodes', 'worker', 'memoryMiB'], 1024);
  return doc.toString();
}

test('on a real lab: steps run from the walkthrough, dashboard, terminal, etcd checker passes, then fails with its hint when a member stops', { skip, timeout: 90 * 60_000 }, async () => {
  // Host side (needs Debian's mirror for a first image build): the base image and the artifacts.
  await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-e2e-lab-'));
  const artifactsDir = await mkdtemp(join(tmpdir(), 'hwl-e2e-artifacts-'));
  try {
    const artifacts = await fillArtifactsFromDebian(artifactsDir, { haproxy: false, log: (line) => console.log(`[artifacts] ${line}`) });
    await writeFile(join(labDir, 'hardway-lab.yaml'), smallHaSpec('e2eui', artifacts.versions));

    const run = await withNetworkNamespace('e2e-ui', (ns) =>
      // HWL_E2E_FROM_STEP starts the walkthrough at a later step (to look at the rest while an
      // earlier step is broken); the assertions below then fail on the missing steps, on purpose.
      ns.runScenario<RealLabUiResult>(SCENARIO, 'realLabUi', { labDir, artifactsDir, from: process.env.HWL_E2E_FROM_STEP, until: 'etcd', screenshots: SCREENSHOTS }, { timeoutMs: 85 * 60_000 }),
    );
    const r = run.result;
    console.log(`scenario finished in ${run.seconds} s: ${JSON.stringify(r, null, 1)}`);

    // Every step up to etcd ran from the walkthrough's "Run step" and passed its checker.
    assert.equal(r.stoppedAt, undefined, `a step did not finish: ${JSON.stringify(r.steps.at(-1))}`);
    assert.deepEqual(
      r.steps.map((s) => `${s.id}:${s.status}`),
      ['preflight:done', 'compute:done', 'certificates:done', 'kubeconfigs:done', 'encryption-config:done', 'etcd:done'],
    );

    // The dashboard saw every node up and etcd healthy.
    assert.deepEqual(Object.keys(r.dashboard!.nodeStates).sort(), ['controller-0', 'controller-1', 'controller-2', 'lb', 'worker-0', 'worker-1']);
    for (const [node, state] of Object.entries(r.dashboard!.nodeStates)) assert.match(state, /\bok\b/, `${node} is healthy on the dashboard`);
    assert.match(r.dashboard!.etcd, /healthy.*leader: controller-\d/s);

    // hostname typed into the controller's terminal came back on screen.
    assert.equal(r.hostnameSeen, 'controller-0');

    // The etcd checker from the UI passes, then fails with its hint once a member is stopped.
    assert.equal(r.etcdCheck?.verdict, 'passed');
    assert.ok((r.etcdCheck?.probes ?? 0) >= 3);
    assert.equal(r.brokenCheck?.verdict, 'failed');
    const failing = r.brokenCheck!.failing;
    assert.ok(failing.length > 0);
    assert.ok(failing.some((f) => /controller-2/.test(f.node + f.seen + f.name)), `a failing probe names controller-2: ${JSON.stringify(failing)}`);
    assert.ok(failing.every((f) => /Fix: \S/.test(f.hint)), 'every failing probe shows its hint');

    // ...and the dashboard shows etcd degraded: 2 of 3 members, still a leader.
    assert.match(r.dashboardAfterBreak!.etcd, /degraded/);
    assert.match(r.dashboardAfterBreak!.etcdDetail, /2\/3 members healthy/);
    assert.match(r.dashboardAfterBreak!.controller2Etcd, /inactive|failed/);

    // Destroy from the header removed the VMs.
    assert.equal(r.destroy?.status, 'done', r.destroy?.error);
    assert.deepEqual(r.pageErrors.filter((e) => !/Failed to load resource/.test(e)), []);
  } finally {
    await rm(labDir, { recursive: true, force: true });
    await rm(artifactsDir, { recursive: true, force: true });
  }
});
