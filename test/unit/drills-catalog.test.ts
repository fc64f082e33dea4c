// The drills and exercises as data, without VMs: the catalog covers what the issue lists, each
// record is complete (story, fault, checks on real steps, at least three hints, a fix), every
// action binds to nodes of the ha lab, the faulty certificates really carry their fault (judged
// by the lab's own certificate inspector, under the probe names the drills name), and the hint
// ladder and reveal keep their progress in the lab. The VM proof is in the hard-way story
// (test/integration/hardway-lab-scenarios.ts, drillRounds).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { ensurePki } from '../../main/pki/ensure-pki.ts';
import { renderLab } from '../../main/render/render-lab.ts';
import { readPkiFile } from '../../main/pki/pki-files.ts';
import { inspectCertificate } from '../../main/pki/inspect-certificate.ts';
import { HARDWAY_STEPS } from '../../main/steps/hardway-steps.ts';
import { DRILLS, EXERCISES, LESSONS, findLesson } from '../../main/drills/catalog.ts';
import { applyAction, showAction } from '../../main/drills/drill-actions.ts';
import { stageProbes, text, type Drill, type DrillAction, type DrillEnv, type Lesson } from '../../main/drills/drill-types.ts';
import { envOf, listLessons, nextHint, readProgress, revealLesson, progressFile } from '../../main/drills/drill-runner.ts';
import type { NodeExecutor } from '../../main/engine/node-executor.ts';
import type { Exercise } from '../../main/drills/drill-types.ts';
import { availabilityReport } from '../../main/drills/records/kubernetes-upgrade.ts';
import { KUBERNETES_UPGRADES, kubernetesUpgradeTarget } from '../../main/spec/cluster-spec.ts';
import { COMMITTED_GO_MODULES_DIR } from '../../main/artifacts/go-wrapper-module.ts';
import { ArtifactSet } from '../../main/artifacts/artifact-set.ts';
import { setSpecKubernetesVersion } from '../../main/spec/edit-spec.ts';
import { writeLabState, emptyLabState } from '../../main/engine/lab-state.ts';

const STEP_IDS = new Set(HARDWAY_STEPS.map((s) => s.id));

function drill(id: string): Drill {
  const found = findLesson(id, 'drill');
  assert.equal(found.kind, 'drill');
  return found as Drill;
}

async function haLab() {
  const spec = parseSpec(defaultSpecText(), 'test.yaml', { hostMemoryMiB: 256 * 1024 }).spec;
  const plan = buildPlan(spec);
  const paths = labPaths(mkdtempSync(join(tmpdir(), 'hwl-drills-')));
  await ensurePki(plan, paths, { algorithm: spec.pki.keyAlgorithm });
  await renderLab(plan, paths);
  return { spec, plan, paths };
}

/** The env a lesson sees once started: what it works out at the start (exercises) and the captures a test would make. */
function lessonEnv(lab: Awaited<ReturnType<typeof haLab>>, lesson: Lesson): DrillEnv {
  const base = envOf(lab, { clusterId: '1234' });
  return lesson.kind === 'exercise' ? envOf(lab, { ...base.vars, ...lesson.values?.(base) }) : base;
}

test('the catalog: at least 12 drills covering the issue\'s list, the operations exercises, unique ids', () => {
  assert.ok(DRILLS.length >= 12, `${DRILLS.length} drills`);
  const ids = LESSONS.map((l) => l.id);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  for (const id of [
    'apiserver-cert-no-lb-san',
    'kubelet-cert-no-client-auth',
    'etcd-member-down',
    'etcd-quorum-lost',
    'pod-route-lost',
    'kube-proxy-stopped',
    'coredns-corefile-broken',
    'kubelet-wrong-cluster-dns',
    'encryption-config-missing',
    'apiserver-kubelet-rbac-removed',
    'scheduler-stopped',
    'workers-cordoned',
    'etcd-cert-expired',
  ]) assert.equal(findLesson(id, 'drill').id, id);
  for (const id of ['etcd-backup-restore', 'drain-and-uncordon', 'certificate-rotation', 'kubernetes-upgrade']) assert.equal(findLesson(id, 'exercise').id, id);
  assert.throws(() => findLesson('no-such-drill'), /there is no drill or exercise "no-such-drill"[\s\S]*use one of: apiserver-cert-no-lb-san/);
});

test('every record is complete: a story, a fault on real steps, checks that name their probe, three hints or more, a fix', async () => {
  const lab = await haLab();
  for (const lesson of LESSONS) {
    const env = lessonEnv(lab, lesson);
    const where = `${lesson.kind} ${lesson.id}`;
    assert.match(lesson.id, /^[a-z0-9-]+$/, where);
    assert.ok(text(lesson.story, env).length > 40, `${where}: a story`);
    assert.ok(lesson.hints.length >= 3, `${where}: ${lesson.hints.length} hints`);
    for (const step of lesson.needs.steps) assert.ok(STEP_IDS.has(step), `${where}: needs unknown step ${step}`);
    const hints = lesson.hints.map((h) => text(h, env));
    assert.equal(new Set(hints).size, hints.length, `${where}: every hint says something new`);
    if (lesson.kind === 'drill') {
      assert.ok(lesson.fault.length > 0 && lesson.fix.length > 0 && lesson.checks.length > 0, where);
      for (const check of lesson.checks) assert.ok(STEP_IDS.has(check.step), `${where}: checks unknown step ${check.step}`);
      // The story tells the symptom: it never gives away the fix's first command.
      const fixShown = lesson.fix.flatMap((a) => showAction(a, env)).map((c) => c.command);
      for (const command of fixShown) assert.ok(!text(lesson.story, env).includes(command), `${where}: the story gives away \`${command}\``);
    } else {
      assert.ok(lesson.stages.length >= 2, `${where}: stages`);
      for (const stage of lesson.stages) {
        assert.ok(stageProbes(stage, env).length > 0 && stage.reference.length > 0, `${where}: ${stage.title}`);
        for (const step of stage.steps ?? []) assert.ok(STEP_IDS.has(step), `${where}: stage checks unknown step ${step}`);
      }
    }
  }
});

test('every action is shown as commands bound to nodes of the lab (the reveal), and nothing is left undefined', async () => {
  const lab = await haLab();
  const names = new Set([...lab.plan.nodes.map((n) => n.name), 'host']);
  for (const lesson of LESSONS) {
    const env = lessonEnv(lab, lesson);
    const actions: DrillAction[] =
      lesson.kind === 'drill'
        ? [...lesson.fault, ...lesson.fix, ...(lesson.cleanup ?? [])]
        : [...lesson.setup, ...lesson.stages.flatMap((s) => s.reference), ...(lesson.undo ?? []), ...(lesson.cleanup ?? [])];
    for (const action of actions) {
      const shown = showAction(action, env);
      assert.ok(shown.length > 0, `${lesson.id}: ${action.kind} shows no command`);
      for (const c of shown) {
        assert.ok(names.has(c.node), `${lesson.id}: bound to ${c.node}`);
        assert.doesNotMatch(c.command, /undefined|\[object /, `${lesson.id}: ${c.command}`);
      }
    }
  }
  const env = envOf(lab, { clusterId: '1234' });
  const san = drill('apiserver-cert-no-lb-san');
  assert.match(showAction(san.fix[0]!, env)[0]!.command, /^scp pki\/kube-apiserver\.crt pki\/kube-apiserver\.key root@10\.240\.0\.12:/);
});

const notUsed = () => Promise.reject(new Error('not used'));

/** Records what a drill would copy to a node; a certificate action runs no command. */
function recordingExecutor(): NodeExecutor & { uploads: Map<string, string> } {
  const uploads = new Map<string, string>();
  return {
    uploads,
    exec: () => Promise.reject(new Error('a certificate action without `then` runs no command')),
    upload: async (node, content, path) => void uploads.set(`${node}:${path}`, content.toString()),
    uploadFile: () => Promise.reject(new Error('not used')),
    waitForSsh: () => Promise.reject(new Error('not used')),
  };
}

test('the faulty certificates carry exactly their fault: the lab\'s own inspector fails the probe the drill names, openssl agrees', async () => {
  const lab = await haLab();
  const env = envOf(lab);
  const ca = readPkiFile(lab.paths, 'ca', 'crt');
  const caFile = join(lab.paths.root, 'ca.pem');
  writeFileSync(caFile, ca);
  for (const [id, node, path] of [
    ['apiserver-cert-no-lb-san', 'controller-1', '/var/lib/kubernetes/kube-apiserver.crt'],
    ['kubelet-cert-no-client-auth', 'worker-0', '/var/lib/kubelet/kubelet.crt'],
    ['etcd-cert-expired', 'controller-2', '/etc/etcd/etcd-server.crt'],
  ] as const) {
    const d = drill(id);
    const pool = recordingExecutor();
    const fault = d.fault.find((a) => a.kind === 'faulty-cert')!;
    await applyAction({ ...fault, then: undefined } as DrillAction, { ...lab, pool, runStep: async () => true, kubernetesArtifacts: notUsed }, env);
    const certPem = pool.uploads.get(`${node}:${path}`)!;
    const keyPem = pool.uploads.get(`${node}:${path.replace(/\.crt$/, '.key')}`)!;
    assert.ok(certPem && keyPem, `${id}: uploaded ${[...pool.uploads.keys()].join(', ')}`);
    const certId = text(fault.cert, env);
    const probes = await inspectCertificate({ certPem, keyPem, caPem: ca, plan: lab.plan.certificates.find((c) => c.id === certId)! });
    const failing = probes.filter((p) => !p.ok).map((p) => `${path}: ${p.name}`);
    const check = d.checks.find((c) => c.step === 'certificates')!;
    const pattern = typeof check.probe === 'function' ? check.probe(env) : check.probe;
    assert.deepEqual(failing.filter((name) => pattern.test(name)).length, 1, `${id}: the named probe fails (${failing.join('; ')})`);
    assert.equal(failing.length, 1, `${id}: nothing else is wrong with it (${failing.join('; ')})`);
    assert.notEqual(certPem, readPkiFile(lab.paths, certId, 'crt'), 'not the lab\'s own certificate');
    const certFile = join(lab.paths.root, `${id}.pem`);
    writeFileSync(certFile, certPem);
    // openssl: the CA signed it; only the expired one fails verification (error 10).
    let verify: string;
    try {
      verify = execFileSync('openssl', ['verify', '-CAfile', caFile, certFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      verify = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
    }
    if (id === 'etcd-cert-expired') assert.match(verify, /certificate has expired|error 10/, verify);
    else assert.match(verify, /: OK/, verify);
  }
  // The lab's own certificate goes back untouched.
  const pool = recordingExecutor();
  const fix = drill('apiserver-cert-no-lb-san').fix[0]!;
  await applyAction(fix, { ...lab, pool, runStep: async () => true, kubernetesArtifacts: notUsed }, env);
  assert.equal(pool.uploads.get('controller-1:/var/lib/kubernetes/kube-apiserver.crt'), readPkiFile(lab.paths, 'kube-apiserver', 'crt'));
  assert.equal(pool.uploads.get('controller-1:/var/lib/kubernetes/kube-apiserver.key'), readPkiFile(lab.paths, 'kube-apiserver', 'key'));
});

test('the list says what a drill needs; hints climb one level at a time and stop at the last; reveal is remembered; progress lives in the lab', async () => {
  const lab = await haLab();
  const before = listLessons(lab);
  assert.match(before.find((l) => l.id === 'etcd-member-down')!.unavailable ?? '', /needs step etcd done first: `hardway-lab up --until etcd`/);
  const minimal = parseSpec(defaultSpecText().replace(/^preset: \w+/m, 'preset: minimal'), 'test.yaml', { hostMemoryMiB: 256 * 1024 }).spec;
  assert.match(listLessons({ plan: buildPlan(minimal), spec: minimal, paths: lab.paths }).find((l) => l.id === 'etcd-quorum-lost')!.unavailable ?? '', /needs 3 controllers; this lab has 1/);

  const state = emptyLabState();
  for (const id of STEP_IDS) state.steps[id] = { id, status: 'done' };
  writeLabState(lab.paths.state, state);
  assert.equal(listLessons(lab).find((l) => l.id === 'etcd-member-down')!.unavailable, undefined);
  assert.equal(listLessons(lab).find((l) => l.id === 'kubernetes-upgrade')!.unavailable, undefined);
  // A lab already at the newest release the exercise knows: the list says so before any start.
  const newest = { ...lab, spec: { ...lab.spec, versions: { ...lab.spec.versions, kubernetes: '1.37.2' } } };
  assert.match(listLessons(newest).find((l) => l.id === 'kubernetes-upgrade')!.unavailable ?? '', /cannot run here: the lab runs Kubernetes 1\.37\.2, which has no upgrade target/);

  assert.throws(() => nextHint(lab), /no drill or exercise is running on this lab[\s\S]*hardway-lab drill list/);
  writeFileSync(progressFile(lab.paths), JSON.stringify({ version: 1, active: { id: 'etcd-member-down', kind: 'drill', startedAt: new Date().toISOString(), hints: 0, revealed: false, vars: {}, stagesPassed: [] }, history: [] }));
  const memberDown = drill('etcd-member-down');
  const levels = [1, 2, 3, 3].map(() => nextHint(lab));
  assert.deepEqual(levels.map((h) => h.level), [1, 2, 3, 3]);
  assert.equal(levels[0]!.hint, text(memberDown.hints[0]!, envOf(lab)));
  assert.match(levels[2]!.hint, /systemctl start etcd/, 'the last hint is the exact fix');
  const shown = revealLesson(lab);
  assert.deepEqual(shown.commands[0]!.commands.map((c) => c.node), ['controller-2']);
  assert.match(shown.commands[0]!.commands[0]!.command, /^systemctl start etcd/);
  const progress = readProgress(lab.paths);
  assert.equal(progress.active?.hints, 3);
  assert.equal(progress.active?.revealed, true);
  assert.equal(JSON.parse(readFileSync(progressFile(lab.paths), 'utf8')).active.id, 'etcd-member-down');
  assert.ok(EXERCISES.every((e) => e.stages.every((s) => typeof s.title === 'string')));
});

test('renewing certificates (the rotation exercise): new keys from the same CA for exactly the ids named, the kubeconfigs that embed them written again', async () => {
  const lab = await haLab();
  const env = envOf(lab);
  const before = Object.fromEntries(['ca', 'kube-apiserver', 'kubelet-worker-0', 'kubelet-worker-1', 'admin'].map((id) => [id, readPkiFile(lab.paths, id, 'crt')]));
  const kubeconfigBefore = readFileSync(join(lab.paths.nodes, 'worker-0', 'var', 'lib', 'kubelet', 'kubeconfig'), 'utf8');
  const pool = recordingExecutor();
  await applyAction({ kind: 'renew-cert', cert: 'kube-apiserver,{each-worker}' }, { ...lab, pool, runStep: async () => true, kubernetesArtifacts: notUsed }, env);
  for (const id of ['kube-apiserver', 'kubelet-worker-0', 'kubelet-worker-1']) assert.notEqual(readPkiFile(lab.paths, id, 'crt'), before[id], `${id} renewed`);
  for (const id of ['ca', 'admin']) assert.equal(readPkiFile(lab.paths, id, 'crt'), before[id], `${id} kept`);
  const renewed = readPkiFile(lab.paths, 'kube-apiserver', 'crt');
  const probes = await inspectCertificate({ certPem: renewed, keyPem: readPkiFile(lab.paths, 'kube-apiserver', 'key'), caPem: before.ca!, plan: lab.plan.certificates.find((c) => c.id === 'kube-apiserver')! });
  assert.deepEqual(probes.filter((p) => !p.ok).map((p) => p.name), [], 'the renewed certificate is everything the plan asks for');
  const kubeconfigAfter = readFileSync(join(lab.paths.nodes, 'worker-0', 'var', 'lib', 'kubelet', 'kubeconfig'), 'utf8');
  assert.notEqual(kubeconfigAfter, kubeconfigBefore, 'the kubelet kubeconfig embeds the new client certificate');
  assert.ok(kubeconfigAfter.includes(Buffer.from(readPkiFile(lab.paths, 'kubelet-worker-0', 'crt')).toString('base64')));
  await assert.rejects(applyAction({ kind: 'renew-cert', cert: 'ca' }, { ...lab, pool, runStep: async () => true, kubernetesArtifacts: notUsed }, env), /there is no certificate "ca" to renew[\s\S]*only by --rotate/);
  assert.match(showAction({ kind: 'renew-cert', cert: '{each-worker}' }, env)[0]!.command, /^hardway-lab pki --renew kubelet-worker-0,kubelet-worker-1 && hardway-lab render$/);
});

test('the upgrade exercise goes from the lab\'s release to the next minor, one node at a time, with the LB told first', async () => {
  const lab = await haLab();
  const upgrade = findLesson('kubernetes-upgrade', 'exercise') as Exercise;
  const env = lessonEnv(lab, upgrade);
  assert.deepEqual({ from: env.vars.from, to: env.vars.to }, { from: lab.spec.versions.kubernetes, to: kubernetesUpgradeTarget(lab.spec.versions.kubernetes) });
  assert.match(env.vars.to!, /^1\.37\.\d+$/);
  // Every release the exercise can go to has its wrapper module committed (the build needs no network but the proxy).
  for (const target of Object.values(KUBERNETES_UPGRADES)) assert.ok(existsSync(join(COMMITTED_GO_MODULES_DIR, 'kubernetes', `v${target}`, 'go.mod')), target);
  const unknown = envOf({ ...lab, spec: { ...lab.spec, versions: { ...lab.spec.versions, kubernetes: '1.20.0' } } });
  assert.throws(() => upgrade.values!(unknown), /Kubernetes 1\.20\.0, which has no upgrade target/);

  const shown = showAction(upgrade.stages[0]!.reference[0]!, env);
  const order = shown.map((c) => `${c.node}: ${c.command.slice(0, 60)}`);
  // controller-0's turn ends (back UP on the LB) before controller-1's starts.
  const firstBack = order.findIndex((l) => l.includes('kube-apiservers/controller-0 state ready'));
  const secondOut = order.findIndex((l) => l.includes('kube-apiservers/controller-1 state maint'));
  assert.ok(firstBack > 0 && secondOut > firstBack, order.join('\n'));
  assert.equal(shown.filter((c) => c.node === 'lb').length, 6, 'maint and ready for each of 3 controllers');
  assert.equal(stageProbes(upgrade.stages[0]!, env).length, 3, 'one probe per controller');
  assert.equal(stageProbes(upgrade.stages[1]!, env).length, 3, 'one per worker, and the nodes as the API sees them');
});

test('the upgrade\'s probes: a binary replaced under a running process is not an upgrade; availability counts every failed request', async () => {
  const lab = await haLab();
  const upgrade = findLesson('kubernetes-upgrade', 'exercise') as Exercise;
  const env = lessonEnv(lab, upgrade);
  const probe = stageProbes(upgrade.stages[0]!, env)[0]!;
  const to = `v${env.vars.to}`;
  const result = (stdout: string) => ({ code: 0, stdout, stderr: '' });
  const upgraded = [`kube-apiserver ${to} /usr/local/bin/kube-apiserver`, `kube-controller-manager ${to} /usr/local/bin/kube-controller-manager`, `kube-scheduler ${to} /usr/local/bin/kube-scheduler`, `kubectl ${to} -`, `api-version ${to} -`];
  assert.equal(probe.judge(result(upgraded.join('\n')), env).ok, true);
  const notRestarted = probe.judge(result(upgraded.map((l) => l.replace('/usr/local/bin/kube-scheduler', '/usr/local/bin/kube-scheduler_(deleted)')).join('\n')), env);
  assert.deepEqual(notRestarted, { ok: false, seen: 'kube-scheduler still runs the binary that was replaced on disk (not restarted)' });
  const oldApi = probe.judge(result(upgraded.slice(0, 4).join('\n')), env);
  assert.equal(oldApi.ok, false);
  assert.match(oldApi.seen, /no api-version/);

  assert.deepEqual(availabilityReport('100 200\n101 200\n102 000\n104 000\n106 200\n107 200\n'), { requests: 6, failed: 2, percent: (100 * 4) / 6, longestOutageSeconds: 5, minutes: 7 / 60 });
  assert.equal(availabilityReport('100 200\n160 200\n').failed, 0);
  const availability = stageProbes(upgrade.stages[2]!, env)[0]!;
  assert.equal(availability.judge(result('100 200\n101 200\n'), env).ok, true);
  assert.match(availability.judge(result('100 200\n101 503\n103 200\n'), env).seen, /3 requests over 0\.1 min: 1 failed .* longest outage 3 s/);
  assert.equal(availability.judge(result('not-measuring 0\n100 200\n'), env).ok, false);
});

test('the upgrade\'s binaries reach each node by role, once: what a node already holds is not sent again', async () => {
  const lab = await haLab();
  const upgrade = findLesson('kubernetes-upgrade', 'exercise') as Exercise;
  const env = lessonEnv(lab, upgrade);
  const set = join(lab.paths.root, 'upgrade-set');
  mkdirSync(join(set, 'bin'), { recursive: true });
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy']) writeFileSync(join(set, 'bin', name), `#!/bin/sh\necho ${name}\n`, { mode: 0o755 });
  const sent: string[] = [];
  const held = new Map<string, string>();
  const pool: NodeExecutor = {
    // What `sha256sum` prints on the node for what it holds.
    exec: async (node) => ({ code: 0, stdout: [...held].filter(([k]) => k.startsWith(`${node}:`)).map(([k, sum]) => `${sum}  ${k.split('/').at(-1)}`).join('\n'), stderr: '' }),
    upload: notUsed,
    uploadFile: async (node, local, remote) => {
      sent.push(`${node}:${remote}`);
      held.set(`${node}:${remote}`, createHash('sha256').update(readFileSync(local)).digest('hex'));
    },
    waitForSsh: notUsed,
  };
  const stage = upgrade.setup[0]!;
  const target = { ...lab, pool, runStep: async () => true, kubernetesArtifacts: async () => new ArtifactSet(set, 'directory') };
  await applyAction(stage, target, env);
  const dir = `/opt/hardway/kubernetes/v${env.vars.to}`;
  assert.deepEqual(sent.filter((s) => s.startsWith('controller-0:')), ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].map((b) => `controller-0:${dir}/${b}`));
  assert.deepEqual(sent.filter((s) => s.startsWith('worker-1:')), [`worker-1:${dir}/kubelet`, `worker-1:${dir}/kube-proxy`]);
  assert.equal(sent.filter((s) => s.startsWith('lb:')).length, 0);
  assert.equal(sent.length, 3 * 4 + 2 * 2);
  sent.length = 0;
  await applyAction(stage, target, env);
  assert.deepEqual(sent, [], 'nothing is sent twice');
});

test('setting versions.kubernetes changes that value only: comments and columns stay, a bad version is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-spec-edit-'));
  const file = join(dir, 'hardway-lab.yaml');
  writeFileSync(file, defaultSpecText());
  const spec = setSpecKubernetesVersion(file, '1.37.2');
  assert.equal(spec.versions.kubernetes, '1.37.2');
  const before = defaultSpecText().split('\n');
  const after = readFileSync(file, 'utf8').split('\n');
  const changed = after.map((line, i) => [before[i], line]).filter(([a, b]) => a !== b);
  assert.equal(changed.length, 1, JSON.stringify(changed));
  assert.match(changed[0]![1]!, /^ {2}kubernetes: 1\.37\.2$/);
  assert.throws(() => setSpecKubernetesVersion(file, 'latest'), /versions\.kubernetes/);
  assert.match(readFileSync(file, 'utf8'), /kubernetes: 1\.37\.2/, 'nothing written when refused');
});
