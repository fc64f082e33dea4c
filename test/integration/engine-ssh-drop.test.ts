// A step whose SSH connection drops under a running command: the engine does that node's part once
// more (steps are idempotent) and the step succeeds; a connection that drops again fails the step
// with the SSH layer's message. Real LabEngine, real SshPool, real OpenSSH sshd on 127.0.0.1 (every
// node of the plan resolves to it).

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import { LabEngine } from '../../main/engine/lab-engine.ts';
import type { LabEvent } from '../../main/shared/engine-types.ts';
import type { StepDefinition } from '../../main/engine/step-definition.ts';
import { probe } from '../../main/checkers/probe.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { HostKeyPins, SshPool } from '../../main/ssh/ssh-pool.ts';
import { localSshdUnavailableReason, startLocalSshd, type LocalSshd } from '../helpers/local-sshd.ts';

const unavailable = localSshdUnavailableReason();
if (unavailable) console.warn(`SKIPPED: engine SSH-drop test needs a local OpenSSH server: ${unavailable}`);

let sshd: LocalSshd;
let work: string;

before(async () => {
  if (unavailable) return;
  work = mkdtempSync(join(tmpdir(), 'hwl-engine-drop-'));
  const key = await ensureLabSshKey(join(work, 'ssh'));
  sshd = await startLocalSshd({ authorizedKeys: key.publicKey });
});

after(async () => {
  await sshd?.dispose();
});

/** Runs a 3-second command on every controller; `drops` says how many times controller-0's connection is cut under it. */
async function runWithDrops(drops: number) {
  const spec = parseSpec(defaultSpecText(), 'test.yaml', { hostMemoryMiB: 256 * 1024 }).spec;
  const plan = buildPlan(spec);
  const paths = labPaths(mkdtempSync(join(work, 'lab-')));
  const key = await ensureLabSshKey(join(work, 'ssh'));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: new HostKeyPins(join(paths.root, 'pins.json')), resolve: () => sshd.endpoint, connectTimeoutMs: 5000 });
  const attempts: Record<string, number> = {};
  let cut = 0;
  const step: StepDefinition = {
    id: 'slow-command',
    title: 'a slow command on every controller',
    explanation: 'runs `sleep 3` over SSH',
    roles: ['controller'],
    needsKubeBinaries: false,
    commands: () => [],
    async run(ctx) {
      await ctx.forEachNode(ctx.nodes, async (session) => {
        attempts[session.name] = (attempts[session.name] ?? 0) + 1;
        const running = session.run('sleep 3; echo finished', { quietStdout: true });
        if (session.name === 'controller-0' && cut < drops) {
          cut++;
          await sleep(1000);
          pool.close('controller-0');
        }
        await running;
      });
    },
    async check() {
      return [probe({ name: 'ran', ok: true, expected: 'ran', seen: 'ran', hint: '' })];
    },
  };
  const engine = new LabEngine({ plan, spec, paths, executor: pool, artifacts: new ArtifactSource({ dir: mkdtempSync(join(work, 'art-')), versions: spec.versions }), steps: [step] });
  const warnings: string[] = [];
  engine.onEvent((event: LabEvent) => {
    if (event.type === 'progress' && event.phase === 'warning') warnings.push(event.message);
  });
  try {
    const result = await engine.up();
    return { result, attempts, warnings };
  } finally {
    pool.close();
  }
}

test('a dropped SSH connection under a step: that node is done again and the step passes', { skip: unavailable, timeout: 120_000 }, async () => {
  const { result, attempts, warnings } = await runWithDrops(1);
  assert.equal(result.ok, true, JSON.stringify(result.states));
  assert.deepEqual(attempts, { 'controller-0': 2, 'controller-1': 1, 'controller-2': 1 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /controller-0: the SSH connection dropped during this step \(Command on node controller-0 lost its SSH connection.*\); doing this node's part again/);
});

test('a connection that drops again fails the step, naming the node and the command', { skip: unavailable, timeout: 120_000 }, async () => {
  const { result, attempts } = await runWithDrops(2);
  assert.equal(result.ok, false);
  assert.equal(attempts['controller-0'], 2, 'one retry, not more');
  const failed = result.states.find((s) => s.id === 'slow-command');
  assert.equal(failed?.status, 'failed');
  assert.match(failed?.error ?? '', /controller-0 lost its SSH connection before finishing/);
  assert.match(failed?.error ?? '', /sleep 3/);
});
