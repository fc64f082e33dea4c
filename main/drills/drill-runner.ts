// Runs one drill or exercise at a time on a lab: start (a snapshot where the provider has them,
// then the fault or the setup), check (the steps' own checkers, the drill's probes), hints one
// level at a time, reveal (the reference fix, optionally applied), and stop (back to the snapshot,
// or the fault undone). Progress is kept per lab in <lab>/drills.json, so a drill survives a
// closed terminal or a restarted app; every change to the lab takes the lab lock.

import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ArtifactSet } from '../artifacts/artifact-set.ts';
import type { Plan } from '../plan/address-plan.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import type { Provider } from '../providers/provider.ts';
import type { SshPool } from '../ssh/ssh-pool.ts';
import type { LabEngine } from '../engine/lab-engine.ts';
import type { CheckResult, Probe } from '../shared/engine-types.ts';
import type { FinishedDrill, LessonJudgement } from '../shared/api-contract.ts';
import { readLabState, withLabLock } from '../engine/lab-state.ts';
import { writeFileAtomic } from '../pki/write-file-atomic.ts';
import { deleteSnapshot, readSnapshotIndex, restoreSnapshot, saveSnapshot, type RestoreReport } from '../lab/lab-snapshots.ts';
import { findLesson, LESSONS } from './catalog.ts';
import { applyActions, judgeProbe, showAction, type ActionTarget, type ShownCommand } from './drill-actions.ts';
import { stageProbes, text, type Drill, type DrillAction, type DrillEnv, type Exercise, type Lesson } from './drill-types.ts';

export interface DrillParts {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
  provider?: Provider;
  pool: SshPool;
  engine: LabEngine;
  /**
   * The lab opened again from its spec file, after an action changed that file (the upgrade's new
   * version): the runner then carries on with, and hands back, the new plan and engine.
   */
  reopen?: () => Promise<DrillParts>;
}

export interface ActiveLesson {
  id: string;
  kind: Lesson['kind'];
  startedAt: string;
  /** How many hints were shown so far. */
  hints: number;
  revealed: boolean;
  /** The snapshot taken at the start, restored by stop. */
  snapshot?: string;
  vars: Record<string, string>;
  /** Exercises: the stages passed so far, with when. */
  stagesPassed: { title: string; at: string }[];
  solvedAt?: string;
}

export interface DrillProgress {
  version: 1;
  active?: ActiveLesson;
  history: FinishedDrill[];
}

export function progressFile(paths: LabPaths): string {
  return join(paths.root, 'drills.json');
}

export function readProgress(paths: LabPaths): DrillProgress {
  const file = progressFile(paths);
  if (!existsSync(file)) return { version: 1, history: [] };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as DrillProgress;
    return { version: 1, active: parsed.active, history: parsed.history ?? [] };
  } catch (error) {
    throw new Error(`${file} is not readable JSON (${(error as Error).message})\n  what to do: fix or delete it; it only holds drill progress`);
  }
}

function writeProgress(paths: LabPaths, progress: DrillProgress): void {
  writeFileAtomic(progressFile(paths), `${JSON.stringify(progress, null, 2)}\n`, 0o644);
}

export function envOf(parts: Pick<DrillParts, 'plan' | 'spec' | 'paths'>, vars: Record<string, string> = {}): DrillEnv {
  return { plan: parts.plan, spec: parts.spec, paths: parts.paths, vars };
}

/** Why a lesson cannot run on this lab (nodes it needs, steps not done yet), or undefined. */
export function unavailableReason(lesson: Lesson, parts: Pick<DrillParts, 'plan' | 'spec' | 'paths'>): string | undefined {
  const count = (role: string) => parts.plan.nodes.filter((n) => n.role === role).length;
  if (lesson.needs.lb && count('lb') === 0) return 'needs a load balancer in front of the API servers; this lab has none (the ha and classic presets have one)';
  if ((lesson.needs.controllers ?? 0) > count('controller')) return `needs ${lesson.needs.controllers} controllers; this lab has ${count('controller')} (the ha preset has 3)`;
  if ((lesson.needs.workers ?? 0) > count('worker')) return `needs ${lesson.needs.workers} worker${lesson.needs.workers === 1 ? '' : 's'}; this lab has ${count('worker')}`;
  const state = readLabState(parts.paths.state);
  const notDone = lesson.needs.steps.filter((s) => state.steps[s]?.status !== 'done');
  if (notDone.length) return `needs step${notDone.length === 1 ? '' : 's'} ${notDone.join(', ')} done first: \`hardway-lab up --until ${notDone.at(-1)}\``;
  if (lesson.kind === 'exercise' && lesson.values) {
    try {
      lesson.values(envOf(parts));
    } catch (error) {
      return `cannot run here: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  return undefined;
}

export interface LessonListing {
  id: string;
  kind: Lesson['kind'];
  title: string;
  teaches: string;
  unavailable?: string;
  active: boolean;
  solvedBefore: boolean;
}

export function listLessons(parts: Pick<DrillParts, 'plan' | 'spec' | 'paths'>, kind?: Lesson['kind']): LessonListing[] {
  const progress = readProgress(parts.paths);
  return LESSONS.filter((l) => !kind || l.kind === kind).map((l) => ({
    id: l.id,
    kind: l.kind,
    title: l.title,
    teaches: l.teaches,
    unavailable: unavailableReason(l, parts),
    active: progress.active?.id === l.id,
    solvedBefore: progress.history.some((h) => h.id === l.id && h.outcome === 'solved'),
  }));
}

export interface RunOptions {
  onProgress?(message: string): void;
  signal?: AbortSignal;
}

function target(parts: DrillParts, options: RunOptions): ActionTarget {
  return {
    plan: parts.plan,
    spec: parts.spec,
    paths: parts.paths,
    pool: parts.pool,
    onProgress: options.onProgress,
    async runStep(step) {
      const run = await parts.engine.runStep(step, { signal: options.signal });
      return run.state.status === 'done';
    },
    async kubernetesArtifacts(version, log) {
      const lab = parts.engine.artifactSource;
      const source = version === parts.spec.versions.kubernetes ? lab : lab.forKubernetes(version);
      if (source.kind === 'directory') return source.current();
      const set = await source.ensureAll((e) => e.kind === 'build' && log(e.line), options.signal);
      // haproxy's packages, for when the load-balancer step runs from this set (after the spec follows the upgrade).
      await copyLoadBalancerDebs(lab.current(), set);
      return set;
    },
  };
}

/**
 * Runs actions under the lab lock; `step` actions go through the engine, which takes it itself.
 * After a change to the spec file, `parts` is the lab opened again (the caller's object too).
 */
async function applyLocked(parts: DrillParts, actions: readonly DrillAction[], env: DrillEnv, purpose: string, options: RunOptions): Promise<void> {
  let t = target(parts, options);
  let batch: DrillAction[] = [];
  const flush = async () => {
    if (!batch.length) return;
    const now = batch;
    batch = [];
    await withLabLock(parts.paths.lock, purpose, () => applyActions(now, t, env));
  };
  for (const action of actions) {
    if (action.kind === 'step') {
      await flush();
      await applyActions([action], t, env);
    } else if (action.kind === 'spec-version') {
      await flush();
      await withLabLock(parts.paths.lock, purpose, () => applyActions([action], t, env));
      if (!parts.reopen) {
        if (action !== actions.at(-1)) throw new Error(`the spec changed, and this ${purpose} cannot open the lab again to go on\n  what to do: run the command again (it reads the new spec)`);
        continue;
      }
      Object.assign(parts, await parts.reopen());
      env = envOf(parts, env.vars);
      t = target(parts, options);
    } else batch.push(action);
  }
  await flush();
}

/** The lab's haproxy packages into another release's set that has none (nothing of them depends on Kubernetes). */
async function copyLoadBalancerDebs(from: ArtifactSet, to: ArtifactSet): Promise<void> {
  if (to.debs().length > 0) return;
  await mkdir(join(to.root, 'debs'), { recursive: true });
  for (const deb of from.debs()) await copyFile(deb, join(to.root, 'debs', basename(deb)));
}

function nothingRunning(): Error {
  return new Error('no drill or exercise is running on this lab\n  what to do: `hardway-lab drill list` shows them; `hardway-lab drill start ID` starts one');
}

export function activeLesson(paths: LabPaths): { active: ActiveLesson; lesson: Lesson } {
  const progress = readProgress(paths);
  if (!progress.active) throw nothingRunning();
  return { active: progress.active, lesson: findLesson(progress.active.id) };
}

/**
 * Changes the running lesson's progress as it is on disk now, not as read before a long check:
 * a hint taken while a check ran is kept.
 */
function updateActive(paths: LabPaths, change: (active: ActiveLesson) => void): ActiveLesson {
  const progress = readProgress(paths);
  if (!progress.active) throw nothingRunning();
  change(progress.active);
  writeProgress(paths, progress);
  return progress.active;
}

/** The exercise stage to judge or do now, 0-based: the last one once all passed. */
export function currentStageIndex(active: Pick<ActiveLesson, 'stagesPassed'>, exercise: Exercise): number {
  return Math.min(active.stagesPassed.length, exercise.stages.length - 1);
}

export interface StartReport {
  lesson: Lesson;
  story: string;
  snapshot?: string;
  /** Why no snapshot was taken (the provider has none, or it was not asked for). */
  noSnapshot?: string;
  /** The drill's symptoms, judged right after the fault went in. */
  symptoms: Probe[];
  /** Exercises: the first stage's task. */
  task?: string;
}

export interface StartOptions extends RunOptions {
  /** Take a snapshot of the lab first (default: when the provider has snapshots). */
  snapshot?: boolean;
}

export function snapshotNameFor(id: string): string {
  return `drill-${id}`.slice(0, 63);
}

export async function startLesson(parts: DrillParts, id: string, options: StartOptions = {}): Promise<StartReport> {
  const lesson = findLesson(id);
  const progress = readProgress(parts.paths);
  if (progress.active) {
    throw new Error(`the ${progress.active.kind} ${progress.active.id} is still running on this lab (since ${progress.active.startedAt})\n  what to do: \`hardway-lab ${progress.active.kind} stop\` first`);
  }
  const reason = unavailableReason(lesson, parts);
  if (reason) throw new Error(`${lesson.kind} ${lesson.id} cannot start on this lab: it ${reason}`);
  const env = envOf(parts);
  const say = options.onProgress ?? (() => {});
  // Worked out before anything changes: an exercise that cannot run here says so first.
  const vars: Record<string, string> = lesson.kind === 'exercise' ? { ...lesson.values?.(env) } : {};

  let snapshot: string | undefined;
  let noSnapshot: string | undefined;
  if (options.snapshot === false) noSnapshot = 'not asked for (--no-snapshot): stop undoes the fault instead';
  else if (!parts.provider) noSnapshot = 'no provider to take one';
  else {
    const name = snapshotNameFor(lesson.id);
    try {
      say(`taking snapshot ${name} of every node, to come back to on stop`);
      await saveSnapshot({ plan: parts.plan, paths: parts.paths, provider: parts.provider, pool: parts.pool, stepIds: parts.engine.steps.map((s) => s.id) }, name);
      snapshot = name;
    } catch (error) {
      if (options.snapshot === true) throw error;
      noSnapshot = `the snapshot failed (${(error as Error).message.split('\n')[0]}): stop undoes the fault instead`;
    }
  }

  if (lesson.kind === 'exercise') {
    for (const c of lesson.capture ?? []) {
      const node = text(c.node, env);
      const result = await parts.pool.exec(node, text(c.command, env), { timeoutMs: 120_000 });
      if (result.code !== 0 || !result.stdout.trim()) throw new Error(`on ${node}: could not read ${c.name} to start ${lesson.id}: ${(result.stderr || result.stdout).trim().slice(0, 300)}\n  what to do: \`hardway-lab check\` shows what is wrong with the lab`);
      vars[c.name] = result.stdout.trim();
    }
  }
  const active: ActiveLesson = { id: lesson.id, kind: lesson.kind, startedAt: new Date().toISOString(), hints: 0, revealed: false, vars, stagesPassed: [], ...(snapshot ? { snapshot } : {}) };
  // Saved before the fault goes in: a fault half in place is still stopped (and undone) by stop.
  writeProgress(parts.paths, { ...progress, active });
  const withVars = envOf(parts, vars);
  await applyLocked(parts, lesson.kind === 'drill' ? lesson.fault : lesson.setup, withVars, `${lesson.kind} start ${lesson.id}`, options);
  const symptoms = lesson.kind === 'drill' ? await Promise.all((lesson.symptoms ?? []).map((p) => judgeProbe(p, parts.pool, withVars))) : [];
  return {
    lesson,
    story: text(lesson.story, withVars),
    snapshot,
    noSnapshot,
    symptoms,
    task: lesson.kind === 'exercise' ? text(lesson.stages[0]!.task, withVars) : undefined,
  };
}

/** A judgement of the running lesson, with the lesson it judged. */
export interface LessonCheck extends LessonJudgement {
  lesson: Lesson;
}

async function checkSteps(parts: DrillParts, steps: readonly string[], options: RunOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const step of [...new Set(steps)]) results.push(...(await parts.engine.check(step, { signal: options.signal })));
  return results;
}

/** Judges the running lesson; never changes the lab (only the progress file). */
export async function checkLesson(parts: DrillParts, options: RunOptions = {}): Promise<LessonCheck> {
  const { active, lesson } = activeLesson(parts.paths);
  const env = envOf(parts, active.vars);
  let steps: CheckResult[];
  let probes: Probe[] = [];
  let stage: LessonCheck['stage'];
  /** The exercise stage passed by this check (its index), if one was. */
  let passedIndex: number | undefined;
  if (lesson.kind === 'drill') {
    steps = await checkSteps(parts, lesson.checks.map((c) => c.step), options);
  } else {
    const index = currentStageIndex(active, lesson);
    const current = lesson.stages[index]!;
    steps = await checkSteps(parts, current.steps ?? [], options);
    probes = await Promise.all(stageProbes(current, env).map((p) => judgeProbe(p, parts.pool, env)));
    const passed = steps.every((s) => s.ok) && probes.every((p) => p.ok);
    if (passed) passedIndex = index;
    const next = lesson.stages[index + 1];
    stage = { number: index + 1, of: lesson.stages.length, title: current.title, passed, next: passed && next ? text(next.task, env) : undefined };
  }
  const isSolved = (a: ActiveLesson) => (lesson.kind === 'drill' ? steps.every((s) => s.ok) : a.stagesPassed.length === lesson.stages.length);
  const updated = updateActive(parts.paths, (a) => {
    if (lesson.kind === 'exercise' && passedIndex !== undefined && a.stagesPassed.length === passedIndex) a.stagesPassed.push({ title: lesson.stages[passedIndex]!.title, at: new Date().toISOString() });
    if (isSolved(a) && !a.solvedAt) a.solvedAt = new Date().toISOString();
  });
  return {
    lesson,
    solved: isSolved(updated),
    steps,
    probes,
    stage,
    hintsUsed: updated.hints,
    seconds: updated.solvedAt ? Math.round((Date.parse(updated.solvedAt) - Date.parse(updated.startedAt)) / 1000) : undefined,
  };
}

/** The next hint (or the last one again once all were shown). */
export function nextHint(lab: Pick<DrillParts, 'plan' | 'spec' | 'paths'>): { lesson: Lesson; level: number; of: number; hint: string } {
  const { lesson } = activeLesson(lab.paths);
  const active = updateActive(lab.paths, (a) => (a.hints = Math.min(a.hints + 1, lesson.hints.length)));
  return { lesson, level: active.hints, of: lesson.hints.length, hint: text(lesson.hints[active.hints - 1]!, envOf(lab, active.vars)) };
}

/** The reference fix (drills) or the reference steps (exercises), as commands bound to their nodes. */
export function revealLesson(lab: Pick<DrillParts, 'plan' | 'spec' | 'paths'>): { lesson: Lesson; commands: { title: string; commands: ShownCommand[] }[] } {
  const { lesson } = activeLesson(lab.paths);
  const active = updateActive(lab.paths, (a) => (a.revealed = true));
  const e = envOf(lab, active.vars);
  const show = (actions: readonly DrillAction[]) => actions.flatMap((a) => showAction(a, e));
  if (lesson.kind === 'drill') return { lesson, commands: [{ title: 'The fix', commands: show(lesson.fix) }] };
  return { lesson, commands: lesson.stages.map((s, i) => ({ title: `Stage ${i + 1}: ${s.title}`, commands: show(s.reference) })) };
}

/**
 * Applies the reference fix (drills), or the reference of the current stage (exercises): what the
 * tests do, and what `reveal --apply` does for a learner who gives up.
 */
export async function applyReference(parts: DrillParts, options: RunOptions = {}): Promise<void> {
  const { active, lesson } = activeLesson(parts.paths);
  const env = envOf(parts, active.vars);
  if (lesson.kind === 'drill') return applyLocked(parts, lesson.fix, env, `drill fix ${lesson.id}`, options);
  const stage = lesson.stages[currentStageIndex(active, lesson)]!;
  return applyLocked(parts, stage.reference, env, `exercise ${lesson.id}: ${stage.title}`, options);
}

export interface StopReport {
  lesson: Lesson;
  outcome: FinishedDrill['outcome'];
  seconds: number;
  /** How the lab came back: the snapshot restored, or the fault undone (fix and cleanup applied). */
  how: 'cleanup' | 'snapshot' | 'undone';
  restore?: RestoreReport;
}

/**
 * Ends the running lesson. Solved: its cleanup runs and the start snapshot is dropped. Not solved:
 * the lab goes back to the snapshot taken at the start, or, without one, the fault is undone.
 */
export async function stopLesson(parts: DrillParts, options: RunOptions = {}): Promise<StopReport> {
  const { active, lesson } = activeLesson(parts.paths);
  const env = envOf(parts, active.vars);
  const solved = Boolean(active.solvedAt);
  const snapshotParts = parts.provider ? { plan: parts.plan, paths: parts.paths, provider: parts.provider, pool: parts.pool, stepIds: parts.engine.steps.map((s) => s.id) } : undefined;
  const hasSnapshot = Boolean(active.snapshot && snapshotParts && readSnapshotIndex(parts.paths).some((s) => s.name === active.snapshot));
  let how: StopReport['how'];
  let restore: RestoreReport | undefined;
  if (!solved && hasSnapshot) {
    restore = await restoreSnapshot({ ...snapshotParts!, engine: parts.engine }, active.snapshot!, { signal: options.signal, onProgress: options.onProgress });
    how = 'snapshot';
  } else {
    const undo = [...(solved ? [] : lesson.kind === 'drill' ? lesson.fix : (lesson.undo ?? [])), ...(lesson.cleanup ?? [])];
    await applyLocked(parts, undo, env, `${lesson.kind} stop ${lesson.id}`, options);
    how = solved ? 'cleanup' : 'undone';
  }
  if (active.snapshot && hasSnapshot) await deleteSnapshot(snapshotParts!, active.snapshot).catch(() => undefined);
  const finishedAt = new Date();
  const end = active.solvedAt ? new Date(active.solvedAt) : finishedAt;
  const finished: FinishedDrill = {
    id: lesson.id,
    kind: lesson.kind,
    startedAt: active.startedAt,
    finishedAt: finishedAt.toISOString(),
    seconds: Math.round((end.getTime() - Date.parse(active.startedAt)) / 1000),
    hints: active.hints,
    revealed: active.revealed,
    outcome: solved ? 'solved' : 'stopped',
  };
  const progress = readProgress(parts.paths);
  writeProgress(parts.paths, { version: 1, history: [...progress.history, finished] });
  return { lesson, outcome: finished.outcome, seconds: finished.seconds, how, restore };
}

export type { Drill, Exercise, Lesson };
