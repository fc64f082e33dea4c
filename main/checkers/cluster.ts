// Checkers that ask Kubernetes itself (steps admin-access, coredns and smoke-test), from kubectl's JSON output.

import type { Plan } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { brief, probe } from './probe.ts';
import { versionNumber } from './workers.ts';

export interface CommandOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

const said = (o: CommandOutcome) => brief((o.stderr || o.stdout).trim(), 200);

/** A node as `kubectl get nodes -o json` shows it: what the checkers, the steps and the dashboard read. */
export interface KubeNodeFacts {
  name: string;
  ready: boolean;
  internalIp?: string;
}

/** `kubectl get nodes -o json` → its nodes; undefined when the output is not a node list. */
export function parseNodeList(stdout: string): KubeNodeFacts[] | undefined {
  type Item = { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[]; addresses?: { type: string; address: string }[] } };
  let items: Item[];
  try {
    items = (JSON.parse(stdout) as { items: Item[] }).items;
  } catch {
    return undefined;
  }
  if (!Array.isArray(items)) return undefined;
  return items.map((i) => ({
    name: i.metadata.name,
    ready: i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
    internalIp: i.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
  }));
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
  const nodes = parseNodeList(facts.nodes.stdout);
  for (const worker of plan.nodes.filter((n) => n.role === 'worker')) {
    const item = nodes?.find((i) => i.name === worker.name);
    const ready = item?.ready ?? false;
    const internal = item?.internalIp;
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
      hint:
        wanted === 0 && facts.deployment.code === 0
          ? 'coredns is scaled to 0: `kubectl -n kube-system scale deployment coredns --replicas=2`, or `hardway-lab up --step coredns`'
          : `\`kubectl -n kube-system describe deployment coredns\` and its pods' events: the image ${plan.images.coredns} must be imported on the workers (\`hardway-lab check workers\`); \`hardway-lab up --step coredns\``,
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
  const answer = nslookupAnswer(facts.lookup.stdout, `kubernetes.default.svc.${plan.network.clusterDomain}`);
  const resolves = answer === plan.network.apiServiceIp;
  probes.push(
    probe({
      name: 'a pod resolves "kubernetes"',
      ok: resolves,
      expected: `nslookup kubernetes → kubernetes.default.svc.${plan.network.clusterDomain} ${plan.network.apiServiceIp}`,
      seen: resolves ? `${plan.network.apiServiceIp}` : answer ? `answered ${answer}` : said(facts.lookup),
      hint: 'pods reach CoreDNS through kube-proxy and the pod routes: check `hardway-lab check pod-routes` and `kubectl -n kube-system logs deploy/coredns`',
    }),
  );
  return probes;
}

/**
 * The address busybox's nslookup printed for `name` ("Name: NAME" then "Address: IP"). Its exit
 * code is no help: busybox 1.35 asks every search domain and exits 1 when one has no answer, even
 * after printing the right one.
 */
export function nslookupAnswer(output: string, name: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trim());
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === `Name:\t${name}` || lines[i]!.replace(/\s+/g, ' ') === `Name: ${name}`) {
      const address = /^Address(?: \d+)?:\s*([0-9.]+)/.exec(lines[i + 1] ?? '');
      if (address) return address[1];
    }
  }
  return undefined;
}

export const ENCRYPTED_PREFIX = 'k8s:enc:aescbc:v1:key1:';

/** secrets-at-rest.sh: `KEY PREFIX` per secret in etcd. */
export function plainSecrets(output: string): { keys: number; plain: string[]; error?: string } {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => l.startsWith('ERROR '));
  if (error) return { keys: 0, plain: [], error: error.slice(6) };
  const entries = lines.map((l) => [l.slice(0, l.indexOf(' ') < 0 ? l.length : l.indexOf(' ')), l.indexOf(' ') < 0 ? '' : l.slice(l.indexOf(' ') + 1)] as const);
  return {
    keys: entries.length,
    plain: entries.filter(([, prefix]) => !prefix.startsWith(ENCRYPTED_PREFIX)).map(([key]) => key.replace(/^\/registry\/secrets\//, '')),
  };
}

export interface SmokeFacts {
  etcdValueHead: CommandOutcome;
  /** secrets-at-rest.sh output: every secret's stored prefix. */
  secretsAtRest: CommandOutcome;
  deployment: CommandOutcome;
  portForward: { ok: boolean; seen: string };
  logs: CommandOutcome;
  exec: CommandOutcome;
  nodePorts: { node: string; ok: boolean; seen: string; url: string }[];
  viaLb: CommandOutcome;
  nodes: CommandOutcome;
  askedFrom: string;
}

/** A kubectl failure the API server → kubelet RBAC explains. */
function rbacDenied(o: CommandOutcome): boolean {
  return /Forbidden|forbidden/.test(o.stderr + o.stdout) && /kubelet|nodes\/proxy|proxy/.test(o.stderr + o.stdout);
}

const RBAC_HINT = 'the kubelet refuses the API server (Forbidden): its kubelet-client user needs the nodes/proxy ClusterRole binding — `hardway-lab check rbac`, then `hardway-lab up --step rbac`';

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
  const atRest = plainSecrets(f.secretsAtRest.stdout);
  const execOk = f.exec.code === 0 && /nginx version/.test(f.exec.stdout + f.exec.stderr);
  const probes: Probe[] = [
    probe({
      name: 'secret encrypted at rest',
      node: f.askedFrom,
      ok: head.startsWith(ENCRYPTED_PREFIX),
      expected: `the value of default/kubernetes-the-hard-way in etcd starts with ${ENCRYPTED_PREFIX}`,
      seen: head ? JSON.stringify(head.slice(0, ENCRYPTED_PREFIX.length)) : said(f.etcdValueHead),
      hint: 'the API server writes secrets in plain text: it needs --encryption-provider-config (`hardway-lab check encryption-config`, `hardway-lab check control-plane`); `hardway-lab up --step smoke-test` rewrites it',
    }),
    probe({
      name: 'every secret encrypted at rest',
      node: f.askedFrom,
      ok: !atRest.error && f.secretsAtRest.code === 0 && atRest.plain.length === 0,
      expected: `every value under /registry/secrets/ starts with ${ENCRYPTED_PREFIX}`,
      seen: atRest.error ? `etcdctl: ${atRest.error}` : f.secretsAtRest.code !== 0 ? said(f.secretsAtRest) : atRest.plain.length === 0 ? `${atRest.keys} secret${atRest.keys === 1 ? '' : 's'}, all encrypted` : `stored in plain text: ${atRest.plain.join(', ')}`,
      hint: 'a secret written while an API server ran without --encryption-provider-config stays plain until it is written again: fix the API servers (`hardway-lab check control-plane`), then `kubectl get secrets -A -o json | kubectl replace -f -` (`hardway-lab up --step smoke-test` does it)',
    }),
    probe({
      name: 'deployment available',
      ok: available,
      expected: 'nginx Available',
      seen: available ? 'Available' : said(f.deployment),
      hint: `\`kubectl describe deployment nginx\` and the pod events: the image ${plan.images.nginx} must be imported on the workers (\`hardway-lab check workers\`); a Pending pod with no node means no scheduler leads (\`hardway-lab check control-plane\`)`,
    }),
    probe({
      name: 'port-forward',
      ok: f.portForward.ok,
      expected: 'HTTP 200 through kubectl port-forward',
      seen: f.portForward.seen,
      hint: /Forbidden|forbidden/.test(f.portForward.seen) ? RBAC_HINT : 'port-forward goes API server → kubelet: check `hardway-lab check rbac` and the nodes\' INTERNAL-IP',
    }),
    probe({ name: 'logs', ok: f.logs.code === 0, expected: '`kubectl logs` answers', seen: f.logs.code === 0 ? 'ok' : said(f.logs), hint: rbacDenied(f.logs) ? RBAC_HINT : 'logs go API server → kubelet: check `hardway-lab check rbac`' }),
    probe({
      name: 'exec',
      ok: execOk,
      expected: '`kubectl exec ... nginx -v` prints the version',
      seen: execOk ? brief(f.exec.stdout + f.exec.stderr, 120) : said(f.exec),
      hint: rbacDenied(f.exec) ? RBAC_HINT : 'exec goes API server → kubelet: check `hardway-lab check rbac`',
    }),
  ];
  for (const np of f.nodePorts) {
    probes.push(
      probe({
        name: 'NodePort reachable',
        node: np.node,
        ok: np.ok,
        expected: `HTTP 200 from ${np.url}`,
        seen: np.seen,
        hint: `kube-proxy on ${np.node} writes the NodePort rules: \`systemctl status kube-proxy\` and \`iptables -t nat -S KUBE-NODEPORTS\` on ${np.node}; \`hardway-lab check workers\`, then \`hardway-lab up --step workers\``,
      }),
    );
  }
  probes.push(
    probe({
      name: 'API via the load balancer',
      ok: f.viaLb.code === 0,
      expected: `kubectl through ${plan.apiEndpoint.url}`,
      seen: f.viaLb.code === 0 ? 'ok' : said(f.viaLb),
      hint: '`hardway-lab check load-balancer`',
    }),
  );
  const workers = plan.nodes.filter((n) => n.role === 'worker');
  const nodes = parseNodeList(f.nodes.stdout);
  const notReady = workers.filter((w) => {
    const item = nodes?.find((i) => i.name === w.name);
    return !(item?.ready && item.internalIp === w.ip);
  });
  probes.push(
    probe({
      name: 'kubectl get nodes via the LB',
      ok: !!nodes && notReady.length === 0,
      expected: `${workers.map((w) => `${w.name} Ready at ${w.ip}`).join(', ')}`,
      seen: !nodes ? said(f.nodes) : notReady.length === 0 ? 'every worker Ready at its lab IP' : `not Ready at its lab IP: ${notReady.map((w) => w.name).join(', ')}`,
      hint: '`hardway-lab check admin-access` names the node and why',
    }),
  );
  return probes;
}
