// Parsing what the dashboard's status sweep reads from a node: systemctl's unit states, where a
// unit not installed yet must not look like a stopped one; and etcd as the etcd checker sees it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectLabStatus, unitStates } from '../../main/api/lab-status.ts';
import { nodeComponents } from '../../main/api/lab-service.ts';
import { etcdProbes } from '../../main/checkers/etcd-cluster.ts';
import { provisionScript } from '../../main/engine/shell.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { defaultSpecText, parseSpec } from '../../main/spec/parse-spec.ts';

test('systemctl show blocks become unit states; a missing unit file is "not installed"', () => {
  const output = [
    'Id=etcd.service',
    'ActiveState=active',
    'LoadState=loaded',
    '',
    'LoadState=not-found',
    'ActiveState=inactive',
    'Id=kube-apiserver.service',
    '',
    'Id=kube-scheduler.service',
    'LoadState=loaded',
    'ActiveState=failed',
    '',
  ].join('\n');
  const states = unitStates(output);
  assert.equal(states.get('etcd'), 'active');
  assert.equal(states.get('kube-apiserver'), 'not installed');
  assert.equal(states.get('kube-scheduler'), 'failed');
  assert.equal(states.get('kube-controller-manager'), undefined);
  assert.equal(unitStates('').size, 0);
});

test("the dashboard's etcd card reads the etcd checker's facts script, and agrees with the checker on the same answer", async () => {
  const plan = buildPlan(parseSpec(defaultSpecText(), 't.yaml', { hostMemoryMiB: 256 * 1024 }).spec);
  const answer = readFileSync(new URL('./golden/etcd-cluster-facts@controller-0.txt', import.meta.url), 'utf8');
  const asked: { node: string; command: string; stdin?: string }[] = [];
  // What three controllers answered on a real lab: every unit active, and etcd-cluster-facts.sh's
  // output as captured (test/unit/golden/).
  const exec = async (node: string, command: string, options: { timeoutMs: number; stdin?: string }) => {
    asked.push({ node, command, stdin: options.stdin });
    if (options.stdin?.includes('etcdctl')) return { code: 0, stdout: answer, stderr: '' };
    const units = /systemctl show .*/.exec(command)?.[0].split(' ').filter((w) => w.endsWith('.service')) ?? [];
    return { code: 0, stdout: `@@hwl@@units\n${units.map((u) => `Id=${u}\nLoadState=loaded\nActiveState=active\n`).join('\n')}`, stderr: '' };
  };
  const paths = labPaths(mkdtempSync(join(tmpdir(), 'hwl-status-')));
  const status = await collectLabStatus({ plan, paths, exec, components: nodeComponents, sshOverride: true });
  const etcdAsk = asked.find((a) => a.stdin?.includes('etcdctl'))!;
  assert.equal(etcdAsk.stdin, provisionScript('checks/etcd-cluster-facts.sh'), 'the checker\'s own script');
  assert.match(etcdAsk.command, /^bash -s -- https:\/\/10\.240\.0\.11:2379,https:\/\/10\.240\.0\.12:2379,https:\/\/10\.240\.0\.13:2379 \d+$/);
  assert.equal(status.etcd.health, 'ok', status.etcd.detail);
  assert.equal(status.etcd.leader, 'controller-0');
  assert.deepEqual(status.etcd.members.map((m) => [m.name, m.healthy]), [['controller-0', true], ['controller-1', true], ['controller-2', true]]);
  // The checker, on the same answer, sees the same cluster.
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const members = controllers.map((n) => ({ node: n, output: readFileSync(new URL(`./golden/etcd-member-facts@${n.name}.txt`, import.meta.url), 'utf8') }));
  const probes = etcdProbes(plan, members, { askedFrom: 'controller-0', output: answer });
  assert.match(probes.find((p) => p.name === 'exactly one leader')!.seen, new RegExp(`${status.etcd.leader} leads \\(3 of 3 members answered`));
});
