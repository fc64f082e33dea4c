// A check as data (main/engine/node-checks.ts) run by the real engine over real SSH: every node of
// the step is asked with a facts script from provision/, each answer judged; a node that does not
// answer becomes one failing probe naming it, and the others are judged all the same; a script that
// must succeed and fails says so with its output. OpenSSH sshd on 127.0.0.1 plays the controllers
// that answer; controller-2's address is a closed loopback port.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import { LabEngine } from '../../main/engine/lab-engine.ts';
import { checkNodes, factsScript } from '../../main/engine/node-checks.ts';
import type { StepDefinition } from '../../main/engine/step-definition.ts';
import { probe } from '../../main/checkers/probe.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { HostKeyPins, SshPool } from '../../main/ssh/ssh-pool.ts';
import { localSshdUnavailableReason, startLocalSshd, type LocalSshd } from '../helpers/local-sshd.ts';

const unavailable = localSshdUnavailableReason();
if (unavailable) console.warn(`SKIPPED: node checks over SSH need a local OpenSSH server: ${unavailable}`);

let sshd: LocalSshd;
let work: string;
let closedPort: number;

before(async () => {
  if (unavailable) return;
  work = mkdtempSync(join(tmpdir(), 'hwl-node-checks-'));
  const key = await ensureLabSshKey(join(work, 'ssh'));
  sshd = await startLocalSshd({ authorizedKeys: key.publicKey });
  // A loopback port nothing listens on: bound, noted, closed.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closedPort = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

after(async () => {
  await sshd?.dispose();
});

async function checkControllers(check: StepDefinition['check']) {
  const spec = parseSpec(defaultSpecText(), 'test.yaml', { hostMemoryMiB: 256 * 1024 }).spec;
  const plan = buildPlan(spec);
  const paths = labPaths(mkdtempSync(join(work, 'lab-')));
  const key = await ensureLabSshKey(join(work, 'ssh'));
  const pool = new SshPool({
    privateKey: key.privateKey,
    hostKeys: new HostKeyPins(join(paths.root, 'pins.json')),
    resolve: (node) => (node === 'controller-2' ? { ...sshd.endpoint, port: closedPort } : sshd.endpoint),
    connectTimeoutMs: 5000,
  });
  const step: StepDefinition = { id: 'facts', title: 'facts from every controller', explanation: 'reads a file on each', roles: ['controller'], needsKubeBinaries: false, commands: () => [], async run() {}, check };
  const engine = new LabEngine({ plan, spec, paths, executor: pool, artifacts: new ArtifactSource({ dir: mkdtempSync(join(work, 'art-')), versions: spec.versions }), steps: [step] });
  try {
    return (await engine.check('facts'))[0]!;
  } finally {
    pool.close();
  }
}

test('every node asked with a facts script and judged; the one that does not answer is one failing probe naming it', { skip: unavailable, timeout: 120_000 }, async () => {
  const file = join(work, 'fact.txt');
  writeFileSync(file, 'seen\n', { mode: 0o640 });
  const result = await checkControllers((ctx) =>
    checkNodes(ctx, {
      facts: factsScript({ script: 'checks/file-facts.sh', args: () => [file], timeout: 'shortCommand' }),
      judge: (stdout, node) => [probe({ name: 'fact file mode', node: node.name, ok: stdout.trim().split(' ')[1] === '640', expected: '640', seen: stdout.trim(), hint: 'chmod 640' })],
    }),
  );
  assert.deepEqual(result.probes.map((p) => [p.node, p.name, p.ok]), [
    ['controller-0', 'fact file mode', true],
    ['controller-1', 'fact file mode', true],
    ['controller-2', 'node answers over SSH', false],
  ]);
  assert.match(result.probes[2]!.hint, /bring controller-2 up/);
  assert.equal(result.ok, false);
});

test('a facts script that must succeed and fails: a failing probe with its output, on each node', { skip: unavailable, timeout: 120_000 }, async () => {
  const result = await checkControllers((ctx) =>
    checkNodes(ctx, {
      // pod-netns.sh without its arguments stops at `set -u`, before it does anything.
      facts: factsScript({ script: 'checks/pod-netns.sh', timeout: 'shortCommand', mustSucceed: true }),
      judge: () => [probe({ name: 'judged', ok: true, expected: '', seen: '', hint: '' })],
    }),
  );
  const byNode = Object.fromEntries(result.probes.map((p) => [p.node, p]));
  assert.equal(byNode['controller-0']?.name, 'checker commands ran', JSON.stringify(result.probes));
  assert.equal(byNode['controller-0']?.ok, false);
  assert.match(byNode['controller-0']!.seen, /unbound variable/);
  assert.equal(byNode['controller-2']?.name, 'node answers over SSH');
});
