import type { Drill, DrillEnv } from '../drill-types.ts';
import { renderTemplate } from '../../render/template.ts';

/** The user the API server presents to kubelets (the CN of its kubelet-client certificate). */
function kubeletClientUser(env: DrillEnv): string {
  return env.plan.certificates.find((c) => c.id === 'apiserver-kubelet-client')!.commonName;
}

export const apiserverKubeletRbacRemoved: Drill = {
  kind: 'drill',
  id: 'apiserver-kubelet-rbac-removed',
  title: 'The API server → kubelet RBAC removed',
  teaches:
    'that the kubelet asks the API server (webhook authorization) whether the API server itself may use the kubelet API, for logs, exec and port-forward, and caches the answer (5 minutes for a yes)',
  story: 'A cleanup script ran against the cluster a few minutes ago. Since then `kubectl get pods` works, but `kubectl logs` and `kubectl exec` fail with Forbidden. Nobody changed a pod.',
  needs: { steps: ['rbac', 'smoke-test'], workers: 1 },
  fault: [{ kind: 'kubectl', args: 'delete clusterrolebinding system:kube-apiserver --ignore-not-found', why: 'a cleanup script that removed bindings it did not know' }],
  checks: [
    { step: 'rbac', probe: /may get nodes\/proxy$/ },
    { step: 'smoke-test', probe: /^logs$/ },
  ],
  // The kubelet caches an allowed answer for 5 minutes (authorization.webhook.cacheAuthorizedTTL):
  // logs and exec keep working that long after the binding is gone.
  showsWithinSeconds: 330,
  hints: [
    'Read the whole error: who is forbidden, and on which resource? It is not you: logs and exec go through the API server to the kubelet, which asks the API server whether that user may (and remembers a yes for 5 minutes, so the failure came late).',
    (env) => `\`kubectl auth can-i get nodes --subresource=proxy --as ${kubeletClientUser(env)}\`. Which ClusterRoleBinding gives that user the kubelet API? \`kubectl get clusterrolebindings -o wide | grep kubelet\`.`,
    (env) =>
      `Re-create it: \`kubectl create clusterrolebinding system:kube-apiserver --clusterrole=system:kube-apiserver-to-kubelet --user=${kubeletClientUser(env)}\` (or \`hardway-lab up --step rbac\`).`,
  ],
  fix: [
    {
      kind: 'kubectl',
      args: 'apply -f -',
      stdin: (env) => renderTemplate('steps/apiserver-to-kubelet-rbac.yaml', { kubeletClientUser: kubeletClientUser(env) }),
    },
  ],
};
