// The engine's bookkeeping without VMs: state.json round-trip, the resume point, the lab lock, and
// a real LabEngine running host-side steps (real files in a temporary lab) through up, --until,
// --step, failure, resume after an interrupted run, events and per-node logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { emptyLabState, findResumePoint, LabLock, readLabState, writeLabState } from '../../main/engine/lab-state.ts';
import { LabEngine } from '../../main/engine/lab-engine.ts';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import type { CheckResult, LabEvent } from '../../main/shared/engine-types.ts';
import type { NodeExecutor } from '../../main/engine/node-executor.ts';
import type { StepDefinition } from '../../main/engine/step-definition.ts';
import { probe } from '../../main/checkers/probe.ts';

const ROOMY = { hostMemoryMiB: 256 * 1024 };

function tempLab() {
  const spec = parseSpec(defaultSpecText(), 'test.yaml', ROOMY).spec;
  const root = mkdtempSync(join(tmpdir(), 'hwl-engine-'));
  return { spec, plan: buildPlan(spec), paths: labPaths(root) };
}

const noNodes: NodeExecutor = {
  exec: () => Promise.reject(new Error('host-only steps must not run node commands')),
  upload: () => Promise.reject(new Error('no upload expected')),
  uploadFile: () => Promise.reject(new Error('no upload expected')),
  waitForSsh: () => Promise.reject(new Error('no SSH expected')),
};

/** A host-side step that writes a marker file (idempotent) and checks it is there. */
function markerStep(id: string, log: string[], options: { failRun?: () => boolean; kube?: boolean } = {}): StepDefinition {
  return {
    id,
    title: `marker ${id}`,
    explanation: 'writes a marker file in the lab directory',
    roles: [],
    needsKubeBinaries: options.kube ?? false,
    commands: () => [],
    async run(ctx) {
      log.push(`run ${id}`);
      if (options.failRun?.()) throw new Error(`${id} broke on purpose`);
      const file = join(ctx.paths.root, `${id}.marker`);
      if (!existsSync(file)) writeFileSync(file, id);
      ctx.info(`marker ${id} in place`);
    },
    async check(ctx) {
      log.push(`check ${id}`);
      const there = existsSync(join(ctx.paths.root, `${id}.marker`));
      return [probe({ name: 'marker present', ok: there, expected: 'present', seen: there ? 'present' : 'missing', hint: `run step ${id}` })];
    },
  };
}

function engineWith(steps: StepDefinition[], lab = tempLab(), artifactsDir?: string) {
  const artifacts = new ArtifactSource({ dir: artifactsDir ?? mkdtempSync(join(tmpdir(), 'hwl-art-')), versions: lab.spec.versions });
  return { lab, engine: new LabEngine({ ...lab, executor: noNodes, artifacts, steps }) };
}

test('state: written atomically and read back; a damaged file is set aside', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-state-'));
  const path = join(dir, 'state.json');
  assert.deepEqual(readLabState(path).steps, {});
  const state = emptyLabState();
  state.steps.etcd = { id: 'etcd', status: 'done', durationMs: 1234 };
  writeLabState(path, state);
  assert.deepEqual(readLabState(path).steps.etcd, { id: 'etcd', status: 'done', durationMs: 1234 });
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('tmp')),
    [],
    'no temporary files left behind',
  );
  writeFileSync(path, '{"version": 1, "steps": ');
  assert.deepEqual(readLabState(path).steps, {});
  assert.ok(readdirSync(dir).some((f) => f.startsWith('state.json.damaged-')), 'the damaged file is kept for inspection');
});

test('resume point: the first step whose checker fails; unfinished steps are not checked', async () => {
  const ids = ['a', 'b', 'c', 'd'];
  const result = (id: string, ok: boolean, skipped?: string): CheckResult => ({ step: id, ok, probes: [], startedAt: '', durationMs: 0, skipped });
  const asked: string[] = [];
  const checks = (pass: Record<string, boolean | 'skip'>) => async (id: string) => {
    asked.push(id);
    return pass[id] === 'skip' ? result(id, false, 'no kube binaries') : result(id, pass[id] === true);
  };
  const state = emptyLabState();
  state.steps = { a: { id: 'a', status: 'done' }, b: { id: 'b', status: 'skipped' }, c: { id: 'c', status: 'done' }, d: { id: 'd', status: 'pending' } };

  let r = await findResumePoint(ids, state, checks({ a: true, b: 'skip', c: true }));
  assert.equal(r.index, 3, 'd never finished: start there');
  assert.deepEqual(asked, ['a', 'b', 'c']);

  asked.length = 0;
  r = await findResumePoint(ids, state, checks({ a: true, b: 'skip', c: false }));
  assert.equal(r.index, 2, 'c claims done but its checker fails: start there');
  assert.equal(r.checks.length, 3);

  asked.length = 0;
  state.steps.a = { id: 'a', status: 'running' };
  r = await findResumePoint(ids, state, checks({}));
  assert.equal(r.index, 0, 'a was interrupted: start there without checking');
  assert.deepEqual(asked, []);

  state.steps = { a: { id: 'a', status: 'done' }, b: { id: 'b', status: 'done' }, c: { id: 'c', status: 'done' }, d: { id: 'd', status: 'done' } };
  r = await findResumePoint(ids, state, checks({ a: true, b: true, c: true, d: true }));
  assert.equal(r.index, 4, 'everything passes: nothing to run');
});

test('lock: one engine per lab; a lock left by a dead process is taken over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-lock-'));
  const lock = new LabLock(join(dir, 'engine.lock'));
  lock.acquire('up');
  assert.throws(() => new LabLock(join(dir, 'engine.lock')).acquire('check'), /could not take|another/);
  lock.release();
  assert.equal(existsSync(join(dir, 'engine.lock')), false);

  // A live other process holds it: refused, naming the pid.
  const sleeper = spawn('sleep', ['30']);
  try {
    writeFileSync(join(dir, 'engine.lock'), JSON.stringify({ pid: sleeper.pid, purpose: 'up', since: 'now' }));
    assert.throws(() => new LabLock(join(dir, 'engine.lock')).acquire('up'), new RegExp(`pid ${sleeper.pid}`));
  } finally {
    sleeper.kill('SIGKILL');
  }
  await new Promise((resolve) => sleeper.once('exit', resolve));
  // Now that process is dead (kill -9): its lock is stale and taken over.
  const again = new LabLock(join(dir, 'engine.lock'));
  again.acquire('up');
  assert.equal(JSON.parse(readFileSync(join(dir, 'engine.lock'), 'utf8')).pid, process.pid);
  again.release();
});

test('engine: up runs every step in order, checks each, records state, logs and events', async () => {
  const log: string[] = [];
  const { engine, lab } = engineWith([markerStep('one', log), markerStep('two', log), markerStep('three', log)]);
  const events: LabEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const result = await engine.up({ finalCheck: false });
  assert.equal(result.ok, true);
  assert.deepEqual(log, ['run one', 'check one', 'run two', 'check two', 'run three', 'check three']);
  const state = readLabState(lab.paths.state);
  assert.deepEqual(
    Object.values(state.steps).map((s) => [s.id, s.status, s.lastCheck?.ok]),
    [
      ['one', 'done', true],
      ['two', 'done', true],
      ['three', 'done', true],
    ],
  );
  assert.ok(events.some((e) => e.type === 'step' && e.state.id === 'two' && e.state.status === 'running'));
  assert.ok(events.some((e) => e.type === 'check' && e.result.step === 'three' && e.result.ok));
  assert.match(readFileSync(join(lab.paths.logs, 'two', 'host.log'), 'utf8'), /marker two in place/);
  // prepare(): the lab's PKI and rendered files exist, as they must before any node step.
  assert.ok(existsSync(join(lab.paths.pki, 'ca.crt')));
  assert.ok(existsSync(join(lab.paths.nodes, 'controller-0', 'etc', 'etcd', 'etcd-server.key')));

  // Everything done and passing: a second up checks, runs nothing, keeps the CA.
  const ca = readFileSync(join(lab.paths.pki, 'ca.crt'), 'utf8');
  log.length = 0;
  const again = await engine.up();
  assert.equal(again.ok, true);
  assert.deepEqual(log.filter((l) => l.startsWith('run')), []);
  assert.equal(readFileSync(join(lab.paths.pki, 'ca.crt'), 'utf8'), ca);
});

test('engine: a failing step stops up; the next up resumes there; --until and --step', async () => {
  const log: string[] = [];
  let broken = true;
  const steps = [markerStep('one', log), markerStep('two', log, { failRun: () => broken }), markerStep('three', log)];
  const { engine, lab } = engineWith(steps);
  const first = await engine.up({ finalCheck: false });
  assert.equal(first.ok, false);
  assert.equal(first.failedStep, 'two');
  assert.deepEqual(log, ['run one', 'check one', 'run two']);
  assert.match(readLabState(lab.paths.state).steps.two!.error!, /two broke on purpose/);

  broken = false;
  log.length = 0;
  const second = await engine.up({ finalCheck: false });
  assert.equal(second.ok, true);
  assert.equal(second.resumedAt, 'two');
  assert.deepEqual(log, ['check one', 'run two', 'check two', 'run three', 'check three']);

  // A marker removed behind the engine's back: up finds the first failing checker and repairs.
  writeFileSync(join(lab.paths.root, 'unrelated'), '');
  const { rmSync } = await import('node:fs');
  rmSync(join(lab.paths.root, 'two.marker'));
  log.length = 0;
  const repaired = await engine.up({ until: 'two', finalCheck: false });
  assert.equal(repaired.ok, true);
  assert.deepEqual(log, ['check one', 'check two', 'run two', 'check two'], '--until two stops after two');

  log.length = 0;
  const single = await engine.runStep('three');
  assert.equal(single.state.status, 'done');
  assert.deepEqual(log, ['run three', 'check three']);
});

test('engine: a step that was running when the engine died is run again', async () => {
  const log: string[] = [];
  const { engine, lab } = engineWith([markerStep('one', log), markerStep('two', log)]);
  await engine.up({ finalCheck: false });
  const state = readLabState(lab.paths.state);
  state.steps.two = { id: 'two', status: 'running', startedAt: new Date().toISOString() };
  writeLabState(lab.paths.state, state);
  log.length = 0;
  const result = await engine.up({ finalCheck: false });
  assert.equal(result.ok, true);
  assert.deepEqual(log, ['check one', 'run two', 'check two']);
});

test('engine: steps needing Kubernetes binaries are skipped loudly without them, and run with them', async () => {
  const log: string[] = [];
  const steps = [markerStep('one', log), markerStep('kube', log, { kube: true })];
  const { engine, lab } = engineWith(steps);
  const warnings: string[] = [];
  engine.onEvent((e) => {
    if (e.type === 'progress' && e.phase === 'warning') warnings.push(e.message);
  });
  const result = await engine.up();
  assert.equal(result.ok, true, 'a skipped step does not fail up');
  assert.deepEqual(log.filter((l) => l.startsWith('run')), ['run one']);
  assert.equal(readLabState(lab.paths.state).steps.kube!.status, 'skipped');
  assert.ok(warnings.some((w) => /SKIPPED step kube: needs the Kubernetes server binaries/.test(w)));
  const checks = await engine.check('kube');
  assert.match(checks[0]!.skipped ?? '', /kube-apiserver/);

  // With the binaries in the artifacts directory, the same step runs.
  const artifacts = mkdtempSync(join(tmpdir(), 'hwl-art-kube-'));
  const { mkdirSync, chmodSync } = await import('node:fs');
  mkdirSync(join(artifacts, 'bin'));
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy']) {
    writeFileSync(join(artifacts, 'bin', name), '#!/bin/sh\n');
    chmodSync(join(artifacts, 'bin', name), 0o755);
  }
  const log2: string[] = [];
  const withKube = engineWith([markerStep('one', log2), markerStep('kube', log2, { kube: true })], tempLab(), artifacts);
  assert.equal(withKube.engine.kubeBinaries, true);
  await withKube.engine.up({ finalCheck: false });
  assert.deepEqual(log2.filter((l) => l.startsWith('run')), ['run one', 'run kube']);
});
