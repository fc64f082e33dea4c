import type { Drill } from '../drill-types.ts';
import { controller } from '../lab-terms.ts';

export const schedulerStopped: Drill = {
  kind: 'drill',
  id: 'scheduler-stopped',
  title: 'The scheduler stopped everywhere',
  teaches: 'what the scheduler does (it only binds pods to nodes), its leader lease, and what a pod no scheduler saw looks like',
  story: 'New pods stay Pending forever, without a node and without a single event, not even a FailedScheduling. Everything that was running keeps running.',
  needs: { steps: ['control-plane'], controllers: 1 },
  fault: [
    { kind: 'run', node: { each: 'controller' }, command: 'systemctl stop kube-scheduler' },
    {
      kind: 'kubectl',
      args: (env) => `run hardway-drill-pending --image=${env.plan.images.busybox} --image-pull-policy=IfNotPresent --restart=Never --dry-run=client -o yaml --command -- sleep 3600 | ADMIN apply -f -`,
      why: 'a pod to place',
    },
  ],
  checks: [{ step: 'control-plane', probe: /^kube-scheduler lease held$/ }],
  symptoms: [
    {
      name: 'the new pod was never looked at by a scheduler',
      node: controller(0),
      command: "kubectl --kubeconfig /root/admin.kubeconfig get pod hardway-drill-pending -o jsonpath='{.status.phase} node={.spec.nodeName} scheduled={.status.conditions[?(@.type==\"PodScheduled\")].status}'",
      expected: 'Pending, no node, no PodScheduled condition',
      judge: (r) => ({ ok: /^Pending node= scheduled=$/.test(r.stdout.trim()), seen: r.stdout.trim() || r.stderr.trim() }),
      hint: 'a scheduler placed the pod or judged it',
    },
  ],
  hints: [
    '`kubectl describe pod hardway-drill-pending`: no events at all means no scheduler ever looked at it (a FailedScheduling event would say why it did not fit). Which component assigns pods to nodes?',
    '`kubectl -n kube-system get lease kube-scheduler -o yaml`: who holds it, and when was it renewed last? Then `systemctl status kube-scheduler` on the controllers.',
    '`systemctl start kube-scheduler` on every controller: one takes the lease, and the Pending pods get a node (or a FailedScheduling event that says why not).',
  ],
  fix: [{ kind: 'run', node: { each: 'controller' }, command: 'systemctl start kube-scheduler' }],
  cleanup: [{ kind: 'kubectl', args: 'delete pod hardway-drill-pending --ignore-not-found --wait=false' }],
  showsWithinSeconds: 120,
};
