// Snapshots and rewind, the same way from every face (CLI, Electron, browser mode), under the lab
// lock. A lab snapshot is three things taken at one moment:
//   - a snapshot of every node's disk, by the provider (qcow2 internal snapshots, libvirt's or
//     Vagrant's; see Provider.snapshotSave);
//   - the host's half of the lab that steps change: pki/, kubeconfigs/, secrets/ (the checkers
//     compare the nodes with these, so they must go back too);
//   - state.json, cut after the last step done, so a restore shows the later steps as not done.
// <lab>/snapshots/index.json lists them; <lab>/snapshots/<name>/ holds the host's half.
//
// With `snapshots.afterEachStep` on (the default where the disk has room), `up` and a step run take
// `after-<step>` after each step whose checker passes; `rewind STEP` restores that one, then boots
// the nodes and waits until every step up to STEP passes its checker again.

import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { LabEngine } from '../engine/lab-engine.ts';
import { readLabState, withLabLock, writeLabState, type LabStateFile } from '../engine/lab-state.ts';
import type { Plan } from '../plan/address-plan.ts';
import { ProviderError, type Provider } from '../providers/provider.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import type { SshPool } from '../ssh/ssh-pool.ts';
import { writeFileAtomic } from '../pki/write-file-atomic.ts';
import type { LabPaths } from './lab-dir.ts';
import { bootAndRecheck, type LifecycleOptions, type StartReport } from './lab-lifecycle.ts';

export interface SnapshotRecord {
  name: string;
  createdAt: string;
  /** The last step done, in order, when it was taken: after a restore the later steps are not done. */
  afterStep?: string;
  /** Taken by `up` after a step (`after-<step>`), not by hand. */
  auto: boolean;
  nodes: string[];
  /** Whether the VMs were running (a live snapshot) or stopped. */
  live: boolean;
  /** How long the disk snapshots took, seconds. */
  seconds: number;
  /** Running nodes whose `sync` over SSH failed: taken as they were (like a power cut). */
  unsynced?: string[];
}

export interface SnapshotListing extends SnapshotRecord {
  /** Nodes whose disk lacks it (deleted by hand, or a node re-created): it cannot be restored. */
  missingOn: string[];
}

export interface SnapshotParts {
  plan: Plan;
  paths: LabPaths;
  provider: Provider;
  pool: SshPool;
  /** Step ids in order. */
  stepIds: readonly string[];
}

export interface RestoreReport extends StartReport {
  snapshot: SnapshotRecord;
  /** Steps that are no longer done after the restore. */
  reset: string[];
}

/** The host-side directories that go back with a snapshot. */
const HOST_PARTS = ['pki', 'kubeconfigs', 'secrets'] as const;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function snapshotsDir(paths: LabPaths): string {
  return join(paths.root, 'snapshots');
}

export function autoSnapshotName(step: string): string {
  return `after-${step}`;
}

export function readSnapshotIndex(paths: LabPaths): SnapshotRecord[] {
  try {
    const parsed = JSON.parse(readFileSync(join(snapshotsDir(paths), 'index.json'), 'utf8')) as { snapshots?: SnapshotRecord[] };
    return Array.isArray(parsed.snapshots) ? parsed.snapshots : [];
  } catch {
    return [];
  }
}

function writeSnapshotIndex(paths: LabPaths, snapshots: SnapshotRecord[]): void {
  mkdirSync(snapshotsDir(paths), { recursive: true });
  writeFileAtomic(join(snapshotsDir(paths), 'index.json'), `${JSON.stringify({ version: 1, snapshots }, null, 2)}\n`, 0o644);
}

/** The last step of the unbroken run of done (or skipped) steps from the first. */
export function lastDoneStep(stepIds: readonly string[], state: LabStateFile): string | undefined {
  let last: string | undefined;
  for (const id of stepIds) {
    const status = state.steps[id]?.status;
    if (status !== 'done' && status !== 'skipped') break;
    last = id;
  }
  return last;
}

/** The state as it was right after `afterStep`: every later step is not done (no entry). */
export function stateAfter(stepIds: readonly string[], state: LabStateFile, afterStep: string | undefined): LabStateFile {
  const keep = afterStep === undefined ? 0 : stepIds.indexOf(afterStep) + 1;
  const steps: LabStateFile['steps'] = {};
  for (const id of stepIds.slice(0, keep)) if (state.steps[id]) steps[id] = state.steps[id]!;
  return { ...state, steps };
}

/**
 * Takes a snapshot of the whole lab; the caller holds the lab lock. Every node must exist; a
 * running node is synced first (`sync` over SSH; one that does not answer is taken as it is).
 */
export async function takeSnapshot(parts: SnapshotParts, name: string, options: { afterStep?: string; auto?: boolean } = {}): Promise<SnapshotRecord> {
  const { plan, paths, provider, pool } = parts;
  checkName(name);
  const statuses = await provider.status();
  const absent = statuses.filter((s) => s.state === 'absent').map((s) => s.node);
  if (absent.length > 0) {
    throw new ProviderError(`cannot take a snapshot: ${absent.join(', ')} ${absent.length === 1 ? 'has' : 'have'} no VM yet`, { node: absent[0], hint: 'create the VMs first (`hardway-lab up --until compute`)' });
  }
  const running = statuses.filter((s) => s.state === 'running' || s.state === 'starting').map((s) => s.node);
  const state = readLabState(paths.state);
  const afterStep = options.afterStep ?? lastDoneStep(parts.stepIds, state);
  const unsynced: string[] = [];
  await Promise.all(running.map((node) => pool.exec(node, 'sync', { timeoutMs: 30_000 }).catch((error: Error) => unsynced.push(`${node} (${error.message.split('\n')[0]})`))));
  const started = Date.now();
  const nodes = plan.nodes.map((n) => n.name);
  await provider.snapshotSave(name, nodes);
  const seconds = Math.round((Date.now() - started) / 10) / 100;

  const dir = join(snapshotsDir(paths), name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const part of HOST_PARTS) {
    const from = paths[part];
    // cpSync keeps each file's mode: keys and secrets stay 0600.
    if (existsSync(from)) cpSync(from, join(dir, part), { recursive: true, preserveTimestamps: true });
  }
  writeFileAtomic(join(dir, 'state.json'), `${JSON.stringify(stateAfter(parts.stepIds, state, afterStep), null, 2)}\n`, 0o644);

  const record: SnapshotRecord = { name, createdAt: new Date().toISOString(), afterStep, auto: options.auto ?? false, nodes, live: running.length > 0, seconds, ...(unsynced.length ? { unsynced } : {}) };
  writeSnapshotIndex(paths, [...readSnapshotIndex(paths).filter((s) => s.name !== name), record]);
  return record;
}

export async function saveSnapshot(parts: SnapshotParts, name: string): Promise<SnapshotRecord> {
  return withLabLock(parts.paths.lock, `snapshot save ${name}`, () => takeSnapshot(parts, name));
}

/** Every snapshot of the index, oldest first, with the nodes whose disk lacks it. */
export async function listSnapshots(parts: Pick<SnapshotParts, 'paths' | 'provider'>): Promise<SnapshotListing[]> {
  const records = readSnapshotIndex(parts.paths);
  const onDisk = new Map<string, string[]>();
  const listing: SnapshotListing[] = [];
  for (const record of records) {
    const missingOn: string[] = [];
    for (const node of record.nodes) {
      if (!onDisk.has(node)) onDisk.set(node, await parts.provider.snapshotList(node).catch(() => []));
      if (!onDisk.get(node)!.includes(record.name)) missingOn.push(node);
    }
    listing.push({ ...record, missingOn });
  }
  return listing;
}

export async function deleteSnapshot(parts: SnapshotParts, name: string): Promise<void> {
  await withLabLock(parts.paths.lock, `snapshot delete ${name}`, async () => {
    const record = findRecord(parts.paths, name);
    await parts.provider.snapshotDelete(name, record.nodes);
    rmSync(join(snapshotsDir(parts.paths), name), { recursive: true, force: true });
    writeSnapshotIndex(parts.paths, readSnapshotIndex(parts.paths).filter((s) => s.name !== name));
  });
}

/** Brings every VM, the host's PKI and secrets and state.json back to the snapshot, then waits for its steps' checkers. */
export async function restoreSnapshot(parts: SnapshotParts & { engine: LabEngine }, name: string, options: LifecycleOptions = {}): Promise<RestoreReport> {
  return withLabLock(parts.paths.lock, `snapshot restore ${name}`, () => restoreUnlocked(parts, findRecord(parts.paths, name), options));
}

/** `rewind STEP`: the snapshot taken right after STEP (the automatic one, else the newest by hand). */
export async function rewindLab(parts: SnapshotParts & { engine: LabEngine }, step: string, options: LifecycleOptions = {}): Promise<RestoreReport> {
  if (!parts.stepIds.includes(step)) throw new Error(`there is no step "${step}"\n  what to do: name one of: ${parts.stepIds.join(', ')}`);
  return withLabLock(parts.paths.lock, `rewind ${step}`, async () => {
    const records = readSnapshotIndex(parts.paths);
    const record = records.find((r) => r.name === autoSnapshotName(step)) ?? records.filter((r) => r.afterStep === step).at(-1);
    if (!record) {
      const after = records.map((r) => r.afterStep).filter((s): s is string => !!s);
      throw new Error(
        `there is no snapshot taken after step ${step}, so the lab cannot be rewound to it\n` +
          `  what to do: ${after.length ? `rewind to a step that has one (${[...new Set(after)].join(', ')}), or ` : ''}run up with snapshots.afterEachStep on in hardway-lab.yaml, which takes one after every step`,
      );
    }
    return restoreUnlocked(parts, record, options);
  });
}

async function restoreUnlocked(parts: SnapshotParts & { engine: LabEngine }, record: SnapshotRecord, options: LifecycleOptions): Promise<RestoreReport> {
  const { paths, provider, pool } = parts;
  const progress = options.onProgress ?? (() => {});
  const dir = join(snapshotsDir(paths), record.name);
  const savedStateFile = join(dir, 'state.json');
  if (!existsSync(savedStateFile)) throw new Error(`the snapshot ${record.name} has lost its saved state (${savedStateFile})\n  what to do: delete it (hardway-lab snapshot delete ${record.name}) and use another one`);
  const saved = JSON.parse(readFileSync(savedStateFile, 'utf8')) as LabStateFile;
  const before = readLabState(paths.state);

  progress(`restoring the disks of ${record.nodes.join(', ')} to ${record.name}`, 0.02);
  pool.close();
  await provider.snapshotRestore(record.name, record.nodes);
  for (const part of HOST_PARTS) {
    const from = join(dir, part);
    if (!existsSync(from)) continue;
    rmSync(paths[part], { recursive: true, force: true });
    cpSync(from, paths[part], { recursive: true, preserveTimestamps: true });
  }
  // The measured guest speed belongs to this host, not to the snapshot.
  const state: LabStateFile = { ...saved, ...(before.timing ? { timing: before.timing } : {}), lifecycle: { state: 'running', since: new Date().toISOString() } };
  writeLabState(paths.state, state);
  const reset = parts.stepIds.filter((id) => before.steps[id]?.status === 'done' && state.steps[id]?.status !== 'done');

  const wereDone = parts.stepIds.filter((id) => state.steps[id]?.status === 'done');
  const report = await bootAndRecheck(parts, wereDone, { ...options, onProgress: (message, fraction) => progress(message, 0.05 + 0.95 * (fraction ?? 0)) });
  return { ...report, snapshot: record, reset };
}

function findRecord(paths: LabPaths, name: string): SnapshotRecord {
  const records = readSnapshotIndex(paths);
  const record = records.find((r) => r.name === name);
  if (!record) {
    throw new Error(`there is no snapshot named "${name}" in this lab\n  what to do: ${records.length ? `use one of: ${records.map((r) => r.name).join(', ')}` : 'take one with `hardway-lab snapshot save NAME`'}`);
  }
  return record;
}

function checkName(name: string): void {
  if (!NAME.test(name)) throw new Error(`"${name}" is not a usable snapshot name\n  what to do: use letters, digits, ".", "_" and "-" (up to 63), starting with a letter or digit`);
}

// ---------------------------------------------------------------------------------------------
// After each step

/** Disk a lab should have free, per node, before snapshots are taken after every step. */
export const AUTO_SNAPSHOT_FREE_GIB_PER_NODE = 3;

/** Whether `up` takes a snapshot after each step, and why: the spec, else the free disk. */
export function autoSnapshotPolicy(spec: Pick<ClusterSpec, 'snapshots'>, paths: LabPaths, nodes: number): { on: boolean; reason: string } {
  const setting = spec.snapshots.afterEachStep;
  if (setting === 'on') return { on: true, reason: 'snapshots.afterEachStep is on' };
  if (setting === 'off') return { on: false, reason: 'snapshots.afterEachStep is off' };
  const need = AUTO_SNAPSHOT_FREE_GIB_PER_NODE * Math.max(nodes, 1);
  let freeGiB: number;
  try {
    const fs = statfsSync(existsSync(paths.root) ? paths.root : '/');
    freeGiB = (fs.bavail * fs.bsize) / 1024 ** 3;
  } catch {
    return { on: false, reason: 'the free disk space of the lab directory is unknown' };
  }
  return freeGiB >= need
    ? { on: true, reason: `${freeGiB.toFixed(0)} GiB free, at least ${need} GiB wanted` }
    : { on: false, reason: `only ${freeGiB.toFixed(1)} GiB free in ${paths.root}, ${need} GiB wanted (set snapshots.afterEachStep: on to take them anyway)` };
}

/**
 * The engine's after-step hook: `after-<step>` once every node runs (not before the VMs exist).
 * Returns what to log, or undefined when nothing was taken.
 */
export async function snapshotAfterStep(parts: SnapshotParts, step: string): Promise<string | undefined> {
  const statuses = await parts.provider.status();
  if (statuses.some((s) => s.state !== 'running')) return undefined;
  const record = await takeSnapshot(parts, autoSnapshotName(step), { afterStep: step, auto: true });
  return `snapshot ${record.name} of ${record.nodes.length} nodes taken (in ${record.seconds} s${record.unsynced ? `; not synced first: ${record.unsynced.join(', ')}` : ''}); \`hardway-lab rewind ${step}\` comes back here`;
}
