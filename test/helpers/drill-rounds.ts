// Proves drills and exercises on a running lab, the way the tests and the dev loop use them: for a
// drill, start it (the fault goes in), wait until every check it names fails with the named probe
// and its symptoms hold, apply the reference fix, wait until its steps pass, stop; for an exercise,
// carry out each stage's reference and see the stage's checker pass. Every figure is measured.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Probe } from '../../main/shared/engine-types.ts';
import { applyReference, checkLesson, envOf, readProgress, startLesson, stopLesson, type DrillParts, type LessonCheck } from '../../main/drills/drill-runner.ts';
import { findLesson } from '../../main/drills/catalog.ts';
import { controller, kubernetesDir } from '../../main/drills/lab-terms.ts';
import { judgeProbe } from '../../main/drills/drill-actions.ts';
import { text, type Drill, type Exercise } from '../../main/drills/drill-types.ts';

export interface NamedFailure {
  step: string;
  probe: string;
  node?: string;
  /** The failing probe the checker reported (undefined: it never failed). */
  seen?: { name: string; node?: string; seen: string; hint: string };
}

export interface DrillProof {
  id: string;
  /** Each check the drill names, with the failing probe seen while the fault was in. */
  failures: NamedFailure[];
  symptoms: Probe[];
  /** The steps' results after the fix. */
  solved: boolean;
  afterFix: { step: string; ok: boolean; failing: string[] }[];
  stopOutcome?: string;
  seconds: { inject: number; shown: number; fix: number; green: number; stop: number; total: number };
  error?: string;
}

const since = (t: number) => Math.round((Date.now() - t) / 100) / 10;

function matches(drill: Drill, parts: DrillParts, check: LessonCheck): NamedFailure[] {
  const env = envOf(parts);
  return drill.checks.map((c) => {
    const pattern = typeof c.probe === 'function' ? c.probe(env) : c.probe;
    const node = c.node ? text(c.node, env) : undefined;
    const result = check.steps.find((s) => s.step === c.step);
    const p = result?.probes.find((x) => !x.ok && pattern.test(x.name) && (!node || x.node === node));
    return { step: c.step, probe: pattern.source, node, seen: p ? { name: p.name, node: p.node, seen: p.seen, hint: p.hint } : undefined };
  });
}

export async function proveDrill(parts: DrillParts, drill: Drill, log: (m: string) => void): Promise<DrillProof> {
  const t0 = Date.now();
  const proof: DrillProof = { id: drill.id, failures: [], symptoms: [], solved: false, afterFix: [], seconds: { inject: 0, shown: 0, fix: 0, green: 0, stop: 0, total: 0 } };
  let started = false;
  try {
    log(`drill ${drill.id}: start`);
    const start = await startLesson(parts, drill.id, { snapshot: false, onProgress: (m) => log(`  ${m}`) });
    started = true;
    proof.seconds.inject = since(t0);
    // A fault can take a while to show (a lease to expire, a certificate to be reloaded).
    const t1 = Date.now();
    const deadline = Date.now() + ((drill.showsWithinSeconds ?? 60) + 60) * 1000;
    let symptoms = start.symptoms;
    for (;;) {
      const check = await checkLesson(parts);
      proof.failures = matches(drill, parts, check);
      if (symptoms.some((s) => !s.ok)) symptoms = await Promise.all((drill.symptoms ?? []).map((p) => judgeProbe(p, parts.pool, envOf(parts))));
      if ((proof.failures.every((f) => f.seen) && symptoms.every((s) => s.ok)) || Date.now() > deadline) break;
      await sleep(5000);
    }
    proof.symptoms = symptoms;
    proof.seconds.shown = since(t1);
    log(`drill ${drill.id}: ${proof.failures.map((f) => `${f.step} ${f.seen ? `FAILS ${f.seen.node ?? ''} ${f.seen.name}` : `did not fail /${f.probe}/`}`).join('; ')}; symptoms ${symptoms.map((s) => `${s.ok ? 'hold' : 'DO NOT HOLD'}: ${s.name} (${s.seen})`).join('; ') || 'none'}`);
    const t2 = Date.now();
    await applyReference(parts, { onProgress: (m) => log(`  ${m}`) });
    proof.seconds.fix = since(t2);
    const t3 = Date.now();
    const greenBy = Date.now() + 10 * 60_000;
    for (;;) {
      const check = await checkLesson(parts);
      proof.afterFix = check.steps.map((s) => ({ step: s.step, ok: s.ok, failing: s.probes.filter((p) => !p.ok).map((p) => `${p.node ?? '-'} ${p.name}: ${p.seen}`) }));
      proof.solved = check.solved;
      if (check.solved || Date.now() > greenBy) break;
      await sleep(5000);
    }
    proof.seconds.green = since(t3);
    log(`drill ${drill.id}: ${proof.solved ? 'green after the fix' : `NOT green after the fix: ${JSON.stringify(proof.afterFix.filter((s) => !s.ok))}`} (${proof.seconds.green} s)`);
  } catch (error) {
    proof.error = (error as Error).message;
    log(`drill ${drill.id}: ERROR ${proof.error}`);
  } finally {
    if (started) {
      const t4 = Date.now();
      try {
        proof.stopOutcome = (await stopLesson(parts, { onProgress: (m) => log(`  ${m}`) })).outcome;
      } catch (error) {
        proof.error ??= `stop: ${(error as Error).message}`;
      }
      proof.seconds.stop = since(t4);
    }
    proof.seconds.total = since(t0);
  }
  return proof;
}

export interface StageProof {
  title: string;
  /** A wrong attempt made first (`wrongFirst`): its check, which must not pass. */
  wrongFirst?: { passed: boolean; failing: Probe[] };
  passed: boolean;
  probes: Probe[];
  failingSteps: string[];
  seconds: number;
}

export interface ExerciseProof {
  id: string;
  stages: StageProof[];
  solved: boolean;
  stopOutcome?: string;
  seconds: number;
  error?: string;
}

/**
 * Carries out an exercise by its reference steps. `wrong` replaces a stage's reference with a
 * wrong attempt (by stage number, 1-based), whose check must then fail. `wrongFirst` makes a
 * wrong attempt, checks it (it must not pass), then carries on with the reference.
 */
export async function proveExercise(
  parts: DrillParts,
  exercise: Exercise,
  log: (m: string) => void,
  options: { wrong?: Record<number, (parts: DrillParts) => Promise<void>>; wrongFirst?: Record<number, (parts: DrillParts) => Promise<void>>; before?: (parts: DrillParts) => Promise<void> } = {},
): Promise<ExerciseProof> {
  const t0 = Date.now();
  const proof: ExerciseProof = { id: exercise.id, stages: [], solved: false, seconds: 0 };
  let started = false;
  try {
    if (options.before) await options.before(parts);
    log(`exercise ${exercise.id}: start`);
    await startLesson(parts, exercise.id, { snapshot: false, onProgress: (m) => log(`  ${m}`) });
    started = true;
    for (let i = 0; i < exercise.stages.length; i++) {
      const stage = exercise.stages[i]!;
      const t = Date.now();
      const wrong = options.wrong?.[i + 1];
      const wrongFirst = options.wrongFirst?.[i + 1];
      let attempted: StageProof['wrongFirst'];
      if (wrongFirst) {
        await wrongFirst(parts);
        const judged = await checkLesson(parts);
        attempted = { passed: Boolean(judged.stage?.passed), failing: judged.probes.filter((p) => !p.ok) };
        log(`exercise ${exercise.id}: stage ${i + 1} after a wrong attempt: ${attempted.passed ? 'PASSED (it must not)' : `fails as it must (${attempted.failing.map((p) => `${p.node ?? '-'} ${p.name}: ${p.seen}`).join('; ')})`}`);
      }
      if (wrong) await wrong(parts);
      else await applyReference(parts, { onProgress: (m) => log(`  ${m}`) });
      // The cluster settles after a stage (API servers back, pods re-created): a few tries.
      let check: LessonCheck;
      // After a wrong attempt the stage (or a later one) must fail: no point waiting long for it.
      const afterWrong = Object.keys(options.wrong ?? {}).some((n) => Number(n) <= i + 1);
      const deadline = Date.now() + (afterWrong ? 60_000 : 8 * 60_000);
      for (;;) {
        check = await checkLesson(parts);
        if (check.stage?.passed || Date.now() > deadline) break;
        await sleep(10_000);
      }
      proof.stages.push({ title: stage.title, ...(attempted ? { wrongFirst: attempted } : {}), passed: Boolean(check.stage?.passed), probes: check.probes, failingSteps: check.steps.filter((s) => !s.ok).map((s) => `${s.step}: ${s.probes.filter((p) => !p.ok).map((p) => `${p.node ?? '-'} ${p.name}`).join(', ')}`), seconds: since(t) });
      log(`exercise ${exercise.id}: stage ${i + 1} ${stage.title}: ${check.stage?.passed ? 'passed' : `NOT passed (${check.probes.filter((p) => !p.ok).map((p) => `${p.name}: ${p.seen}`).join('; ')} ${proof.stages.at(-1)!.failingSteps.join('; ')})`} in ${proof.stages.at(-1)!.seconds} s`);
      if (!check.stage?.passed) break;
      proof.solved = check.solved;
    }
  } catch (error) {
    proof.error = (error as Error).message;
    log(`exercise ${exercise.id}: ERROR ${proof.error}`);
  } finally {
    // A start that failed midway is still running (its progress is saved before the setup): stop it too.
    if (started || readProgress(parts.paths).active?.id === exercise.id) {
      try {
        proof.stopOutcome = (await stopLesson(parts, { onProgress: (m) => log(`  ${m}`) })).outcome;
      } catch (error) {
        proof.error ??= `stop: ${(error as Error).message}`;
      }
    }
    proof.seconds = since(t0);
  }
  return proof;
}

export interface UpgradeProof extends ExerciseProof {
  from?: string;
  to?: string;
  /** What the availability probe saw through the LB over the whole upgrade. */
  availability?: string;
  /** Every step's checker afterwards, with the lab opened again at the new release: the failing ones. */
  failingAfter: string[];
}

/**
 * The upgrade exercise by its reference, with a wrong attempt first (the first controller's new
 * kube-scheduler installed, nothing restarted: the running process is still the old one), then
 * every step's checker with the spec at the new release. `parts` is the lab opened again at the
 * end (the exercise changes the spec); it needs `reopen`.
 */
export async function proveUpgrade(parts: DrillParts, log: (m: string) => void): Promise<UpgradeProof> {
  const upgrade = findLesson('kubernetes-upgrade', 'exercise') as Exercise;
  let from: string | undefined;
  let to: string | undefined;
  const proof = await proveExercise(parts, upgrade, log, {
    wrongFirst: {
      1: async (p) => {
        const vars = readProgress(p.paths).active!.vars;
        ({ from, to } = vars);
        await p.pool.run(controller(0)(envOf(p)), `install -m 0755 ${kubernetesDir(vars.to!)}/kube-scheduler /usr/local/bin/`);
      },
    },
  });
  const availability = proof.stages[2]?.probes.find((p) => /load balancer/.test(p.name))?.seen;
  log(`exercise ${upgrade.id}: ${from} → ${to}; availability through the LB: ${availability ?? 'not measured'}`);
  const after = await parts.engine.check();
  const failingAfter = after.filter((r) => !r.ok).map((r) => `${r.step}: ${r.probes.filter((p) => !p.ok).map((p) => `${p.node ?? '-'} ${p.name}: ${p.seen}`).join('; ')}`);
  log(`after the upgrade (spec at ${parts.spec.versions.kubernetes}): ${failingAfter.length ? `FAILING ${failingAfter.join(' | ')}` : 'every checker passes'}`);
  return { ...proof, from, to, availability, failingAfter };
}
