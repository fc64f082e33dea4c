// The step model without VMs: order, selection (--until/--step), and the commands the walkthrough
// shows — each bound to the right node, and every planned file copied by exactly one step.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSpec, defaultSpecText } from '../../main/spec/parse-spec.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { renderedFilePath } from '../../main/lab/lab-dir.ts';
import { HARDWAY_STEPS } from '../../main/steps/hardway-steps.ts';
import { selectSteps, stepIndex, UnknownStepError } from '../../main/engine/step-selection.ts';
import { LabEngine } from '../../main/engine/lab-engine.ts';
import { timeout, TIMEOUTS } from '../../main/engine/timeouts.ts';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import type { NodeExecutor } from '../../main/engine/node-executor.ts';

const ROOMY = { hostMemoryMiB: 256 * 1024 };

function labFor(preset: 'ha' | 'minimal' | 'classic' = 'ha') {
  const text = defaultSpecText().replace(/^preset: \w+/m, `preset: ${preset}`);
  const spec = parseSpec(text, 'test.yaml', ROOMY).spec;
  const plan = buildPlan(spec);
  const root = mkdtempSync(join(tmpdir(), 'hwl-steps-'));
  return { spec, plan, paths: labPaths(root) };
}

/** listSteps never touches a node: an executor that fails loudly if it ever did. */
const noNodes: NodeExecutor = {
  exec: () => Promise.reject(new Error('listSteps must not run commands')),
  upload: () => Promise.reject(new Error('listSteps must not upload')),
  uploadFile: () => Promise.reject(new Error('listSteps must not upload')),
  waitForSsh: () => Promise.reject(new Error('listSteps must not connect')),
};

function engineFor(preset: 'ha' | 'minimal' | 'classic' = 'ha') {
  const lab = labFor(preset);
  const artifacts = new ArtifactSource({ dir: mkdtempSync(join(tmpdir(), 'hwl-art-')), versions: lab.spec.versions });
  return { ...lab, engine: new LabEngine({ ...lab, executor: noNodes, artifacts }) };
}

test('steps: the hard way in order, 0 to 13', () => {
  assert.deepEqual(
    HARDWAY_STEPS.map((s) => s.id),
    ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config', 'etcd', 'control-plane', 'rbac', 'load-balancer', 'workers', 'admin-access', 'pod-routes', 'coredns', 'smoke-test'],
  );
  const needKube = HARDWAY_STEPS.filter((s) => s.needsKubeBinaries).map((s) => s.id);
  assert.deepEqual(needKube, ['control-plane', 'rbac', 'admin-access', 'coredns', 'smoke-test']);
  for (const step of HARDWAY_STEPS) {
    assert.ok(step.title.length > 5 && step.explanation.length > 80, `${step.id} explains itself`);
  }
});

test('steps: --until and --step select by id or number', () => {
  assert.deepEqual(selectSteps(HARDWAY_STEPS).length, 14);
  assert.deepEqual(
    selectSteps(HARDWAY_STEPS, { until: 'etcd' }).map((s) => s.id),
    ['preflight', 'compute', 'certificates', 'kubeconfigs', 'encryption-config', 'etcd'],
  );
  assert.deepEqual(
    selectSteps(HARDWAY_STEPS, { until: '2' }).map((s) => s.id),
    ['preflight', 'compute', 'certificates'],
  );
  assert.deepEqual(
    selectSteps(HARDWAY_STEPS, { step: 'pod-routes' }).map((s) => s.id),
    ['pod-routes'],
  );
  assert.deepEqual(
    selectSteps(HARDWAY_STEPS, { step: '8' }).map((s) => s.id),
    ['load-balancer'],
  );
  assert.equal(stepIndex(HARDWAY_STEPS, 'smoke-test'), 13);
  assert.throws(() => selectSteps(HARDWAY_STEPS, { step: 'etc' }), (e: unknown) => e instanceof UnknownStepError && /0 preflight, 1 compute/.test((e as Error).message));
  assert.throws(() => selectSteps(HARDWAY_STEPS, { step: '14' }), UnknownStepError);
  assert.throws(() => selectSteps(HARDWAY_STEPS, { step: 'etcd', until: 'workers' }), /cannot be combined/);
});

test('walkthrough: commands are bound to the nodes of the step\'s roles', () => {
  const { engine, plan } = engineFor('ha');
  const steps = new Map(engine.listSteps().map((s) => [s.id, s]));
  const roleOf = new Map(plan.nodes.map((n) => [n.name, n.role]));
  const nodesIn = (id: string) => new Set(steps.get(id)!.commands.map((c) => c.node));

  assert.deepEqual([...nodesIn('etcd')].sort(), ['controller-0', 'controller-1', 'controller-2', 'host']);
  assert.deepEqual([...nodesIn('encryption-config')].sort(), ['controller-0', 'controller-1', 'controller-2', 'host']);
  assert.deepEqual([...nodesIn('workers')].sort(), ['host', 'worker-0', 'worker-1']);
  assert.deepEqual([...nodesIn('load-balancer')].sort(), ['host', 'lb']);
  assert.deepEqual([...nodesIn('pod-routes')].sort(), ['controller-0', 'controller-1', 'controller-2', 'host', 'lb', 'worker-0', 'worker-1']);
  assert.deepEqual([...nodesIn('admin-access')], ['host']);
  // RBAC is applied once, from the first controller.
  assert.deepEqual([...nodesIn('rbac')], ['controller-0']);

  // The etcd status command on each controller names every member's client URL over https.
  const etcdStatus = steps.get('etcd')!.commands.filter((c) => c.command.includes('endpoint status'));
  assert.equal(etcdStatus.length, 3);
  for (const c of etcdStatus) {
    assert.equal(roleOf.get(c.node), 'controller');
    assert.match(c.command, /--endpoints=https:\/\/10\.240\.0\.11:2379,https:\/\/10\.240\.0\.12:2379,https:\/\/10\.240\.0\.13:2379/);
  }

  // Route commands: each node gets exactly the routes to the other workers' pod CIDRs.
  const routes = steps.get('pod-routes')!.commands.filter((c) => c.command.startsWith('ip route add'));
  assert.deepEqual(
    routes.filter((c) => c.node === 'worker-0').map((c) => c.command),
    ['ip route add 10.200.1.0/24 via 10.240.0.22'],
  );
  assert.deepEqual(
    routes.filter((c) => c.node === 'controller-1').map((c) => c.command),
    ['ip route add 10.200.0.0/24 via 10.240.0.21', 'ip route add 10.200.1.0/24 via 10.240.0.22'],
  );
  // Compute: each node checks its source address against another node.
  for (const c of steps.get('compute')!.commands.filter((c) => c.command.startsWith('ip route get'))) {
    const node = plan.nodes.find((n) => n.name === c.node)!;
    assert.match(c.description ?? '', new RegExp(`src ${node.ip.replace(/\./g, '\\.')}`));
  }
});

test('walkthrough: every planned file is copied by exactly one step, to its own node', () => {
  for (const preset of ['ha', 'minimal', 'classic'] as const) {
    const { engine, plan, paths } = engineFor(preset);
    const scp = engine
      .listSteps()
      .flatMap((s) => s.commands.filter((c) => c.command.startsWith('scp ')).map((c) => ({ step: s.id, command: c.command })));
    for (const node of plan.nodes) {
      for (const file of node.files) {
        const local = renderedFilePath(paths, node.name, file.path);
        const copies = scp.filter((c) => c.command.includes(`${local} root@${node.ip}:${file.path}`));
        assert.equal(copies.length, 1, `${preset}: ${file.path} on ${node.name} is copied once (found in ${copies.map((c) => c.step).join(', ') || 'no step'})`);
      }
    }
    // And nothing is copied that the plan does not list.
    const planned = plan.nodes.reduce((sum, n) => sum + n.files.length, 0);
    assert.equal(scp.length, planned, `${preset}: one scp per planned file`);
  }
});

test('walkthrough: private files are made 0600 on the node right after copying', () => {
  const { engine, plan } = engineFor('ha');
  const certs = engine.listSteps().find((s) => s.id === 'certificates')!;
  const worker = plan.nodes.find((n) => n.name === 'worker-1')!;
  const chmod = certs.commands.filter((c) => c.node === worker.name && c.command.startsWith('chmod 600'));
  assert.equal(chmod.length, 1);
  assert.match(chmod[0]!.command, /\/var\/lib\/kubelet\/kubelet\.key/);
});

test('every wait of the steps comes from the one table, stretched by the measured guest speed', () => {
  assert.equal(timeout({ scale: 1 }, 'unitStart'), TIMEOUTS.unitStart);
  assert.equal(timeout({ scale: 2.5 }, 'apiserverReady'), 2.5 * TIMEOUTS.apiserverReady);
  const inline: string[] = [];
  for (const dir of ['main/steps', 'main/checkers']) {
    for (const name of readdirSync(new URL(`../../${dir}`, import.meta.url))) {
      const text = readFileSync(new URL(`../../${dir}/${name}`, import.meta.url), 'utf8');
      for (const line of text.split('\n')) if (/\d_000\s*\*\s*(ctx\.timing\.)?scale|_MS\s*\*\s*ctx\.timing/.test(line)) inline.push(`${dir}/${name}: ${line.trim()}`);
    }
  }
  assert.deepEqual(inline, [], 'a wait written inline and scaled by hand');
});
