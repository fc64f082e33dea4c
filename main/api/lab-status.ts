// The dashboard's live view of a lab, gathered in one sweep: VM states from the provider; load,
// memory, uptime and the systemd state of each node's components over SSH (one short command per
// node, in parallel); etcd members, health and leader from the etcd checker's own facts script and
// parsers on a controller; the API's /readyz through the load balancer with the checkers' HTTPS
// probe; Kubernetes nodes Ready as the admin-access checker reads `kubectl get nodes`. Anything that
// cannot be asked yet (a VM down, etcd not installed) is reported as `unknown` with the reason,
// never guessed.

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiHealth, EtcdMember, EtcdStatus, KubeNodes, LabStatus, NodeRuntime, UnitState } from '../shared/api-contract.ts';
import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { NodeStatus, Provider } from '../providers/provider.ts';
import type { ExecResult } from '../ssh/ssh-errors.ts';
import { adminKubeconfigPath } from '../steps/host-kubectl.ts';
import { labRoute, type LabRoute } from '../providers/lab-route.ts';
import { parseSections, provisionScript } from '../engine/shell.ts';
import { parseEndpointHealth, parseEndpointStatus, parseMemberList } from '../checkers/etcd-cluster.ts';
import { etcdEndpoints } from '../steps/etcd.ts';
import { parseNodeList } from '../checkers/cluster.ts';
import { httpsGet } from '../checkers/host-network.ts';

export interface StatusSources {
  plan: Plan;
  paths: LabPaths;
  provider?: Provider;
  /** Why there is no provider, for the node cards. */
  providerMissing?: string;
  exec?: (node: string, command: string, options: { timeoutMs: number; stdin?: string }) => Promise<ExecResult>;
  components: (node: PlannedNode) => string[];
  /**
   * True when SSH goes somewhere other than the VMs' own addresses (tests point every node at a
   * local sshd): then nodes are asked even though the provider knows of no running VM.
   */
  sshOverride?: boolean;
  /** Per-probe time limit; VMs under TCG answer slowly. */
  timeoutMs?: number;
  /** The lab's own kubectl (from its artifacts), else the one on PATH. */
  kubectl?: string;
}

const MARK = '@@hwl@@';

export async function collectLabStatus(sources: StatusSources): Promise<LabStatus> {
  const started = Date.now();
  // Generous: six VMs under software emulation on a small host answer in seconds, not milliseconds.
  const timeoutMs = sources.timeoutMs ?? 30_000;
  const vmStates = await vmStatesOf(sources);
  // Nothing goes to a lab address unless this host's route to it is the lab's own network.
  const route = await labRoute(sources.plan.apiEndpoint.ip, sources.plan.network.gateway);
  const nodes = await Promise.all(sources.plan.nodes.map((node) => nodeRuntime(node, vmStates, sources, timeoutMs, route)));
  const [etcd, api] = await Promise.all([etcdStatus(sources, nodes, timeoutMs), apiHealth(sources, vmStates, timeoutMs, route)]);
  const kubeNodes = await kubeNodesStatus(sources, api, timeoutMs);
  return { at: new Date().toISOString(), tookMs: Date.now() - started, nodes, etcd, api, kubeNodes };
}

async function vmStatesOf(sources: StatusSources): Promise<Map<string, NodeStatus> | string> {
  if (!sources.provider) return sources.providerMissing ?? 'no provider';
  try {
    return new Map((await sources.provider.status()).map((s) => [s.node, s]));
  } catch (error) {
    return `the provider could not tell: ${(error as Error).message.split('\n')[0]}`;
  }
}

async function nodeRuntime(node: PlannedNode, vmStates: Map<string, NodeStatus> | string, sources: StatusSources, timeoutMs: number, route: LabRoute): Promise<NodeRuntime> {
  const units = sources.components(node);
  const vm = typeof vmStates === 'string' ? undefined : vmStates.get(node.name);
  const runtime: NodeRuntime = {
    node: node.name,
    vm: vm?.state ?? 'unknown',
    vmDetail: typeof vmStates === 'string' ? vmStates : vm?.detail,
    ssh: 'unknown',
    units: units.map((unit) => ({ unit, state: 'unknown' })),
  };
  if (!sources.exec) {
    runtime.sshDetail = 'no SSH layer';
    return runtime;
  }
  // Only a VM the provider reports running is contacted: a lab address is never probed blindly
  // (it may not be this lab's, and asking a VM that is off only waits for a timeout).
  if (!sources.sshOverride && vm?.state !== 'running' && vm?.state !== 'starting') {
    runtime.sshDetail = vm ? `the VM is ${vm.state}` : 'the VM state is unknown, so it was not contacted';
    return runtime;
  }
  if (!sources.sshOverride && !route.here) {
    runtime.sshDetail = route.reason;
    return runtime;
  }
  const script = [
    `echo ${MARK}load; cat /proc/loadavg`,
    `echo ${MARK}cpus; nproc`,
    `echo ${MARK}mem; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo`,
    `echo ${MARK}uptime; cut -d' ' -f1 /proc/uptime`,
    // LoadState tells "not installed yet" (not-found) from "installed but stopped" (inactive).
    `echo ${MARK}units`,
    // One systemctl for all units: under software emulation every process start costs.
    units.length ? `systemctl show -p Id -p LoadState -p ActiveState ${units.map((u) => `${u}.service`).join(' ')} 2>/dev/null` : 'true',
    'true',
  ].join('; ');
  try {
    const result = await sources.exec(node.name, script, { timeoutMs });
    const sections = splitSections(result.stdout);
    runtime.ssh = 'ok';
    const load = Number(sections.load?.split(/\s+/)[0]);
    if (Number.isFinite(load)) runtime.load1 = load;
    const cpus = Number(sections.cpus);
    if (Number.isInteger(cpus) && cpus > 0) runtime.cpus = cpus;
    const memKiB = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(sections.mem ?? '')?.[1]);
    if (memKiB('MemTotal')) runtime.memTotalMiB = Math.round(memKiB('MemTotal') / 1024);
    if (memKiB('MemAvailable')) runtime.memAvailableMiB = Math.round(memKiB('MemAvailable') / 1024);
    const uptime = Number(sections.uptime);
    if (Number.isFinite(uptime)) runtime.uptimeSeconds = Math.round(uptime);
    const states = unitStates(sections.units ?? '');
    runtime.units = units.map((unit): UnitState => ({ unit, state: states.get(unit) ?? 'unknown' }));
  } catch (error) {
    runtime.ssh = 'unreachable';
    runtime.sshDetail = (error as Error).message.split('\n')[0];
  }
  return runtime;
}

/**
 * `systemctl show -p Id -p LoadState -p ActiveState` blocks → unit name → state shown. A unit
 * whose file is not there yet says `not installed` (LoadState=not-found), not `inactive`.
 */
export function unitStates(text: string): Map<string, string> {
  const states = new Map<string, string>();
  for (const block of text.split(/\n\s*\n/)) {
    const fields = Object.fromEntries(
      block
        .split('\n')
        .map((line) => line.trim().split('='))
        .filter((kv) => kv.length >= 2)
        .map(([key, ...value]) => [key, value.join('=')]),
    ) as Record<string, string>;
    if (!fields.Id) continue;
    const unit = fields.Id.replace(/\.service$/, '');
    states.set(unit, fields.LoadState === 'not-found' ? 'not installed' : fields.ActiveState || 'unknown');
  }
  return states;
}

function splitSections(stdout: string): Record<string, string> {
  const sections: Record<string, string> = {};
  for (const part of stdout.split(MARK).slice(1)) {
    const newline = part.indexOf('\n');
    const name = newline < 0 ? part.trim() : part.slice(0, newline).trim();
    sections[name] = newline < 0 ? '' : part.slice(newline + 1).trim();
  }
  return sections;
}

async function etcdStatus(sources: StatusSources, nodes: NodeRuntime[], timeoutMs: number): Promise<EtcdStatus> {
  const controllers = sources.plan.nodes.filter((n) => n.role === 'controller');
  const runtimeOf = (name: string) => nodes.find((n) => n.node === name);
  const active = controllers.filter((c) => runtimeOf(c.name)?.units.find((u) => u.unit === 'etcd')?.state === 'active');
  const unitSummary = controllers.map((c) => `${c.name}: ${runtimeOf(c.name)?.units.find((u) => u.unit === 'etcd')?.state ?? 'unknown'}`).join(', ');
  const anyKnown = controllers.some((c) => (runtimeOf(c.name)?.units.find((u) => u.unit === 'etcd')?.state ?? 'unknown') !== 'unknown');
  if (!sources.exec || active.length === 0) {
    // No member runs: down if the units exist but are stopped or failed, unknown if we cannot see.
    const installed = controllers.some((c) => ['failed', 'inactive', 'activating'].includes(runtimeOf(c.name)?.units.find((u) => u.unit === 'etcd')?.state ?? ''));
    return {
      health: anyKnown && installed ? 'down' : 'unknown',
      members: [],
      detail: anyKnown ? `no etcd member is running (${unitSummary})` : 'cannot see the controllers yet',
    };
  }
  let lastError = '';
  for (const controller of active) {
    try {
      // The etcd checker's own facts script and parsers: the dashboard and `hardway-lab check etcd`
      // read the same answers.
      const result = await sources.exec!(controller.name, `bash -s -- ${etcdEndpoints({ plan: sources.plan })} 5`, { timeoutMs: timeoutMs * 2, stdin: provisionScript('checks/etcd-cluster-facts.sh') });
      const sections = parseSections(result.stdout);
      const listText = sections.get('member-list')?.trim() ?? '';
      if (!listText.startsWith('{')) {
        lastError = `${controller.name}: etcdctl member list gave nothing: ${sections.get('member-list-stderr')?.trim().split('\n').at(-1) ?? ''}`;
        continue;
      }
      const list = parseMemberList(listText);
      const statuses = tryParse(sections.get('endpoint-status'), parseEndpointStatus);
      const health = tryParse(sections.get('endpoint-health'), parseEndpointHealth);
      const leaderId = statuses.find((s) => s.leader && s.leader !== '0')?.leader;
      const members: EtcdMember[] = list.map((m) => {
        const clientUrl = m.clientURLs[0];
        const healthEntry = health.find((h) => clientUrl !== undefined && h.endpoint === clientUrl);
        return {
          name: m.name || `(unstarted ${m.id})`,
          id: m.id,
          clientUrl,
          isLeader: leaderId !== undefined && m.id === leaderId,
          healthy: healthEntry ? healthEntry.health : clientUrl && statuses.some((s) => s.endpoint === clientUrl) ? true : health.length ? false : 'unknown',
        };
      });
      const healthy = members.filter((m) => m.healthy === true).length;
      const leaders = members.filter((m) => m.isLeader);
      const expected = controllers.length;
      const quorum = Math.floor(expected / 2) + 1;
      const state = healthy === expected && members.length === expected && leaders.length === 1 ? 'ok' : healthy >= quorum && leaders.length === 1 ? 'degraded' : 'down';
      const unhealthy = members.filter((m) => m.healthy !== true).map((m) => m.name);
      return {
        health: state,
        members,
        leader: leaders[0]?.name,
        detail:
          state === 'ok'
            ? `${healthy}/${expected} members healthy, one leader (asked ${controller.name})`
            : `${healthy}/${expected} members healthy${unhealthy.length ? ` (not healthy: ${unhealthy.join(', ')})` : ''}; quorum needs ${quorum}${leaders.length === 1 ? '' : `; ${leaders.length} leaders seen`} (asked ${controller.name}; units: ${unitSummary})`,
      };
    } catch (error) {
      lastError = `${controller.name}: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  return { health: 'unknown', members: [], detail: `etcd could not be asked: ${lastError}` };
}

/** A section etcdctl may have left empty or cut short: nothing, rather than a failed sweep. */
function tryParse<T>(text: string | undefined, parse: (text: string) => T[]): T[] {
  try {
    return text?.trim() ? parse(text.trim()) : [];
  } catch {
    return [];
  }
}

async function apiHealth(sources: StatusSources, vmStates: Map<string, NodeStatus> | string, timeoutMs: number, route: LabRoute): Promise<ApiHealth> {
  const { apiEndpoint } = sources.plan;
  const url = `${apiEndpoint.url}/readyz`;
  const endpointVm = typeof vmStates === 'string' ? undefined : vmStates.get(apiEndpoint.host);
  if (endpointVm?.state !== 'running') {
    // The address is only asked when this lab's VM holds it.
    return { health: 'unknown', url, detail: `the ${apiEndpoint.host} VM is ${endpointVm?.state ?? 'not known to run'}, so the API was not asked` };
  }
  if (!route.here) return { health: 'unknown', url, detail: route.reason };
  const caPath = join(sources.paths.pki, 'ca.crt');
  if (!existsSync(caPath)) return { health: 'unknown', url, detail: 'the lab has no CA yet (run `hardway-lab render` or create the cluster)' };
  // The same HTTPS probe the load-balancer checker makes from the host, verified with the lab CA.
  const limitMs = Math.min(timeoutMs, 8000);
  const answer = await httpsGet(url, { ca: readFileSync(caPath, 'utf8'), timeoutMs: limitMs });
  if (answer.status !== undefined) {
    const body = (answer.body ?? '').trim();
    const ok = answer.status === 200 && body === 'ok';
    return { health: ok ? 'ok' : 'degraded', url, detail: ok ? 'GET /readyz → ok' : `GET /readyz → HTTP ${answer.status}: ${body.split('\n').slice(-3).join(' ')}` };
  }
  const refused = answer.code === 'ECONNREFUSED';
  const unreachable = answer.code === 'EHOSTUNREACH' || answer.code === 'ENETUNREACH';
  return {
    health: refused ? 'down' : 'unknown',
    url,
    detail: refused
      ? `connection refused: nothing listens on ${apiEndpoint.host}:${apiEndpoint.port} (haproxy or the API servers are not running)`
      : unreachable
        ? `this host cannot reach ${apiEndpoint.ip} (${answer.code}); the lab network is not up here`
        : `no answer: ${answer.seen}`,
  };
}

async function kubeNodesStatus(sources: StatusSources, api: ApiHealth, timeoutMs: number): Promise<KubeNodes> {
  const kubeconfig = adminKubeconfigPath(sources.paths);
  if (api.health !== 'ok' && api.health !== 'degraded') return { health: 'unknown', nodes: [], detail: 'the API does not answer, so nodes cannot be listed' };
  if (!existsSync(kubeconfig)) return { health: 'unknown', nodes: [], detail: 'no admin kubeconfig in the lab yet' };
  const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(sources.kubectl ?? 'kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes', '-o', 'json', `--request-timeout=${Math.ceil(timeoutMs / 1000)}s`], { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException).code === 'number' ? Number((error as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code: (error as NodeJS.ErrnoException | null)?.code === 'ENOENT' ? 127 : code, stdout, stderr });
    });
  });
  if (result.code === 127) return { health: 'unknown', nodes: [], detail: 'kubectl is not installed on this host' };
  if (result.code !== 0) return { health: 'unknown', nodes: [], detail: `kubectl get nodes failed: ${result.stderr.trim().split('\n').at(-1) ?? ''}` };
  // Read as the admin-access checker reads it.
  const listed = parseNodeList(result.stdout);
  if (!listed) return { health: 'unknown', nodes: [], detail: `kubectl get nodes printed no node list: ${result.stdout.trim().slice(0, 200)}` };
  const nodes = listed.map((n) => ({ name: n.name, ready: n.ready }));
  const workers = sources.plan.nodes.filter((n) => n.role === 'worker').length;
  const ready = nodes.filter((n) => n.ready).length;
  return {
    health: nodes.length === 0 ? 'down' : ready === workers ? 'ok' : ready > 0 ? 'degraded' : 'down',
    nodes,
    detail: `${ready} of ${workers} workers Ready`,
  };
}
