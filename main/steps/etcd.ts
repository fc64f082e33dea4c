// Step etcd: the etcd cluster on the controllers.

import { setTimeout as sleep } from 'node:timers/promises';
import { clientUrl, etcdProbes, parseEndpointHealth, type EtcdClusterFacts, type EtcdMemberFacts } from '../checkers/etcd-cluster.ts';
import { parseSections } from '../engine/shell.ts';
import { StepError, type StepContext, type StepDefinition } from '../engine/step-definition.ts';
import { binaryJobs, byTemplate, copyCommands, ensureServices, plannedFileProbes, syncJobs, touches } from './step-support.ts';
import { timeout } from '../engine/timeouts.ts';
import { checkNodes } from '../engine/node-checks.ts';

const UNIT = byTemplate('systemd/etcd.service');
const ETCD_BIN = '/usr/local/bin/etcd';
const ETCDCTL_BIN = '/usr/local/bin/etcdctl';

export function etcdEndpoints(ctx: Pick<StepContext, 'plan'>): string {
  return ctx.plan.nodes
    .filter((n) => n.role === 'controller')
    .map(clientUrl)
    .join(',');
}

const ETCDCTL_TLS = '--cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key';

/** The most etcdctl waits per question (see clusterFacts). */
const ETCD_COMMAND_TIMEOUT_CAP_S = 30;

/**
 * Asks the cluster from the first controller whose etcdctl answers. When a member looks unhealthy
 * it asks once more a little later: on a busy, software-emulated host a healthy member can miss
 * one deadline, while a member that is really down fails both times.
 */
/** `stopped`: the client URLs of members whose etcd unit is not running (their ill health needs no second look). */
async function clusterFacts(ctx: StepContext, stopped: ReadonlySet<string> = new Set()): Promise<EtcdClusterFacts> {
  const endpoints = etcdEndpoints(ctx);
  // etcdctl waits this long for a member that does not answer (a stopped one included), once per
  // question and twice per check: scaled, but capped, since a healthy member on a saturated TCG
  // host answered within 7-10 s, and 20 × 5 s made a check with one member down take 7 minutes.
  const commandTimeout = String(Math.min(ETCD_COMMAND_TIMEOUT_CAP_S, Math.round(5 * ctx.timing.scale)));
  const ask = async (): Promise<EtcdClusterFacts> => {
    let answered: EtcdClusterFacts = {};
    for (const node of ctx.nodes) {
      try {
        const result = await ctx.session(node).script('checks/etcd-cluster-facts.sh', [endpoints, commandTimeout], { quietStdout: true, timeoutMs: timeout(ctx.timing, 'etcdClusterFacts') });
        const sections = parseSections(result.stdout);
        if ((sections.get('member-list') ?? '').trim().startsWith('{')) return { askedFrom: node.name, output: result.stdout };
        // This node reached the members (a health report) but got no member list: the cluster
        // has no quorum. Asking from another node would only wait as long again.
        if ((sections.get('endpoint-health') ?? '').trim().startsWith('[')) return { askedFrom: node.name, output: result.stdout };
        answered = { askedFrom: node.name, output: result.stdout };
      } catch {
        // Unreachable node: ask the next one.
      }
    }
    return answered;
  };
  const first = await ask();
  // Asked again only when a majority answered: a member lagging on a busy host recovers in
  // seconds, a lost quorum does not (and each question waits the whole command timeout).
  if (!first.output || allHealthy(first.output, ctx.nodes.length, stopped) || !majorityHealthy(first.output, ctx.nodes.length)) return first;
  await sleep(5000, undefined, { signal: ctx.signal });
  const second = await ask();
  return second.output ? second : first;
}

/** The endpoint health etcd-cluster-facts.sh reported, or undefined when there was none. */
function healthOf(output: string): ReturnType<typeof parseEndpointHealth> | undefined {
  try {
    return parseEndpointHealth((parseSections(output).get('endpoint-health') ?? '').trim());
  } catch {
    return undefined;
  }
}

function majorityHealthy(output: string, members: number): boolean {
  return (healthOf(output) ?? []).filter((h) => h.health).length > members / 2;
}

/** Every member healthy, but those known to be stopped. */
function allHealthy(output: string, members: number, stopped: ReadonlySet<string> = new Set()): boolean {
  const health = healthOf(output);
  return health !== undefined && health.length === members && health.every((h) => h.health || stopped.has(h.endpoint));
}

export const etcdStep: StepDefinition = {
  id: 'etcd',
  title: 'etcd cluster over mutual TLS',
  explanation:
    'etcd is the cluster\'s memory. One member runs on every controller; members talk to each other (port 2380) and to ' +
    'clients (2379) only over TLS, and each side must show a certificate signed by the lab CA. That is why the member ' +
    'certificate carries both serverAuth and clientAuth. With 3 members, one may fail and the cluster still has a leader ' +
    '(a majority); with 2, losing either stops all writes.',
  roles: ['controller'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    { node: node.name, command: `install -m 0755 etcd etcdctl etcdutl /usr/local/bin/`, description: 'the binaries (copied from the artifacts)' },
    { node: node.name, command: 'install -d -m 0700 /var/lib/etcd', description: 'the data directory, private' },
    ...copyCommands(env, node, UNIT),
    { node: node.name, command: 'systemctl daemon-reload && systemctl enable --now etcd', description: 'start the member; it waits for the others' },
    {
      node: node.name,
      command: `etcdctl --endpoints=${env.plan.nodes.filter((n) => n.role === 'controller').map(clientUrl).join(',')} ${ETCDCTL_TLS} endpoint status -w table`,
      description: 'every member, exactly one IS LEADER=true',
    },
  ],
  async run(ctx) {
    const artifacts = await ctx.artifacts(['etcd']);
    const binaries = binaryJobs([
      { local: artifacts.require('etcd'), remote: ETCD_BIN },
      { local: artifacts.require('etcdctl'), remote: ETCDCTL_BIN },
      // etcdutl: offline snapshot restore and defragmentation (etcd 3.5+ moved them out of etcdctl).
      ...(artifacts.has('etcdutl') ? [{ local: artifacts.binaryPath('etcdutl'), remote: '/usr/local/bin/etcdutl' }] : []),
    ]);
    // Members start together: each one's start waits until a majority is up.
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const changedBinaries = await session.syncFiles(binaries);
      await session.run('[ -d /var/lib/etcd ] || install -d -m 0700 /var/lib/etcd; [ "$(stat -c %a /var/lib/etcd)" = 700 ] || chmod 700 /var/lib/etcd');
      const changedUnit = await session.syncFiles(syncJobs(ctx.paths, session.node, UNIT));
      await ensureServices(session, [{ unit: 'etcd', restart: touches(changedBinaries, [ETCD_BIN]) || changedUnit.length > 0 }], {
        daemonReload: changedUnit.length > 0,
        timeoutMs: timeout(ctx.timing, 'etcdStart'),
      });
    });
    await waitForHealthyCluster(ctx);
  },
  async check(ctx) {
    const members: EtcdMemberFacts[] = await Promise.all(
      ctx.nodes.map(async (node) => {
        try {
          const result = await ctx.session(node).script('checks/etcd-member-facts.sh', [node.ip], { quietStdout: true, timeoutMs: timeout(ctx.timing, 'factsScript') });
          return { node, output: result.stdout };
        } catch (error) {
          return { node, error: (error as Error).message.split('\n')[0] };
        }
      }),
    );
    const units = await checkNodes(ctx, { facts: (session) => plannedFileProbes(ctx.paths, session, UNIT, 'run `hardway-lab up --step etcd`'), judge: (probes) => probes });
    // A member whose unit is not running is unhealthy for a reason already known: no second question.
    const stopped = new Set(members.filter((m) => m.output !== undefined && (parseSections(m.output).get('active') ?? '').trim() !== 'active').map((m) => clientUrl(m.node)));
    return [...etcdProbes(ctx.plan, members, await clusterFacts(ctx, stopped)), ...units];
  },
};

async function waitForHealthyCluster(ctx: StepContext): Promise<void> {
  const first = ctx.nodes[0];
  if (!first) return;
  const session = ctx.session(first);
  const deadline = Date.now() + timeout(ctx.timing, 'etcdHealthy');
  let last = '';
  for (;;) {
    const result = await session.exec(`etcdctl --endpoints=${etcdEndpoints(ctx)} ${ETCDCTL_TLS} --dial-timeout=3s --command-timeout=5s endpoint health -w json`, {
      quietStdout: true,
    });
    try {
      const health = parseEndpointHealth(result.stdout.trim());
      if (health.length === ctx.nodes.length && health.every((h) => h.health)) {
        ctx.info(`etcd: all ${health.length} members healthy`);
        return;
      }
      last = health.map((h) => `${h.endpoint} ${h.health ? 'healthy' : h.error}`).join('; ');
    } catch {
      last = (result.stderr || result.stdout).trim().split('\n').slice(-2).join(' ');
    }
    if (Date.now() > deadline) {
      throw new StepError('the etcd cluster did not become healthy', {
        node: first.name,
        output: last,
        hint: 'read `journalctl -u etcd -n 50` on each controller: "bad certificate" points at the certificates step, "connection refused" on 2380 at a member that is down',
      });
    }
    await sleep(3000, undefined, { signal: ctx.signal });
  }
}
