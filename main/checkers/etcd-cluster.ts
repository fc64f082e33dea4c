// The etcd step's checker: an etcd cluster of every controller, over mutual TLS. Built from what etcdctl
// itself reports (`member list`, `endpoint health`, `endpoint status`, all `-w json`) and from two
// clients that must be refused (plain HTTP; TLS without a client certificate).

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';

export interface EtcdMemberFacts {
  node: PlannedNode;
  /** Output of provision/checks/etcd-member-facts.sh, or the error that kept it from running. */
  output?: string;
  error?: string;
}

export interface EtcdClusterFacts {
  /** The controller whose etcdctl answered, when any. */
  askedFrom?: string;
  /** Output of provision/checks/etcd-cluster-facts.sh. */
  output?: string;
}

interface Member {
  id: string;
  name: string;
  clientURLs: string[];
}

interface EndpointStatus {
  endpoint: string;
  memberId: string;
  leader: string;
  version?: string;
}

interface EndpointHealth {
  endpoint: string;
  health: boolean;
  error?: string;
}

/**
 * etcd prints 64-bit member IDs as bare JSON numbers, which JavaScript would round (two members
 * could even look alike). Quote every integer of 16+ digits before parsing.
 */
export function parseEtcdJson<T>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,}\]])/g, '$1"$2"')) as T;
}

export function parseMemberList(text: string): Member[] {
  const parsed = parseEtcdJson<{ members?: { ID: string | number; name?: string; clientURLs?: string[] }[] }>(text);
  return (parsed.members ?? []).map((m) => ({ id: String(m.ID), name: m.name ?? '', clientURLs: m.clientURLs ?? [] }));
}

export function parseEndpointStatus(text: string): EndpointStatus[] {
  const parsed = parseEtcdJson<{ Endpoint: string; Status: { header: { member_id: string | number }; leader: string | number; version?: string } }[]>(text);
  return parsed.map((e) => ({ endpoint: e.Endpoint, memberId: String(e.Status.header.member_id), leader: String(e.Status.leader), version: e.Status.version }));
}

export function parseEndpointHealth(text: string): EndpointHealth[] {
  const parsed = parseEtcdJson<{ endpoint: string; health: boolean | string; error?: string }[]>(text);
  return parsed.map((e) => ({ endpoint: e.endpoint, health: e.health === true || e.health === 'true', error: e.error || undefined }));
}

export function clientUrl(node: PlannedNode): string {
  return `https://${node.ip}:2379`;
}

function tryParse<T>(text: string | undefined, parseFn: (t: string) => T): { value?: T; error?: string } {
  if (!text || !text.trim()) return { error: 'no output' };
  try {
    return { value: parseFn(text.trim()) };
  } catch (error) {
    return { error: `unparsable output: ${brief(text, 120)} (${(error as Error).message})` };
  }
}

const START_HINT = (node: string) =>
  `on ${node}: \`systemctl start etcd\` (or \`hardway-lab up --step etcd\`), and read \`journalctl -u etcd -n 50\` if it does not stay up`;

export function etcdProbes(plan: Plan, members: EtcdMemberFacts[], cluster: EtcdClusterFacts): Probe[] {
  const controllers = plan.nodes.filter((n) => n.role === 'controller');
  const probes: Probe[] = [];

  for (const m of members) {
    const at = m.node.name;
    if (m.output === undefined) {
      probes.push(probe({ name: 'etcd member facts', node: at, ok: false, expected: 'the node answers', seen: m.error ?? 'no answer', hint: START_HINT(at) }));
      continue;
    }
    const s = parseSections(m.output);
    const active = (s.get('active') ?? '').trim();
    probes.push(
      probe({ name: 'etcd unit active', node: at, ok: active === 'active', expected: 'active', seen: active || 'unknown', hint: START_HINT(at) }),
    );
    const versionLine = (s.get('version') ?? '').trim();
    const version = /Version:\s*(\S+)/.exec(versionLine)?.[1];
    probes.push(
      probe({
        name: 'etcd version',
        node: at,
        ok: version === plan.versions.etcd,
        expected: `${plan.versions.etcd} (versions.etcd in the spec)`,
        seen: version ?? brief(versionLine || 'not installed'),
        hint: version
          ? `the etcd binary is ${version}: put etcd ${plan.versions.etcd} into the artifacts (bin/etcd), or set versions.etcd: ${version} in hardway-lab.yaml, then \`hardway-lab up --step etcd\``
          : '/usr/local/bin/etcd is missing or broken: `hardway-lab up --step etcd` installs it',
      }),
    );
    const plain = s.get('plain-http') ?? '';
    const plainRefused = !/exit=0\s*$/.test(plain.trim()) && !/is healthy/.test(plain);
    probes.push(
      probe({
        name: 'plain-HTTP client port refused',
        node: at,
        ok: plainRefused,
        expected: `http://${m.node.ip}:2379 gives a plain-HTTP client nothing`,
        seen: plainRefused ? `no answer over plain HTTP: ${refusalSummary(plain)}` : brief(plain),
        hint: `etcd on ${at} serves clients without TLS: use only https:// in --listen-client-urls and --advertise-client-urls (the lab's etcd.service does), then \`hardway-lab up --step etcd\``,
      }),
    );
    const noCert = s.get('no-client-cert') ?? '';
    const noCertRefused = !/exit=0\s*$/.test(noCert.trim()) && !/is healthy/.test(noCert);
    probes.push(
      probe({
        name: 'client without certificate refused',
        node: at,
        ok: noCertRefused,
        expected: 'a TLS client with no certificate is refused (--client-cert-auth)',
        seen: noCertRefused ? 'refused' : brief(noCert),
        hint: `anyone reaching ${m.node.ip}:2379 could read every secret: start etcd with --client-cert-auth and --trusted-ca-file (the lab's etcd.service does)`,
      }),
    );
  }

  if (cluster.output === undefined) {
    const hint = `no controller could run etcdctl against the cluster: start etcd on the controllers (\`hardway-lab up --step etcd\`)`;
    for (const name of ['members started', 'endpoint health over TLS', 'exactly one leader']) {
      probes.push(probe({ name, ok: false, expected: `answered by the ${controllers.length} members`, seen: 'no etcd member answers', hint }));
    }
    return probes;
  }

  const s = parseSections(cluster.output);
  const list = tryParse(s.get('member-list'), parseMemberList);
  const health = tryParse(s.get('endpoint-health'), parseEndpointHealth);
  const status = tryParse(s.get('endpoint-status'), parseEndpointStatus);
  const listError = (s.get('member-list-stderr') ?? '').trim();

  // Members: every controller started (a member that never joined has no name yet), nothing else.
  const memberList = list.value ?? [];
  for (const c of controllers) {
    const member = memberList.find((m) => m.name === c.name) ?? memberList.find((m) => m.clientURLs.includes(clientUrl(c)));
    const started = member !== undefined && member.name !== '';
    probes.push(
      probe({
        name: 'member started',
        node: c.name,
        ok: started,
        expected: `member ${c.name} listed as started`,
        seen: list.value ? (member ? (started ? 'started' : 'unstarted (never joined)') : `not a member (members: ${memberList.map((m) => m.name || '(unstarted)').join(', ') || 'none'})`) : list.error! + (listError ? `; ${brief(listError, 100)}` : ''),
        hint: member
          ? `${c.name} was added but never joined: check its --initial-cluster and certificates, then \`systemctl restart etcd\` on ${c.name}`
          : `every controller must be in --initial-cluster of every member: \`hardway-lab up --step etcd\` renders and installs the unit; a member from an earlier cluster needs its /var/lib/etcd removed`,
      }),
    );
  }
  const strangers = memberList.filter((m) => !controllers.some((c) => c.name === m.name || m.clientURLs.includes(clientUrl(c))));
  probes.push(
    probe({
      name: `exactly ${controllers.length} members`,
      ok: list.value !== undefined && strangers.length === 0 && memberList.length === controllers.length,
      expected: controllers.map((c) => c.name).join(', '),
      seen: list.value ? memberList.map((m) => m.name || '(unstarted)').join(', ') || 'none' : list.error!,
      hint: strangers.length
        ? `remove members that are not lab controllers: \`etcdctl member remove <ID>\` (${strangers.map((m) => `${m.name || 'unstarted'} ${BigInt(m.id).toString(16)}`).join(', ')})`
        : `start etcd on every controller (\`hardway-lab up --step etcd\`)`,
    }),
  );

  // Health, per member, over TLS with a client certificate.
  for (const c of controllers) {
    const entry = health.value?.find((h) => h.endpoint === clientUrl(c));
    probes.push(
      probe({
        name: 'endpoint health over TLS',
        node: c.name,
        ok: entry?.health === true,
        expected: `${clientUrl(c)} healthy`,
        seen: entry ? (entry.health ? 'healthy' : `unhealthy: ${entry.error ?? 'no reason given'}`) : health.error ?? 'not in the health report',
        hint: START_HINT(c.name),
      }),
    );
  }

  // Leadership: exactly one member is leader, and every member that answers names the same one.
  const statuses = status.value ?? [];
  const nameOf = (id: string) => memberList.find((m) => m.id === id)?.name || `member ${safeHex(id)}`;
  const leaders = statuses.filter((e) => e.leader === e.memberId && e.leader !== '0');
  const named = new Set(statuses.map((e) => e.leader).filter((id) => id !== '0'));
  const ok = leaders.length === 1 && named.size === 1 && statuses.length > controllers.length / 2;
  let seen: string;
  if (!status.value) seen = status.error!;
  else if (statuses.length === 0) seen = 'no member answered';
  else if (leaders.length === 0) seen = `no leader (${statuses.length} of ${controllers.length} members answered)`;
  else if (leaders.length > 1 || named.size > 1) seen = `${[...named].map(nameOf).join(' and ')} claim leadership`;
  else seen = `${nameOf(leaders[0]!.memberId)} leads (${statuses.length} of ${controllers.length} members answered, all agree)`;
  const quorum = Math.floor(controllers.length / 2) + 1;
  probes.push(
    probe({
      name: 'exactly one leader',
      ok,
      expected: `one leader that every answering member agrees on, with at least ${quorum} of ${controllers.length} members answering`,
      seen,
      hint:
        leaders.length > 1 || named.size > 1
          ? 'two leaders means two separate clusters: a member kept data from another cluster (or another --initial-cluster-token). Stop it, remove its /var/lib/etcd, and start it again with the lab\'s unit'
          : `without a leader etcd takes no writes: at least ${quorum} members must run and reach each other on port 2380 — start etcd on the stopped controllers (\`hardway-lab up --step etcd\`)`,
    }),
  );
  return probes;
}

function safeHex(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/**
 * What a refused etcdctl call amounts to, in words: etcdctl 3.4 reports any client-side timeout as
 * "unhealthy: failed to commit proposal: context deadline exceeded", which reads as if etcd had
 * answered.
 */
export function refusalSummary(output: string): string {
  if (/deadline exceeded/i.test(output)) return 'the client timed out';
  const reason = /connection refused|connection reset|EOF|first record does not look like a TLS handshake|malformed HTTP response|bad certificate|certificate required/i.exec(output);
  if (reason) return reason[0];
  return brief(output.replace(/exit=\d+/, '').trim(), 100) || 'no answer';
}
