// Checkers that ask Kubernetes itself (steps 10, 12, 13), from kubectl's JSON output.

import type { Plan } from '../plan/address-plan.ts';
import type { Probe } from '../engine/engine-types.ts';
import { brief, probe } from './probe.ts';
import { versionNumber } from './workers.ts';

export interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

const said = (o: CommandOutcome) => brief((o.stderr || o.stdout).trim(), 200);

interface NodeList {
  items: { metadata: { name: string }; status: { conditions?: { type: string; status: string }[]; addresses?: { type: string; address: string }[] } }[];
}

export function adminAccessProbes(plan: Plan, facts: { kubeconfigServer?: string; version: CommandOutcome; nodes: CommandOutcome }): Probe[] {
  const probes: Probe[] = [];
  probes.push(
    probe({
      name: 'admin kubeconfig uses the load balancer',
      ok: facts.kubeconfigServer === plan.apiEndpoint.url,
      expected: plan.apiEndpoint.url,
      seen: facts.kubeconfigServer ?? 'no server',
      hint: 'run `hardway-lab render` to write kubeconfigs/admin.kubeconfig again',
    }),
  );
  let serverVersion: string | undefined;
  try {
    serverVersion = (JSON.parse(facts.version.stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion?.gitVersion;
  } catch {
    serverVersion = undefined;
  }
  probes.push(
    probe({
      name: 'kubectl reaches the API via the LB',
      ok: facts.version.code === 0 && versionNumber(serverVersion ?? '') === plan.versions.kubernetes,
      expected: `server v${plan.versions.kubernetes} answers at ${plan.apiEndpoint.url}`,
      seen: serverVersion ? `server ${serverVersion}` : said(facts.version),
      hint: 'check the load balancer (`hardway-lab check load-balancer`) and that the host reaches the lab network',
    }),
  );
  let nodes: NodeList | undefined;
  try {
    nodes = JSON.parse(facts.nodes.stdout) as NodeList;
  } catch {
    nodes = undefined;
  }
  for (const worker of plan.nodes.filter((n) => n.role === 'worker')) {
    const item = nodes?.items.find((i) => i.metadata.name === worker.name);
    const ready = item?.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const internal = item?.status.addresses?.find((a) => a.type === 'InternalIP')?.address;
    probes.push(
      probe({
        name: 'node registered and Ready',
        node: worker.name,
        ok: ready,
        expected: `${worker.name} Ready`,
        seen: item ? (ready ? 'Ready' : 'NotReady') : nodes ? 'not registered' : said(facts.nodes),
        hint: `on ${worker.name}: \`journalctl -u kubelet -n 50\` (CNI config? containerd? its kubeconfig?); \`hardway-lab up --step workers\``,
      }),
    );
    probes.push(
      probe({
        name: 'node INTERNAL-IP is its lab address',
        node: worker.name,
        ok: internal === worker.ip,
        expected: worker.ip,
        seen: internal ?? 'none',
        hint: `the kubelet registered another address (a NAT NIC?), so \`kubectl logs/exec\` will fail: the kubelet must run with --node-ip=${worker.ip} (the lab's kubelet.service does); \`hardway-lab up --step workers\``,
      }),
    );
  }
  return probes;
}

export function corednsProbes(plan: Plan, facts: { deployment: CommandOutcome; service: CommandOutcome; lookup: CommandOutcome }): Probe[] {
  const probes: Probe[] = [];
  let available = 0;
  let wanted = 0;
  try {
    const d = JSON.parse(facts.deployment.stdout) as { spec?: { replicas?: number }; status?: { availableReplicas?: number } };
    available = d.status?.availableReplicas ?? 0;
    wanted = d.spec?.replicas ?? 0;
  } catch {
    available = 0;
  }
  probes.push(
    probe({
      name: 'coredns deployment available',
      ok: wanted > 0 && available === wanted,
      expected: 'every replica available',
      seen: facts.deployment.code === 0 ? `${available} of ${wanted} available` : said(facts.deployment),
      hint: '`kubectl -n kube-system describe deployment coredns`: an image that cannot be pulled needs the image in the artifacts\' images/ (air-gapped) or registry access from the workers',
    }),
  );
  let clusterIp: string | undefined;
  try {
    clusterIp = (JSON.parse(facts.service.stdout) as { spec?: { clusterIP?: string } }).spec?.clusterIP;
  } catch {
    clusterIp = undefined;
  }
  probes.push(
    probe({
      name: 'kube-dns service address',
      ok: clusterIp === plan.network.dnsServiceIp,
      expected: `${plan.network.dnsServiceIp} (the kubelets' clusterDNS)`,
      seen: clusterIp ?? said(facts.service),
      hint: 'run `hardway-lab up --step coredns`; pods look up names at the address in their resolv.conf',
    }),
  );
  const lookup = facts.lookup.stdout;
  const resolves = facts.lookup.code === 0 && lookup.includes(plan.network.apiServiceIp);
  probes.push(
    probe({
      name: 'a pod resolves "kubernetes"',
      ok: resolves,
      expected: `nslookup kubernetes → ${plan.network.apiServiceIp}`,
      seen: resolves ? `${plan.network.apiServiceIp}` : said(facts.lookup),
      hint: 'pods reach CoreDNS through kube-proxy and the pod routes: check `hardway-lab check pod-routes` and `kubectl -n kube-system logs deploy/coredns`',
    }),
  );
  return probes;
}

export const ENCRYPTED_PREFIX = 'k8s:enc:aescbc:v1:key1:';

export interface SmokeFacts {
  etcdValueHead: CommandOutcome;
  deployment: CommandOutcome;
  portForward: { ok: boolean; seen: string };
  logs: CommandOutcome;
  exec: CommandOutcome;
  nodePort: { ok: boolean; seen: string; url: string };
  viaLb: CommandOutcome;
  askedFrom: string;
}

export function smokeProbes(plan: Plan, f: SmokeFacts): Probe[] {
  const head = f.etcdValueHead.stdout;
  let available = false;
  try {
    available = ((JSON.parse(f.deployment.stdout) as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? []).some(
      (c) => c.type === 'Available' && c.status === 'True',
    );
  } catch {
    available = false;
  }
  return [
    probe({
      name: 'secret encrypted at rest',
      node: f.askedFrom,
      ok: head.startsWith(ENCRYPTED_PREFIX),
      expected: `the value in etcd starts with ${ENCRYPTED_PREFIX}`,
      seen: head ? JSON.stringify(head.slice(0, ENCRYPTED_PREFIX.length)) : said(f.etcdValueHead),
      hint: 'the API server writes secrets in plain text: it needs --encryption-provider-config (`hardway-lab check encryption-config`); secrets written before that stay plain until rewritten',
    }),
    probe({
      name: 'deployment available',
      ok: available,
      expected: 'nginx Available',
      seen: available ? 'Available' : said(f.deployment),
      hint: '`kubectl describe deployment nginx` and the pod events: an image pull failure needs registry access or the image in the artifacts',
    }),
    probe({ name: 'port-forward', ok: f.portForward.ok, expected: 'HTTP 200 through kubectl port-forward', seen: f.portForward.seen, hint: 'port-forward goes API server → kubelet: check `hardway-lab check rbac` and the nodes\' INTERNAL-IP' }),
    probe({ name: 'logs', ok: f.logs.code === 0, expected: '`kubectl logs` answers', seen: f.logs.code === 0 ? 'ok' : said(f.logs), hint: 'logs go API server → kubelet: check `hardway-lab check rbac`' }),
    probe({
      name: 'exec',
      ok: f.exec.code === 0 && /nginx version/.test(f.exec.stdout + f.exec.stderr),
      expected: '`kubectl exec ... nginx -v` prints the version',
      seen: brief(f.exec.stdout + f.exec.stderr, 120),
      hint: 'exec goes API server → kubelet: check `hardway-lab check rbac`',
    }),
    probe({ name: 'NodePort reachable', ok: f.nodePort.ok, expected: `HTTP 200 from ${f.nodePort.url}`, seen: f.nodePort.seen, hint: 'kube-proxy programs NodePorts: `hardway-lab check workers`, and `iptables -t nat -S KUBE-NODEPORTS` on the worker' }),
    probe({
      name: 'API via the load balancer',
      ok: f.viaLb.code === 0,
      expected: `kubectl through ${plan.apiEndpoint.url}`,
      seen: f.viaLb.code === 0 ? 'ok' : said(f.viaLb),
      hint: '`hardway-lab check load-balancer`',
    }),
  ];
}
