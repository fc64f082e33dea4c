import type { Drill, DrillEnv } from '../drill-types.ts';

/** The cluster domain with a typo, as a hurried edit leaves it. */
function wrongZone(env: DrillEnv): string {
  const domain = env.plan.network.clusterDomain;
  return domain.endsWith('local') ? domain.replace(/local$/, 'lcoal') : `${domain}x`;
}
const ROLLOUT = ['-n kube-system rollout restart deployment coredns', '-n kube-system rollout status deployment coredns --timeout=600s'];

function swapZone(from: (env: DrillEnv) => string, to: (env: DrillEnv) => string) {
  return (env: DrillEnv) =>
    `-n kube-system get configmap coredns -o yaml | sed 's/kubernetes ${from(env).replace(/\./g, '\\.')} in-addr/kubernetes ${to(env)} in-addr/' | ADMIN replace -f -`;
}

export const corednsCorefileBroken: Drill = {
  kind: 'drill',
  id: 'coredns-corefile-broken',
  title: 'A broken CoreDNS Corefile',
  teaches: 'how service discovery works: CoreDNS answers the cluster zone from the API, configured by its Corefile',
  story: 'After someone "tidied up" the CoreDNS configuration, pods cannot resolve service names: `nslookup kubernetes` in a pod fails. The CoreDNS pods are Running and Ready.',
  needs: { steps: ['coredns'], workers: 1 },
  fault: [
    { kind: 'kubectl', args: swapZone((env) => env.plan.network.clusterDomain, wrongZone), why: 'the kubernetes plugin now answers for a zone nobody asks for' },
    ...ROLLOUT.map((args) => ({ kind: 'kubectl' as const, args })),
  ],
  checks: [{ step: 'coredns', probe: /^a pod resolves "kubernetes"$/ }],
  hints: [
    (env) => `Ask CoreDNS directly from a pod: \`kubectl exec hardway-dns-probe -- nslookup kubernetes.default.svc.${env.plan.network.clusterDomain} ${env.plan.network.dnsServiceIp}\`. Does it answer at all, and with what?`,
    'Read its configuration: `kubectl -n kube-system get configmap coredns -o yaml`. The `kubernetes` plugin line names the zone it answers for from the API.',
    (env) => `Put the zone back to ${env.plan.network.clusterDomain} (\`kubectl -n kube-system edit configmap coredns\`), then \`kubectl -n kube-system rollout restart deployment coredns\` (or \`hardway-lab up --step coredns\`).`,
  ],
  fix: [{ kind: 'kubectl', args: swapZone(wrongZone, (env) => env.plan.network.clusterDomain) }, ...ROLLOUT.map((args) => ({ kind: 'kubectl' as const, args }))],
};
