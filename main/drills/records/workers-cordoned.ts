import type { Drill } from '../drill-types.ts';
import { controller, workers } from '../lab-terms.ts';

export const workersCordoned: Drill = {
  kind: 'drill',
  id: 'workers-cordoned',
  title: 'Workers cordoned, with pods to place',
  teaches: 'cordon: a Ready node that takes no new pods, and how to read a FailedScheduling event',
  story: 'The nginx deployment was scaled to 2 replicas for a demo, but the new pod has stayed Pending for minutes. `kubectl get nodes` says every node is Ready.',
  needs: { steps: ['smoke-test'], workers: 1 },
  fault: [
    { kind: 'kubectl', args: (env) => `cordon ${workers(env).join(' ')}`, why: 'maintenance that was never finished' },
    { kind: 'kubectl', args: 'scale deployment nginx --replicas=2' },
  ],
  checks: [{ step: 'smoke-test', probe: /^deployment available$/ }],
  symptoms: [
    {
      name: 'a pod is Pending: the nodes are unschedulable',
      node: controller(0),
      command: "kubectl --kubeconfig /root/admin.kubeconfig get events --field-selector reason=FailedScheduling -o jsonpath='{range .items[*]}{.message}{\"\\n\"}{end}' | tail -n 1",
      expected: 'FailedScheduling: … unschedulable …',
      judge: (r) => ({ ok: /unschedulable/.test(r.stdout), seen: r.stdout.trim().slice(0, 160) || 'no FailedScheduling event yet' }),
      hint: 'no FailedScheduling event (yet)',
    },
  ],
  hints: [
    '`kubectl describe pod` on the Pending one: read its FailedScheduling event word for word.',
    '`kubectl get nodes`: look at STATUS again. "Ready,SchedulingDisabled" is a cordoned node: Ready, but closed to new pods (the ones already there stay).',
    (env) => `\`kubectl uncordon ${workers(env).join(' ')}\`: the scheduler places the Pending pod at once.`,
  ],
  fix: [{ kind: 'kubectl', args: (env) => `uncordon ${workers(env).join(' ')}` }, { kind: 'kubectl', args: 'rollout status deployment nginx --timeout=600s' }],
  cleanup: [{ kind: 'kubectl', args: 'scale deployment nginx --replicas=1' }, { kind: 'kubectl', args: 'rollout status deployment nginx --timeout=600s' }],
  showsWithinSeconds: 120,
};
