// `hardway-lab snapshot save|restore|list|delete` and `hardway-lab rewind STEP`.

import { openLabRuntime } from '../lab/lab-runtime.ts';
import { deleteSnapshot, listSnapshots, restoreSnapshot, rewindLab, saveSnapshot, type RestoreReport, type SnapshotParts } from '../lab/lab-snapshots.ts';
import type { LabRuntime } from '../lab/lab-runtime.ts';
import type { CliIo } from './cli.ts';
import { formatTable } from './format-plan.ts';
import { formatChecks } from './lab-commands.ts';
import { UsageError, type LabContext } from './lab-context.ts';

export const SNAPSHOT_SUBCOMMANDS = ['save', 'restore', 'list', 'delete'] as const;

function partsOf(ctx: LabContext, runtime: LabRuntime, artifacts?: string): SnapshotParts & { engine: ReturnType<LabRuntime['engine']> } {
  const engine = runtime.engine({ artifactsDir: artifacts });
  return { plan: ctx.plan, paths: ctx.paths, provider: runtime.provider, pool: runtime.pool, engine, stepIds: engine.steps.map((s) => s.id) };
}

export async function snapshotCommand(ctx: LabContext, sub: string | undefined, name: string | undefined, options: { json?: boolean; artifacts?: string }, io: CliIo, signal: AbortSignal): Promise<number> {
  if (!sub || !(SNAPSHOT_SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`usage: hardway-lab snapshot <${SNAPSHOT_SUBCOMMANDS.join('|')}> [NAME]`, 'e.g. `hardway-lab snapshot save before-upgrade`, then `hardway-lab snapshot restore before-upgrade`.');
  }
  if (sub !== 'list' && !name) throw new UsageError(`hardway-lab snapshot ${sub} needs a snapshot NAME`, '`hardway-lab snapshot list` shows them.');
  const runtime = await openLabRuntime(ctx);
  try {
    runtime.provider.onProgress((event) => io.err(`${event.node ? `[${event.node}] ` : ''}${event.message}`));
    const parts = partsOf(ctx, runtime, options.artifacts);
    switch (sub) {
      case 'save': {
        const record = await saveSnapshot(parts, name!);
        io.out(`Saved snapshot "${record.name}" of ${record.nodes.length} nodes (${record.live ? 'live' : 'stopped'}, in ${record.seconds} s), after step ${record.afterStep ?? '(none yet)'}. \`hardway-lab snapshot restore ${record.name}\` comes back to it.`);
        return 0;
      }
      case 'list': {
        const listing = await listSnapshots(parts);
        if (options.json) {
          io.out(JSON.stringify(listing, null, 2));
          return 0;
        }
        if (listing.length === 0) {
          io.out('No snapshots yet. `hardway-lab snapshot save NAME` takes one; with snapshots.afterEachStep on, `up` takes one after each step.');
          return 0;
        }
        io.out(
          formatTable(
            ['NAME', 'AFTER STEP', 'TAKEN', 'KIND', 'STATE'],
            listing.map((s) => [s.name, s.afterStep ?? '-', s.createdAt.replace('T', ' ').slice(0, 19), `${s.auto ? 'auto' : 'manual'}, ${s.live ? 'live' : 'stopped'}`, s.missingOn.length ? `missing on ${s.missingOn.join(', ')}` : 'ok']),
          ),
        );
        return 0;
      }
      case 'delete':
        await deleteSnapshot(parts, name!);
        io.out(`Deleted snapshot "${name}".`);
        return 0;
      default:
        return printRestore(ctx, await restoreSnapshot(parts, name!, { signal, onProgress: (message) => io.err(message) }), io);
    }
  } finally {
    runtime.close();
  }
}

export async function rewindCommand(ctx: LabContext, step: string | undefined, options: { artifacts?: string }, io: CliIo, signal: AbortSignal): Promise<number> {
  if (!step) throw new UsageError('usage: hardway-lab rewind STEP', '`hardway-lab snapshot list` shows the steps that have a snapshot after them.');
  const runtime = await openLabRuntime(ctx);
  try {
    runtime.provider.onProgress((event) => io.err(`${event.node ? `[${event.node}] ` : ''}${event.message}`));
    const parts = partsOf(ctx, runtime, options.artifacts);
    const id = /^\d+$/.test(step) ? parts.stepIds[Number(step)] ?? step : step;
    return printRestore(ctx, await rewindLab(parts, id, { signal, onProgress: (message) => io.err(message) }), io);
  } finally {
    runtime.close();
  }
}

function printRestore(ctx: LabContext, report: RestoreReport, io: CliIo): number {
  for (const check of report.checks.filter((c) => c.ok)) io.err(`  pass  ${check.step} (after ${report.passedAfterSeconds[check.step]} s)`);
  const later = report.reset.length ? ` Steps ${report.reset.join(', ')} are not done any more; \`hardway-lab up\` runs them again.` : '';
  if (!report.ok) {
    io.err(formatChecks(report.checks.filter((c) => !c.ok)));
    io.err(`Restored lab "${ctx.plan.labName}" to ${report.snapshot.name}, but some steps do not pass (above). \`hardway-lab up\` repairs them.${later}`);
    return 1;
  }
  io.out(`Restored lab "${ctx.plan.labName}" to ${report.snapshot.name} (after step ${report.snapshot.afterStep ?? '-'}) in ${report.seconds} s: every step up to it passes its checker.${later}`);
  return 0;
}
