import type { Drill, DrillEnv } from '../drill-types.ts';
import { controller } from '../lab-terms.ts';

/** An address in the service range that is not the DNS service's. */
const wrongDns = (env: DrillEnv) => env.plan.network.dnsServiceIp.replace(/\d+$/, (last) => String(Number(last) === 53 ? 54 : 53));
const RECREATE_PROBE = [
  'get pod hardway-dns-probe -o yaml | ADMIN replace --force -f -',
  'wait --for=condition=Ready pod/hardway-dns-probe --timeout=600s',
];

export const kubeletWrongClusterDns: Drill = {
  kind: 'drill',
  id: 'kubelet-wrong-cluster-dns',
  title: 'A wrong clusterDNS in the kubelet config',
  teaches: 'who writes a pod\'s /etc/resolv.conf (the kubelet, from clusterDNS), and why old pods keep working',
  story: 'After a change to the kubelets\' configuration, pods created since then cannot resolve any name: `nslookup kubernetes` in them times out. CoreDNS itself is healthy.',
  needs: { steps: ['coredns'], workers: 1 },
  fault: [
    { kind: 'run', node: { each: 'worker' }, command: (env) => `sed -i 's/^  - ${env.plan.network.dnsServiceIp.replace(/\./g, '\\.')}$/  - ${wrongDns(env)}/' /var/lib/kubelet/kubelet-config.yaml && systemctl restart kubelet && sleep 15` },
    ...RECREATE_PROBE.map((args) => ({ kind: 'kubectl' as const, args, why: 'a pod created after the change' })),
  ],
  checks: [
    { step: 'workers', probe: /kubelet-config\.yaml as planned$/ },
    { step: 'coredns', probe: /^a pod resolves "kubernetes"$/ },
  ],
  symptoms: [
    {
      name: 'the new pod\'s resolv.conf names another server',
      node: controller(0),
      command: 'kubectl --kubeconfig /root/admin.kubeconfig exec hardway-dns-probe -- cat /etc/resolv.conf 2>&1',
      expected: 'nameserver ≠ the kube-dns service address',
      judge: (r, env) => ({ ok: r.code === 0 && !r.stdout.includes(`nameserver ${env.plan.network.dnsServiceIp}`), seen: (/nameserver .*/.exec(r.stdout)?.[0] ?? r.stdout.trim()).slice(0, 120) }),
      hint: 'the pod still has the right nameserver',
    },
  ],
  hints: [
    'Compare /etc/resolv.conf inside a new pod (`kubectl exec hardway-dns-probe -- cat /etc/resolv.conf`) with the kube-dns service address (`kubectl -n kube-system get svc kube-dns`).',
    'The kubelet writes each pod\'s resolv.conf when it creates the pod, from `clusterDNS` in /var/lib/kubelet/kubelet-config.yaml on its worker. Pods created earlier keep what they got.',
    (env) => `Set clusterDNS back to ${env.plan.network.dnsServiceIp} in /var/lib/kubelet/kubelet-config.yaml on every worker (or \`hardway-lab up --step workers\`), \`systemctl restart kubelet\`, then re-create the pods made meanwhile: \`kubectl get pod hardway-dns-probe -o yaml | kubectl replace --force -f -\`.`,
  ],
  fix: [
    { kind: 'lab-file', node: { each: 'worker' }, path: '/var/lib/kubelet/kubelet-config.yaml', then: 'systemctl restart kubelet && sleep 15' },
    ...RECREATE_PROBE.map((args) => ({ kind: 'kubectl' as const, args })),
  ],
};
