// Every certificate of the lab: who it names (CN/O are what RBAC sees), where it is valid
// (SANs) and what it may do (EKU). The PKI module issues exactly this list.

import type { Plan } from './address-plan.ts';

export type KeyUsagePurpose = 'serverAuth' | 'clientAuth';

export interface CertificatePlan {
  /** File stem in the lab's pki/ directory: `<id>.crt` and `<id>.key`. */
  id: string;
  kind: 'ca' | 'leaf' | 'keypair';
  commonName: string;
  organization?: string;
  dnsNames: string[];
  ipAddresses: string[];
  usages: KeyUsagePurpose[];
  /** Which node(s) it belongs to, when it is per node. */
  node?: string;
  purpose: string;
}

export function planCertificates(plan: Plan): CertificatePlan[] {
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const workers = plan.nodes.filter((n) => n.role === 'worker');
  const lb = plan.nodes.find((n) => n.role === 'lb');
  const domain = plan.network.clusterDomain;
  const leaf = (c: Omit<CertificatePlan, 'kind'>): CertificatePlan => ({ kind: 'leaf', ...c });

  return [
    {
      id: 'ca',
      kind: 'ca',
      commonName: 'Hardway Lab CA',
      organization: 'Hardway Lab',
      dnsNames: [],
      ipAddresses: [],
      usages: [],
      purpose: 'signs every certificate of the lab',
    },
    leaf({
      id: 'admin',
      commonName: 'admin',
      organization: 'system:masters',
      dnsNames: [],
      ipAddresses: [],
      usages: ['clientAuth'],
      purpose: 'kubectl as cluster admin (group system:masters)',
    }),
    ...workers.map((w) =>
      leaf({
        id: `kubelet-${w.name}`,
        commonName: `system:node:${w.name}`,
        organization: 'system:nodes',
        dnsNames: [w.name],
        ipAddresses: [w.ip],
        usages: ['serverAuth', 'clientAuth'],
        node: w.name,
        purpose: `kubelet on ${w.name}: its identity for the Node authorizer and its serving certificate`,
      }),
    ),
    leaf({
      id: 'kube-proxy',
      commonName: 'system:kube-proxy',
      organization: 'system:node-proxier',
      dnsNames: [],
      ipAddresses: [],
      usages: ['clientAuth'],
      purpose: 'kube-proxy on every worker',
    }),
    leaf({
      id: 'kube-controller-manager',
      commonName: 'system:kube-controller-manager',
      organization: 'system:kube-controller-manager',
      dnsNames: [],
      ipAddresses: [],
      usages: ['clientAuth'],
      purpose: 'kube-controller-manager talking to the API server',
    }),
    leaf({
      id: 'kube-scheduler',
      commonName: 'system:kube-scheduler',
      organization: 'system:kube-scheduler',
      dnsNames: [],
      ipAddresses: [],
      usages: ['clientAuth'],
      purpose: 'kube-scheduler talking to the API server',
    }),
    leaf({
      id: 'kube-apiserver',
      commonName: 'kubernetes',
      organization: 'Kubernetes',
      dnsNames: [
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        `kubernetes.default.svc.${domain.split('.')[0]}`,
        `kubernetes.default.svc.${domain}`,
        ...controllers.map((c) => c.name),
        ...(lb ? [lb.name] : []),
      ].filter(unique),
      ipAddresses: [plan.network.apiServiceIp, '127.0.0.1', ...(lb ? [lb.ip] : []), ...controllers.map((c) => c.ip)].filter(unique),
      usages: ['serverAuth'],
      purpose: 'the API server\'s serving certificate, valid for the service IP, the LB and every controller',
    }),
    leaf({
      id: 'apiserver-kubelet-client',
      commonName: 'kube-apiserver-kubelet-client',
      dnsNames: [],
      ipAddresses: [],
      usages: ['clientAuth'],
      purpose: 'the API server talking to kubelets (logs, exec, port-forward)',
    }),
    leaf({
      id: 'apiserver-etcd-client',
      commonName: 'kube-apiserver-etcd-client',
      dnsNames: [],
      ipAddresses: [],
      usages: ['clientAuth'],
      purpose: 'the API server talking to etcd',
    }),
    ...controllers.map((c) =>
      leaf({
        id: `etcd-${c.name}`,
        commonName: `etcd-${c.name}`,
        dnsNames: [c.name, 'localhost'],
        ipAddresses: [c.ip, '127.0.0.1'],
        // Peers present this certificate as clients too: without clientAuth they fail to join.
        usages: ['serverAuth', 'clientAuth'],
        node: c.name,
        purpose: `etcd member on ${c.name}: server and peer certificate`,
      }),
    ),
    {
      id: 'service-accounts',
      kind: 'keypair',
      commonName: 'service-accounts',
      dnsNames: [],
      ipAddresses: [],
      usages: [],
      purpose: 'signs and verifies service-account tokens',
    },
  ];
}

function unique<T>(value: T, index: number, all: T[]): boolean {
  return all.indexOf(value) === index;
}
