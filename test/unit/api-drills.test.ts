// The drill calls of the API on a lab made by the real CLI (`hardway-lab render`), without VMs:
// every drill and exercise is listed with its story resolved for this lab (plain strings) and, on
// a lab where no step is done, the reason it cannot start yet; start is refused with that reason
// before anything touches the lab (no drills.json, no operation); the calls that need a running
// drill say there is none; a running one (as drills.json keeps it) is listed with its progress,
// its hints come one level at a time and its fix bound to its nodes; malformed parameters are
// refused at the boundary; and no reply carries a private key.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiConnection, containsPrivateKey } from '../../main/api/api-connection.ts';
import type { ApiEvent, ApiReply, DrillOverview, OperationState } from '../../main/shared/api-contract.ts';
import { LabService } from '../../main/api/lab-service.ts';
import { DRILLS, EXERCISES } from '../../main/drills/catalog.ts';

const root = new URL('../..', import.meta.url).pathname;
let labDir: string;
let service: LabService;
let connection: ApiConnection;
const events: ApiEvent[] = [];

before(async () => {
  labDir = await mkdtemp(join(tmpdir(), 'hwl-api-drills-'));
  execFileSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'render', '--lab', labDir], { stdio: 'pipe' });
  service = await LabService.create({ lab: labDir, statusTtlMs: 0 });
  connection = new ApiConnection(service, (event) => events.push(event));
});

after(async () => {
  connection?.dispose();
  await service?.dispose();
  if (labDir) await rm(labDir, { recursive: true, force: true });
});

const call = (method: string, ...params: unknown[]): Promise<ApiReply> => connection.handle(method, params);

test('listDrills: every drill and exercise, its story as plain text, and why it cannot start on a lab with no step done', async () => {
  const reply = await call('listDrills');
  assert.equal(reply.error, undefined);
  const overview = reply.result as DrillOverview;
  assert.deepEqual(
    overview.lessons.filter((l) => l.kind === 'drill').map((l) => l.id),
    DRILLS.map((d) => d.id),
  );
  assert.deepEqual(
    overview.lessons.filter((l) => l.kind === 'exercise').map((l) => l.id),
    EXERCISES.map((e) => e.id),
  );
  assert.equal(overview.lessons.length, DRILLS.length + EXERCISES.length);
  assert.equal(overview.active, undefined);
  assert.deepEqual(overview.history, []);
  for (const l of overview.lessons) {
    assert.equal(typeof l.title, 'string');
    assert.ok(l.teaches.length > 10, `${l.id} says what it teaches`);
    assert.equal(typeof l.story, 'string', `${l.id}: the story crosses as a string`);
    assert.ok(l.story.length > 40 && !/\(this text cannot be shown/.test(l.story), `${l.id}: the story is resolved for this lab`);
    assert.match(l.unavailable ?? '', /^needs steps? \S.* done first/, `${l.id} says which steps it needs`);
    assert.equal(l.active, false);
    assert.equal(l.solvedBefore, false);
    assert.ok(l.hintCount >= 3, `${l.id} has its hints`);
    if (l.kind === 'exercise') assert.ok((l.stages?.length ?? 0) >= 2, `${l.id} lists its stages`);
  }
  // A story that depends on the lab is resolved in the main process (the ha lab's third controller).
  assert.match(overview.lessons.find((l) => l.id === 'etcd-member-down')!.story, /etcd member on controller-2 is down/);
  // Exactly plain JSON: nothing is lost in a round trip (no functions, no RegExps, no undefined holes).
  assert.deepEqual(JSON.parse(JSON.stringify(overview)), overview);
});

test('startDrill is refused with the reason before anything touches the lab; the calls that need a running drill say there is none', async () => {
  const listed = (await call('listDrills')).result as DrillOverview;
  const reason = listed.lessons.find((l) => l.id === 'etcd-member-down')!.unavailable!;
  const before = events.length;

  const refused = await call('startDrill', 'etcd-member-down', { snapshot: true });
  assert.equal(refused.result, undefined);
  assert.equal(refused.error?.code, 'not-available');
  assert.equal(refused.error?.message, `drill etcd-member-down cannot start on this lab: it ${reason}`);
  assert.match(refused.error!.message, /needs steps? .*etcd.* done first/);

  const exercise = await call('startDrill', 'drain-and-uncordon', { snapshot: false });
  assert.match(exercise.error?.message ?? '', /^exercise drain-and-uncordon cannot start on this lab: it needs steps? /);

  const unknown = await call('startDrill', 'no-such-drill', { snapshot: true });
  assert.equal(unknown.error?.code, 'not-found');
  assert.match(unknown.error?.hint ?? '', /etcd-member-down/, 'the hint lists the ids');

  assert.equal(existsSync(join(labDir, 'drills.json')), false, 'no progress was written');
  const operations = events.slice(before).filter((e): e is { kind: 'operation'; operation: OperationState } => e.kind === 'operation');
  assert.deepEqual(operations, [], 'a refused start is no operation');
  assert.deepEqual((await call('listOperations')).result, []);

  for (const method of ['checkDrill', 'drillHint', 'revealDrill', 'applyDrillReference', 'stopDrill']) {
    const reply = await call(method);
    assert.match(reply.error?.message ?? '', /no drill or exercise is running on this lab/, `${method} says none runs`);
  }
  assert.equal(existsSync(join(labDir, 'drills.json')), false);
});

test('startDrill parameters are checked at the boundary: an id, then exactly { snapshot: boolean }', async () => {
  for (const params of [
    ['etcd-member-down'],
    ['etcd-member-down', true],
    ['etcd-member-down', {}],
    ['etcd-member-down', { snapshot: 'yes' }],
    ['etcd-member-down', { snapshot: true, extra: 1 }],
    ['etcd-member-down', [true]],
    ['etcd-member-down; rm -rf /', { snapshot: true }],
  ]) {
    const reply = await connection.handle('startDrill', params);
    assert.equal(reply.error?.code, 'bad-request', `refused: ${JSON.stringify(params)}`);
  }
  const bad = await connection.handle('startDrill', ['etcd-member-down', { snapshot: 'yes' }]);
  assert.match(bad.error!.message, /startDrill parameter 2 must be an object with exactly snapshot: true\|false/);
  assert.equal((await connection.handle('listDrills', [1])).error?.code, 'bad-request');
});

test('a running drill (as drills.json keeps it across a restart): listed with its progress, hints one level at a time, the fix bound to its nodes', async () => {
  // No VM: the progress file says a drill runs (what a restarted app finds); hint and reveal only
  // read the records and write that file.
  const progress = join(labDir, 'drills.json');
  const running = (id: string, kind: 'drill' | 'exercise', vars: Record<string, string> = {}) =>
    writeFileSync(progress, `${JSON.stringify({ version: 1, active: { id, kind, startedAt: '2026-01-02T03:04:05.000Z', hints: 0, revealed: false, vars, stagesPassed: [] }, history: [] })}\n`);
  try {
    running('etcd-member-down', 'drill');
    let overview = (await call('listDrills')).result as DrillOverview;
    assert.equal(overview.lessons.find((l) => l.id === 'etcd-member-down')!.active, true);
    assert.deepEqual(overview.active, {
      id: 'etcd-member-down',
      kind: 'drill',
      title: 'One etcd member down',
      startedAt: '2026-01-02T03:04:05.000Z',
      story: overview.lessons.find((l) => l.id === 'etcd-member-down')!.story,
      hintsShown: 0,
      hintCount: 3,
      hintTexts: [],
      revealed: false,
      stagesPassed: [],
    });

    const levels: string[] = [];
    for (let i = 0; i < 4; i++) {
      const hint = (await call('drillHint')).result as { level: number; of: number; text: string };
      levels.push(`${hint.level}/${hint.of}`);
      if (i === 0) assert.match(hint.text, /--endpoints=https:\/\/10\.240\.0\.11:2379,https:\/\/10\.240\.0\.12:2379,https:\/\/10\.240\.0\.13:2379/, 'resolved for this lab');
    }
    assert.deepEqual(levels, ['1/3', '2/3', '3/3', '3/3'], 'one level at a time, then the last one again');
    overview = (await call('listDrills')).result as DrillOverview;
    assert.equal(overview.active?.hintsShown, 3);
    assert.equal(overview.active?.hintTexts.length, 3);
    assert.match(overview.active!.hintTexts[2]!, /On controller-2: `systemctl status etcd`/);

    const reveal = (await call('revealDrill')).result as { groups: { title: string; commands: { node: string; command: string; why?: string }[] }[] };
    assert.equal(reveal.groups.length, 1);
    assert.equal(reveal.groups[0]!.title, 'The fix');
    assert.equal(reveal.groups[0]!.commands[0]!.node, 'controller-2');
    assert.match(reveal.groups[0]!.commands[0]!.command, /^systemctl start etcd && /);
    assert.deepEqual(JSON.parse(JSON.stringify(reveal)), reveal, 'plain JSON');
    assert.equal(((await call('listDrills')).result as DrillOverview).active?.revealed, true);

    // An exercise: the stage to do now, its task resolved with the lab's names.
    running('etcd-backup-restore', 'exercise', { clusterId: '1234' });
    overview = (await call('listDrills')).result as DrillOverview;
    assert.equal(overview.active?.stage?.number, 1);
    assert.equal(overview.active?.stage?.of, 2);
    assert.equal(overview.active?.stage?.title, 'Save a snapshot, then lose the namespace');
    assert.match(overview.active!.stage!.task, /^On controller-0: `etcdctl .* snapshot save \/root\/etcd-backup\.db`/);
    const groups = ((await call('revealDrill')).result as { groups: { title: string }[] }).groups.map((g) => g.title);
    assert.deepEqual(groups, ['Stage 1: Save a snapshot, then lose the namespace', 'Stage 2: Restore every member from the snapshot']);
  } finally {
    rmSync(progress, { force: true });
  }
});

test('no drill reply carries a private key', async () => {
  const replies = [await call('listDrills'), await call('startDrill', 'etcd-member-down', { snapshot: true }), await call('drillHint'), await call('revealDrill')];
  assert.equal(containsPrivateKey(replies), false);
  assert.equal(containsPrivateKey(events), false);
});
