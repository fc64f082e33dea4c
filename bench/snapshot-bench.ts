// Snapshot benchmark: what snapshots cost and what rewind saves, on the `minimal` preset (one
// controller, one worker) driven through the CLI as a user would:
//   - `up --until etcd` with a snapshot after each step, against the same `up` with
//     snapshots.afterEachStep off (the cost of the automatic snapshots on the whole run);
//   - how long the VMs are held for each automatic snapshot, and a live `snapshot save`;
//   - disk per snapshot (the overlays' growth while taking them);
//   - `rewind kubeconfigs` + `up --until etcd` against what it replaces: `destroy` and
//     `up --until etcd` from nothing.
//
//   sudo npx tsx bench/snapshot-bench.ts
//
// Runs in a network namespace of its own (test/helpers/netns.ts) and destroys its labs. Needs root,
// qemu-system-x86_64, the base image and the Go-built artifacts (`npm test -- artifacts`).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSnapshotIndex } from '../main/lab/lab-snapshots.ts';
import { labPaths } from '../main/lab/lab-dir.ts';
import { NetworkNamespace, REPO_ROOT, netnsUnavailableReason } from '../test/helpers/netns.ts';
import { testArtifacts } from '../test/helpers/lab-artifacts.ts';

const CLI = join(REPO_ROOT, 'bin', 'hardway-lab.mjs');

function cli(ns: NetworkNamespace, args: string[]): { code: number | null; stdout: string; stderr: string; seconds: number } {
  const started = Date.now();
  const r = spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, CLI, ...args], { encoding: 'utf8', timeout: 60 * 60_000 });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (r.status !== 0) console.log(`  (exit ${r.status}) hardway-lab ${args.join(' ')}\n${(r.stderr ?? '').slice(-2000)}`);
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', seconds };
}

/** Bytes the overlays really use on the host (allocated blocks). */
function overlayBytes(lab: string): number {
  let total = 0;
  for (const node of readdirSync(join(lab, 'vms'))) total += statSync(join(lab, 'vms', node, 'disk.qcow2')).blocks * 512;
  return total;
}

function spec(dir: string, snapshots: 'on' | 'off'): string {
  const file = join(dir, `spec-${snapshots}.yaml`);
  writeFileSync(file, `name: snapbench\npreset: minimal\nnodes:\n  controller:\n    memoryMiB: 1024\n  worker:\n    memoryMiB: 1024\nsnapshots:\n  afterEachStep: ${snapshots}\n`);
  return file;
}

const MiB = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

async function main(): Promise<number> {
  const why = netnsUnavailableReason() ?? testArtifacts().skip;
  if (why) {
    console.warn(`SKIPPED: snapshot bench: ${why}`);
    return 0;
  }
  const artifacts = testArtifacts().artifacts!.root;
  const dir = mkdtempSync(join(tmpdir(), 'hwl-snapbench-'));
  const ns = NetworkNamespace.create('snapbench');
  const rows: string[][] = [];
  try {
    for (const mode of ['off', 'on'] as const) {
      const lab = join(dir, `lab-${mode}`);
      const vms = cli(ns, ['up', '--vms-only', '--lab', lab, '--spec', spec(dir, mode)]);
      if (vms.code !== 0) return 1;
      const before = overlayBytes(lab);
      const up = cli(ns, ['up', '--until', 'etcd', '--lab', lab, '--artifacts', artifacts]);
      if (up.code !== 0) return 1;
      rows.push([`up --until etcd, snapshots ${mode}`, `${up.seconds} s`, `overlays grew ${MiB(overlayBytes(lab) - before)}`]);
      if (mode === 'off') {
        cli(ns, ['destroy', '--lab', lab]);
        continue;
      }
      const index = readSnapshotIndex(labPaths(lab));
      rows.push([`automatic snapshots (${index.length})`, `each took ${index.map((s) => s.seconds).join(' / ')} s`, '']);
      const grow0 = overlayBytes(lab);
      const save = cli(ns, ['snapshot', 'save', 'bench', '--lab', lab]);
      rows.push(['snapshot save (live, by hand)', `${save.seconds} s`, `${save.stdout.match(/in [\d.]+ s/)?.[0] ?? ''}, +${MiB(overlayBytes(lab) - grow0)} at once`]);
      const rewind = cli(ns, ['rewind', 'kubeconfigs', '--lab', lab, '--artifacts', artifacts]);
      rows.push(['rewind kubeconfigs (restore, boot, checkers)', `${rewind.seconds} s`, rewind.code === 0 ? 'ok' : 'FAILED']);
      const again = cli(ns, ['up', '--until', 'etcd', '--lab', lab, '--artifacts', artifacts]);
      rows.push(['  then up --until etcd', `${again.seconds} s`, `rewind + up = ${rewind.seconds + again.seconds} s`]);
      rows.push(['disk per snapshot (average)', MiB((overlayBytes(lab) - before) / Math.max(readSnapshotIndex(labPaths(lab)).length, 1)), `${readSnapshotIndex(labPaths(lab)).length} snapshots, overlays ${MiB(overlayBytes(lab))}`]);
      cli(ns, ['destroy', '--lab', lab]);
      // What rewind replaces: the lab made again from nothing to the same step.
      const fresh = cli(ns, ['up', '--until', 'etcd', '--lab', lab, '--artifacts', artifacts]);
      rows.push(['instead: destroy, then up --until etcd from nothing', `${fresh.seconds} s`, '']);
      cli(ns, ['destroy', '--lab', lab]);
    }
  } finally {
    ns.delete();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('\nsnapshot bench (minimal preset, this host):');
  const width = Math.max(...rows.map((r) => r[0]!.length));
  for (const [what, time, note] of rows) console.log(`  ${what!.padEnd(width)}  ${time!.padStart(10)}  ${note}`);
  return 0;
}

process.exitCode = await main();
