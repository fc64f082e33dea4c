import type { Exercise } from '../drill-types.ts';
import { ADMIN_KUBECTL, controller, worker } from '../lab-terms.ts';

const node = worker(0);
const asAdmin = (args: string) => `${ADMIN_KUBECTL} ${args} 2>&1`;

export const drainAndUncordon: Exercise = {
  kind: 'exercise',
  id: 'drain-and-uncordon',
  title: 'Drain, cordon and uncordon a worker',
  teaches: 'taking a node out for maintenance: cordon, eviction, what happens to pods with and without a controller, and bringing the node back',
  story: (env) => `${node(env)} needs a kernel update. Empty it the way you would in production, see where its pods go, then bring it back so the cluster is whole again.`,
  needs: { steps: ['coredns', 'smoke-test'], workers: 1 },
  setup: [],
  stages: [
    {
      title: 'Drain the worker',
      task: (env) =>
        `\`kubectl drain ${node(env)} --ignore-daemonsets --delete-emptydir-data\`. It refuses a pod no controller would re-create (hardway-dns-probe): decide, and use --force to delete it. Then look at \`kubectl get pods -A -o wide\`: where did nginx and CoreDNS go?`,
      probes: [
        {
          name: 'the worker is cordoned',
          node: controller(0),
          command: (env) => asAdmin(`get node ${node(env)} -o jsonpath='{.spec.unschedulable}'`),
          expected: 'unschedulable: true',
          judge: (r) => ({ ok: r.stdout.trim() === 'true', seen: `unschedulable: ${r.stdout.trim() || 'false'}` }),
          hint: 'kubectl drain cordons first',
        },
        {
          name: 'no pod left running on it',
          node: controller(0),
          command: (env) => asAdmin(`get pods -A --field-selector spec.nodeName=${node(env)},status.phase=Running -o name`),
          expected: 'none',
          judge: (r) => ({ ok: r.code === 0 && r.stdout.trim() === '', seen: r.stdout.trim().split('\n').join(', ') || 'none' }),
          hint: 'kubectl drain evicts every pod (--force for pods without a controller)',
        },
      ],
      reference: [{ kind: 'kubectl', args: (env) => `drain ${node(env)} --ignore-daemonsets --delete-emptydir-data --force --timeout=600s` }],
    },
    {
      title: 'Bring it back',
      task: (env) =>
        `\`kubectl uncordon ${node(env)}\`. nginx and CoreDNS come back by themselves (their controllers re-create them); the pod drain deleted does not. Re-create it (\`hardway-lab up --step coredns\`, or apply the CoreDNS manifest again) and make sure every step's checker passes.`,
      steps: ['coredns', 'smoke-test'],
      probes: [
        {
          name: 'the worker takes pods again',
          node: controller(0),
          command: (env) => asAdmin(`get node ${node(env)} -o jsonpath='{.spec.unschedulable}'`),
          expected: 'unschedulable: false',
          judge: (r) => ({ ok: r.code === 0 && r.stdout.trim() === '', seen: `unschedulable: ${r.stdout.trim() || 'false'}` }),
          hint: '`kubectl uncordon`',
        },
      ],
      reference: [
        { kind: 'kubectl', args: (env) => `uncordon ${node(env)}` },
        { kind: 'kubectl', args: 'rollout status deployment nginx --timeout=600s' },
        { kind: 'kubectl', args: '-n kube-system rollout status deployment coredns --timeout=600s' },
        { kind: 'step', step: 'coredns', why: 'the bare pod that drain deleted, applied again' },
      ],
    },
  ],
  hints: [
    'Drain = cordon + evict. Pods owned by a Deployment are re-created elsewhere (or wait Pending when there is nowhere to go); a bare pod is simply gone.',
    'With one worker, every evicted pod waits Pending until the node is back: during the maintenance, the cluster has no DNS. With two, they move.',
    (env) => `\`kubectl uncordon ${node(env)}\`, then \`hardway-lab check\` tells you what is still missing.`,
  ],
  cleanup: [{ kind: 'kubectl', args: (env) => `uncordon ${node(env)}` }, { kind: 'step', step: 'coredns' }],
};
