// `hardway-lab drill list|start ID|check|hint|reveal|stop`, and the same for `exercise`.

import { openLabRuntime, reopenedEngine, type EngineOptions, type LabRuntime, type LabRuntimeInput } from '../lab/lab-runtime.ts';
import type { LabEngine } from '../engine/lab-engine.ts';
import type { CliIo } from './cli.ts';
import { formatTable } from './format-plan.ts';
import { formatChecks } from './lab-commands.ts';
import { loadLabContext, UsageError, type LabContext } from './lab-context.ts';
import { findLesson } from '../drills/catalog.ts';
import type { Probe } from '../shared/engine-types.ts';
import { activeLesson, applyReference, checkLesson, listLessons, nextHint, readProgress, revealLesson, startLesson, stopLesson, type DrillParts } from '../drills/drill-runner.ts';
import type { Lesson } from '../drills/drill-types.ts';

export const DRILL_SUBCOMMANDS = ['list', 'start', 'check', 'hint', 'reveal', 'stop'] as const;

export interface DrillCommandOptions {
  json?: boolean;
  artifacts?: string;
  /** start: no snapshot even where the provider has them (stop then undoes the fault). */
  noSnapshot?: boolean;
  /** reveal: also apply the reference fix (or the current stage's reference steps). */
  apply?: boolean;
}

function formatProbes(probes: readonly Probe[]): string {
  return probes.map((p) => `  ${p.ok ? 'pass' : 'FAIL'}  ${p.name}${p.node ? ` (${p.node})` : ''}: ${p.seen}${p.ok ? '' : `\n        expected: ${p.expected}\n        fix:      ${p.hint}`}`).join('\n');
}

/**
 * A lab's parts for the drill runner. After the upgrade exercise changes the spec, `reopen` reads
 * the lab again: a new engine at the new release, the same VMs and SSH pool.
 */
export function labDrillParts(runtime: LabRuntime, lab: LabRuntimeInput, engine: LabEngine, options: EngineOptions = {}): DrillParts {
  return {
    plan: lab.plan,
    spec: lab.spec,
    paths: lab.paths,
    provider: runtime.provider,
    pool: runtime.pool,
    engine,
    reopen: async () => {
      const again = loadLabContext({ lab: lab.paths.root, env: options.env });
      return labDrillParts(runtime, again, reopenedEngine(runtime, { engine, spec: lab.spec }, again, options), options);
    },
  };
}

export async function drillCommand(kind: Lesson['kind'], ctx: LabContext, sub: string | undefined, id: string | undefined, options: DrillCommandOptions, io: CliIo, signal: AbortSignal): Promise<number> {
  if (!sub || !(DRILL_SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`usage: hardway-lab ${kind} <${DRILL_SUBCOMMANDS.join('|')}> [ID]`, `\`hardway-lab ${kind} list\` shows them; \`hardway-lab ${kind} start ID\` starts one.`);
  }
  if (sub === 'list') {
    const listing = listLessons(ctx, kind);
    if (options.json) {
      io.out(JSON.stringify(listing, null, 2));
      return 0;
    }
    io.out(formatTable(['ID', 'TITLE', 'STATE'], listing.map((l) => [l.id, l.title, l.active ? 'running' : l.unavailable ? `not yet: ${l.unavailable}` : l.solvedBefore ? 'solved before' : 'ready'])));
    io.out(`\n\`hardway-lab ${kind} start ID\` starts one${kind === 'drill' ? ' (the story tells the symptom; `hint` helps one step at a time)' : ''}.`);
    return 0;
  }
  if (sub === 'start' && !id) throw new UsageError(`hardway-lab ${kind} start needs an ID`, `\`hardway-lab ${kind} list\` shows them.`);
  if (sub === 'start') {
    try {
      findLesson(id!, kind);
    } catch (error) {
      const [message, hint] = (error as Error).message.split('\n  what to do: ');
      throw new UsageError(message!, hint);
    }
  }
  const say = (message: string) => io.err(`    ${message}`);

  if (sub === 'hint' || sub === 'reveal') {
    const { active } = activeLesson(ctx.paths);
    if (active.kind !== kind) throw new UsageError(`the running one is the ${active.kind} ${active.id}`, `use \`hardway-lab ${active.kind} ${sub}\`.`);
    if (sub === 'hint') {
      const h = nextHint(ctx);
      io.out(`Hint ${h.level} of ${h.of}: ${h.hint}`);
      if (h.level < h.of) io.out(`(\`hardway-lab ${kind} hint\` again for the next one)`);
      return 0;
    }
    if (!options.apply) {
      const shown = revealLesson(ctx);
      for (const group of shown.commands) {
        io.out(`${group.title}:`);
        for (const c of group.commands) io.out(`  [${c.node}] ${c.command}${c.why ? `\n         # ${c.why}` : ''}`);
      }
      io.out(`\n\`hardway-lab ${kind} reveal --apply\` runs it for you; then \`hardway-lab ${kind} check\`.`);
      return 0;
    }
  }

  const runtime = await openLabRuntime(ctx);
  try {
    runtime.provider.onProgress((event) => io.err(`${event.node ? `[${event.node}] ` : ''}${event.message}`));
    const parts = labDrillParts(runtime, ctx, runtime.engine({ artifactsDir: options.artifacts }), { artifactsDir: options.artifacts });
    switch (sub) {
      case 'start': {
        const started = await startLesson(parts, id!, { snapshot: options.noSnapshot ? false : undefined, onProgress: say, signal });
        io.out(`${started.lesson.title}\n\n${started.story}\n`);
        if (started.task) io.out(`Stage 1: ${started.task}\n`);
        if (started.symptoms.length) io.out(`The fault is in place:\n${formatProbes(started.symptoms)}\n`);
        io.out(started.snapshot ? `A snapshot (${started.snapshot}) was taken first: \`hardway-lab ${kind} stop\` returns the lab to it.` : `No snapshot: ${started.noSnapshot}.`);
        io.out(`Work in the node terminals (\`hardway-lab ssh NODE\`); \`hardway-lab ${kind} check\` judges, \`hardway-lab ${kind} hint\` helps.`);
        return 0;
      }
      case 'check': {
        const { active } = activeLesson(ctx.paths);
        if (active.kind !== kind) throw new UsageError(`the running one is the ${active.kind} ${active.id}`, `use \`hardway-lab ${active.kind} check\`.`);
        const result = await checkLesson(parts, { onProgress: say, signal });
        if (options.json) {
          io.out(JSON.stringify(result, (key, value) => (key === 'lesson' ? (value as Lesson).id : value), 2));
          return result.solved ? 0 : 1;
        }
        if (result.stage) io.out(`Stage ${result.stage.number} of ${result.stage.of}: ${result.stage.title} — ${result.stage.passed ? 'done' : 'not yet'}`);
        if (result.steps.length) io.out(formatChecks(result.steps));
        if (result.probes.length) io.out(formatProbes(result.probes));
        if (result.solved) io.out(`\nSolved in ${result.seconds} s with ${result.hintsUsed} hint${result.hintsUsed === 1 ? '' : 's'}. \`hardway-lab ${kind} stop\` ends it and puts the lab back as it was.`);
        else if (result.stage?.next) io.out(`\nNext, stage ${result.stage.number + 1}: ${result.stage.next}`);
        else io.out(`\nNot solved yet. \`hardway-lab ${kind} hint\` helps; \`hardway-lab ${kind} reveal\` shows the fix.`);
        return result.solved || result.stage?.passed ? 0 : 1;
      }
      case 'reveal': {
        await applyReference(parts, { onProgress: say, signal });
        io.out(`Applied the reference ${kind === 'drill' ? 'fix' : 'steps of this stage'}. \`hardway-lab ${kind} check\` judges it.`);
        return 0;
      }
      case 'stop': {
        const progress = readProgress(ctx.paths);
        if (progress.active && progress.active.kind !== kind) throw new UsageError(`the running one is the ${progress.active.kind} ${progress.active.id}`, `use \`hardway-lab ${progress.active.kind} stop\`.`);
        const stopped = await stopLesson(parts, { onProgress: say, signal });
        const how = stopped.how === 'snapshot' ? `the lab is back at the snapshot taken at the start (in ${stopped.restore?.seconds} s)` : stopped.how === 'undone' ? 'the fault was undone with the reference fix' : 'the lab is as the hard way left it';
        io.out(`${stopped.lesson.id}: ${stopped.outcome}${stopped.outcome === 'solved' ? ` in ${stopped.seconds} s` : ''}; ${how}.`);
        return stopped.restore && !stopped.restore.ok ? 1 : 0;
      }
    }
    return 2;
  } finally {
    runtime.close();
  }
}
