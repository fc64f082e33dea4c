// What the facts scripts print on a real, healthy lab, captured into test/unit/golden/ so the
// checkers' unit tests judge real outputs, not hand-written ones. Used by scripts/capture-golden.ts
// (against a developer's lab) and by the hard-way story when HWL_CAPTURE_GOLDEN=1 (right after its
// lab is all green). Every file is one script's output on one node, named SCRIPT@NODE.txt; keys and
// tokens never appear in these outputs (read-files.sh, which carries key material, is not captured).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../main/plan/address-plan.ts';
import type { SshPool } from '../../main/ssh/ssh-pool.ts';
import { provisionScript } from '../../main/engine/shell.ts';
import { etcdEndpoints } from '../../main/steps/etcd.ts';
import { computeFactsArgs } from '../../main/checkers/compute-facts.ts';

export const GOLDEN_DIR = new URL('../unit/golden/', import.meta.url).pathname;

export async function captureGolden(plan: Plan, pool: SshPool, dir = GOLDEN_DIR): Promise<string[]> {
  const endpoints = etcdEndpoints({ plan });
  const first = (role: string) => plan.nodes.find((n) => n.role === role)!;
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const workers = plan.nodes.filter((n) => n.role === 'worker');
  const controller = first('controller').name;
  const captures: { script: string; node: string; args: string[]; include?: string[] }[] = [
    { script: 'checks/etcd-cluster-facts.sh', node: controller, args: [endpoints, '15'] },
    ...controllers.map((c) => ({ script: 'checks/etcd-member-facts.sh', node: c.name, args: [c.ip] })),
    ...controllers.map((c) => ({ script: 'checks/control-plane-facts.sh', node: c.name, args: [], include: ['checks/lib-unit-health.sh', 'checks/lib-apiserver.sh'] })),
    { script: 'checks/rbac-facts.sh', node: controller, args: ['kube-apiserver-kubelet-client'] },
    { script: 'checks/secrets-at-rest.sh', node: controller, args: [endpoints] },
    ...workers.map((w) => ({ script: 'checks/worker-facts.sh', node: w.name, args: [], include: ['checks/lib-unit-health.sh'] })),
    { script: 'checks/haproxy-facts.sh', node: first('lb').name, args: ['6443', ...controllers.map((n) => n.ip)] },
    { script: 'checks/compute-facts.sh', node: first('worker').name, args: computeFactsArgs(plan) },
  ];
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const c of captures) {
    const text = [...(c.include ?? []).map(provisionScript), provisionScript(c.script)].join('\n');
    const result = await pool.exec(c.node, `bash -s -- ${c.args.map((a) => `'${a}'`).join(' ')}`, { stdin: text, timeoutMs: 600_000 });
    const name = `${c.script.replace(/^checks\//, '').replace(/\.sh$/, '')}@${c.node}.txt`;
    writeFileSync(join(dir, name), result.stdout);
    written.push(`${name}: ${result.stdout.length} bytes (exit ${result.code})`);
  }
  return written;
}
