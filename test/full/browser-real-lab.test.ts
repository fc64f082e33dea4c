// Full tier (opt-in: `npm test -- full`): the UI drives a lab of its own from the first step. The
// `ha` shape (lb + 3 controllers + 2 workers, 1 vCPU each) under QEMU (TCG here) in a network
// namespace of the test's own, with the Go-built artifacts. The server, the VMs and Chromium all
// run inside the namespace (../e2e/support/real-lab-ui-scenario.ts): every step up to etcd with
// the walkthrough's "Run step", the dashboard, a terminal, the etcd checker passing and then
// failing when a member is stopped from a terminal, Destroy. The default run shows the UI on the
// story's fully built cluster instead (test/integration/hardway-steps.test.ts), which saves a lab.
//
// Needs root, qemu-system-x86_64, the base image, the Go-built artifacts, and Chromium. About 8
// minutes under software emulation (TCG) on a quiet 2-core host.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { buildBaseImage, commandExists } from '../../main/image/build-image.ts';
import { testArtifacts } from '../helpers/lab-artifacts.ts';
import { defaultSpecText } from '../../main/spec/parse-spec.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../helpers/netns.ts';
import { chromiumUnavailableReason, SCREENSHOTS } from '../e2e/support/chromium.ts';
import type { RealLabUiResult } from '../e2e/support/real-lab-ui-scenario.ts';

const SCENARIO = fileURLToPath(new URL('../e2e/support/real-lab-ui-scenario.ts', import.meta.url));
const built = testArtifacts();

const skip =
  netnsUnavailableReason() ??
  chromiumUnavailableReason() ??
  ((await commandExists('qemu-system-x86_64')) ? undefined : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)') ??
  ((await commandExists('mmdebstrap')) ? undefined : 'mmdebstrap is not installed (needed to build the base image)') ??
  built.skip ??
  (process.env.HWL_E2E_SKIP_REAL_LAB ? 'HWL_E2E_SKIP_REAL_LAB is set' : undefined);
if (skip) console.warn(`SKIPPED: e2e on a real lab: ${skip}`);

/** The ha preset at the smallest sizes the spec allows: six VMs under TCG on a small host. */
function smallHaSpec(name: string): string {
  const doc = parseDocument(defaultSpecText());
  doc.set('name', name);
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
  const artifactsDir = built.artifacts!.root;
  try {
    await writeFile(join(labDir, 'hardway-lab.yaml'), smallHaSpec('e2eui'));

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
  }
});
