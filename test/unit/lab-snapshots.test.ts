// The bookkeeping half of snapshots and rewind (the VM half runs on real VMs in cli-vms.test.ts):
// which step a snapshot is after, the state a rewind leaves, the policy for automatic snapshots.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { LabStateFile } from '../../main/engine/lab-state.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { autoSnapshotPolicy, lastDoneStep, rewindLab, stateAfter } from '../../main/lab/lab-snapshots.ts';

const IDS = ['preflight', 'compute', 'certificates', 'etcd'];
const at = '2026-12-03T00:00:00.000Z';
const state = (statuses: Record<string, 'done' | 'failed' | 'skipped'>): LabStateFile => ({
  version: 1,
  updatedAt: at,
  steps: Object.fromEntries(Object.entries(statuses).map(([id, status]) => [id, { id, status }])),
  timing: { scale: 4 } as LabStateFile['timing'],
});

test('a snapshot by hand is after the last step of the unbroken run of done steps', () => {
  assert.equal(lastDoneStep(IDS, state({})), undefined);
  assert.equal(lastDoneStep(IDS, state({ preflight: 'done', compute: 'done', certificates: 'failed', etcd: 'done' })), 'compute');
  assert.equal(lastDoneStep(IDS, state({ preflight: 'done', compute: 'skipped', certificates: 'done' })), 'certificates');
});

test('the state after a step keeps that step and the ones before it, and nothing later (however stale)', () => {
  const after = stateAfter(IDS, state({ preflight: 'done', compute: 'done', certificates: 'done', etcd: 'done' }), 'compute');
  assert.deepEqual(Object.keys(after.steps), ['preflight', 'compute']);
  assert.equal(after.timing?.scale, 4);
  assert.deepEqual(stateAfter(IDS, state({ preflight: 'done' }), undefined).steps, {});
});

test('automatic snapshots: on and off as the spec says; auto decides by the free disk, and says why', () => {
  const paths = labPaths(mkdtempSync(join(tmpdir(), 'hwl-snap-')));
  assert.deepEqual(autoSnapshotPolicy({ snapshots: { afterEachStep: 'on' } }, paths, 6), { on: true, reason: 'snapshots.afterEachStep is on' });
  assert.equal(autoSnapshotPolicy({ snapshots: { afterEachStep: 'off' } }, paths, 6).on, false);
  const small = autoSnapshotPolicy({ snapshots: { afterEachStep: 'auto' } }, paths, 2);
  const huge = autoSnapshotPolicy({ snapshots: { afterEachStep: 'auto' } }, paths, 1_000_000);
  assert.equal(huge.on, false);
  assert.match(huge.reason, /GiB free in .*3000000 GiB wanted \(set snapshots\.afterEachStep: on/);
  assert.match(small.reason, small.on ? /GiB free, at least 6 GiB wanted/ : /6 GiB wanted/);
});

test('rewinding to a step with no snapshot after it says which steps have one and how to get them', async () => {
  const paths = labPaths(mkdtempSync(join(tmpdir(), 'hwl-snap-')));
  const parts = { paths, stepIds: IDS } as unknown as Parameters<typeof rewindLab>[0];
  await assert.rejects(rewindLab(parts, 'etcd'), /no snapshot taken after step etcd.*\n.*snapshots\.afterEachStep on/s);
  await assert.rejects(rewindLab(parts, 'nosuch'), /there is no step "nosuch".*preflight, compute, certificates, etcd/s);
});
