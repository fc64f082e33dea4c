// A step cancelled while its command runs (the app's Cancel, Ctrl-C on the CLI): the command is
// killed on the node, the step is saved as not done with why, the lab lock is released, and the
// next `up` resumes at that step. Real LabEngine, real SshPool, real OpenSSH sshd on 127.0.0.1
// (every node of the plan resolves to it).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import { LabEngine } from '../../main/engine/lab-engine.ts';
import { readLabState } from '../../main/engine/lab-state.ts';
import type { StepDefinition } from '../../main/engine/step-definition.ts';
import { probe } from '../../main/checkers/probe.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { HostKeyPins, SshPool } from '../../main/ssh/ssh-pool.ts';
import { localSshdUnavailableReason, startLocalSshd, type LocalSshd } from '../helpers/local-sshd.ts';

const unavailable = localSshdUnavailableReason();
if (unavailable) console.warn(`SKIPPED: engine cancel test needs a local OpenSSH server: ${unavailable}`);

let sshd: LocalSshd;
let work: string;

before(async () => {
  if (unavailable) return;
  work = mkdtempSync(join(tmpdir(), 'hwl-engine-cancel-'));
  const key = await ensureLabSshKey(join(work, 'ssh'));
  sshd = await startLocalSshd({ authorizedKeys: key.publicKey });
});

after(async () => {
  await sshd?.dispose();
});

function running(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-f', pattern], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a cancelled step: its command is killed on the node, the step saved as not done with why, the lock released, and up resumes there', { skip: unavailable, timeout: 120_000 }, async () => {
  const spec = parseSpec(defaultSpecText(), 'test.yaml', { hostMemoryMiB: 256 * 1024 }).spec;
  const plan = buildPlan(spec);
  const paths = labPaths(mkdtempSync(join(work, 'lab-')));
  const key = await ensureLabSshKey(join(work, 'ssh'));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: new HostKeyPins(join(paths.root, 'pins.json')), resolve: () => sshd.endpoint, connectTimeoutMs: 5000 });
  // A duration no other process on this host sleeps for, to find (or not) its process.
  const slow = `sleep 47.${process.pid % 1000}`;
  let slowRuns = 0;
  const quick: StepDefinition = {
    id: 'quick',
    title: 'a quick step',
    explanation: 'runs `true`',
    roles: ['controller'],
    needsKubeBinaries: false,
    commands: () => [],
    async run(ctx) {
      await ctx.forEachNode(ctx.nodes, (session) => session.run('true'));
    },
    async check() {
      return [probe({ name: 'ran', ok: true, expected: 'ran', seen: 'ran', hint: '' })];
    },
  };
  const long: StepDefinition = {
    ...quick,
    id: 'long',
    title: 'a long step',
    async run(ctx) {
      slowRuns++;
      // Slow the first time (cancelled), quick when `up` runs it again.
      await ctx.forEachNode(ctx.nodes.slice(0, 1), (session) => session.run(slowRuns === 1 ? slow : 'true'));
    },
    async check() {
      return [probe({ name: 'finished', ok: slowRuns > 1, expected: 'finished', seen: slowRuns > 1 ? 'finished' : 'not finished', hint: 'run it' })];
    },
  };
  const engine = new LabEngine({ plan, spec, paths, executor: pool, artifacts: new ArtifactSource({ dir: mkdtempSync(join(work, 'art-')), versions: spec.versions }), steps: [quick, long] });
  try {
    const abort = new AbortController();
    const up = engine.up({ signal: abort.signal, finalCheck: false });
    const started = Date.now();
    while (!running(slow) && Date.now() - started < 30_000) await sleep(100);
    assert.ok(running(slow), 'the long command started on the node');
    abort.abort(new Error('cancelled from the app'));
    await assert.rejects(up, /cancelled from the app/);
    const killed = Date.now();
    while (running(slow) && Date.now() - killed < 10_000) await sleep(100);
    assert.equal(running(slow), false, 'the command was killed on the node');

    const state = readLabState(paths.state);
    assert.equal(state.steps.quick?.status, 'done');
    assert.equal(state.steps.long?.status, 'failed');
    assert.match(state.steps.long?.error ?? '', /^stopped: cancelled from the app; `hardway-lab up` \(or Create cluster\) runs it again$/);
    assert.equal(existsSync(paths.lock), false, 'the lab lock was released');

    const again = await engine.up({ finalCheck: false });
    assert.equal(again.resumedAt, 'long');
    assert.equal(again.ok, true, JSON.stringify(again.states));
    assert.equal(readLabState(paths.state).steps.long?.status, 'done');
  } finally {
    pool.close();
  }
});
