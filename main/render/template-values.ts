// What each template under provision/ is filled with, computed from the plan for one node.
// One entry per template, listing exactly the placeholders that template uses (the engine rejects
// both missing and unused values). Lists are joined here, so templates stay loop-free.

import { API_PORT, nodesOf, type Plan, type PlannedNode } from '../plan/address-plan.ts';

export const ETCD_PEER_PORT = 2380;
export const ETCD_CLIENT_PORT = 2379;

type TemplateValues = (plan: Plan, node: PlannedNode) => Record<string, string>;

export const TEMPLATE_VALUES: Record<string, TemplateValues> = {
  'common/hosts': (plan, node) => ({
    nodeName: node.name,
    nodeSubnet: plan.network.nodeSubnet,
    nodeEntries: plan.nodes.map((n) => `${n.ip}\t${n.name}`).join('\n'),
  }),
  'common/pod-routes': (plan, node) => ({
    nodeName: node.name,
    routeLines: plan.routes
      .filter((r) => r.node === node.name)
      .map((r) => `${r.destination} via ${r.via}`)
      .join('\n'),
  }),
  'common/hardway-pod-routes.sh': () => ({}),
  'systemd/hardway-pod-routes.service': () => ({}),

  'lb/haproxy.cfg': (plan, node) => ({
    nodeName: node.name,
    apiEndpointUrl: plan.apiEndpoint.url,
    apiPort: String(API_PORT),
    apiServers: nodesOf(plan, 'controller')
      .map((c) => `server ${c.name} ${c.ip}:${API_PORT} check check-ssl verify none`)
      .join('\n'),
  }),

  'controller/kube-scheduler.yaml': () => ({}),
  'systemd/etcd.service': (plan, node) => ({
    nodeName: node.name,
    nodeIp: node.ip,
    memberCount: String(nodesOf(plan, 'controller').length),
    clusterToken: `${plan.labName}-etcd`,
    initialCluster: etcdInitialCluster(plan),
  }),
  'systemd/kube-apiserver.service': (plan, node) => ({
    nodeName: node.name,
    nodeIp: node.ip,
    apiPort: String(API_PORT),
    apiserverCount: String(nodesOf(plan, 'controller').length),
    apiEndpointUrl: plan.apiEndpoint.url,
    etcdServers: etcdServers(plan),
    serviceCidr: plan.network.serviceCidr,
  }),
  'systemd/kube-controller-manager.service': (plan, node) => ({
    nodeName: node.name,
    clusterName: plan.labName,
    podCidr: plan.network.podCidr,
    serviceCidr: plan.network.serviceCidr,
  }),
  'systemd/kube-scheduler.service': (_plan, node) => ({ nodeName: node.name }),

  'worker/kubelet-config.yaml': (plan, node) => ({
    nodeName: node.name,
    clusterPodCidr: plan.network.podCidr,
    clusterDomain: plan.network.clusterDomain,
    dnsServiceIp: plan.network.dnsServiceIp,
    podCidr: workerPodCidr(node),
  }),
  'worker/kube-proxy-config.yaml': (plan, node) => ({ nodeName: node.name, clusterPodCidr: plan.network.podCidr }),
  'worker/10-bridge.conf': (_plan, node) => ({ podCidr: workerPodCidr(node) }),
  'worker/99-loopback.conf': () => ({}),
  'worker/containerd-config.toml': (plan, node) => ({ nodeName: node.name, pauseImage: plan.images.pause }),
  'worker/crictl.yaml': (_plan, node) => ({ nodeName: node.name }),
  'worker/modules-load-kubernetes.conf': () => ({}),
  'worker/sysctl-kubernetes.conf': () => ({}),
  'systemd/containerd.service': () => ({}),
  'systemd/kubelet.service': (_plan, node) => ({ nodeName: node.name, nodeIp: node.ip }),
  'systemd/kube-proxy.service': (_plan, node) => ({ nodeName: node.name }),
};

/** `controller-0=https://10.240.0.11:2380,...`: every etcd member, for --initial-cluster. */
export function etcdInitialCluster(plan: Plan): string {
  return nodesOf(plan, 'controller')
    .map((c) => `${c.name}=https://${c.ip}:${ETCD_PEER_PORT}`)
    .join(',');
}

/** `https://10.240.0.11:2379,...`: every etcd member's client URL, for --etcd-servers. */
export function etcdServers(plan: Plan): string {
  return nodesOf(plan, 'controller')
    .map((c) => `https://${c.ip}:${ETCD_CLIENT_PORT}`)
    .join(',');
}

function workerPodCidr(node: PlannedNode): string {
  if (!node.podCidr) throw new Error(`node ${node.name} (${node.role}) has no pod CIDR; only workers get one`);
  return node.podCidr;
}

export function templateValuesFor(plan: Plan, node: PlannedNode, template: string): Record<string, string> {
  const values = TEMPLATE_VALUES[template];
  if (!values) {
    throw new Error(
      `no values are defined for template provision/${template} (planned for ${node.name}); add an entry to TEMPLATE_VALUES in main/render/template-values.ts`,
    );
  }
  return values(plan, node);
}
