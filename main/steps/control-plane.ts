// Steps control-plane and rbac: the Kubernetes control plane on every controller, and the RBAC that lets the
// API server reach kubelets.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONTROL_PLANE_UNITS, controlPlaneProbes, leaseProbes, rbacProbes, type ExpectedFiles } from '../checkers/control-plane.ts';
import { brief, unreachableProbe } from '../checkers/probe.ts';
import { describeUnit, parseUnitHealth, type UnitHealth } from '../checkers/unit-health.ts';
import type { PlannedNode } from '../plan/address-plan.ts';
import { KUBE_CONTROL_PLANE_BINARIES } from '../artifacts/artifact-set.ts';
import { renderTemplate } from '../render/template.ts';
import { parseSections } from '../engine/shell.ts';
import { StepError, type CommandEnv, type StepContext, type StepDefinition } from '../engine/step-definition.ts';
import type { NodeSession } from '../engine/node-session.ts';
import { binaryJobs, byTemplate, copyCommands, ensureServices, syncJobs, touches } from './step-support.ts';
import { timeout } from '../engine/timeouts.ts';
import { checkNodes, factsScript } from '../engine/node-checks.ts';

const FILES = byTemplate(
  'systemd/kube-apiserver.service',
  'systemd/kube-controller-manager.service',
  'systemd/kube-scheduler.service',
  'controller/kube-scheduler.yaml',
);
const ADMIN = '--kubeconfig /root/admin.kubeconfig';
/** How often systemd may restart an API server while we wait before it counts as a crash loop. */
const CRASH_LOOP_RESTARTS = 3;
const RBAC_MANIFEST = '/root/hardway/apiserver-to-kubelet-rbac.yaml';

export function kubeletClientUser(ctx: Pick<StepContext, 'plan'>): string {
  return ctx.plan.certificates.find((c) => c.id === 'apiserver-kubelet-client')?.commonName ?? 'kube-apiserver-kubelet-client';
}

async function apiserverStatus(session: NodeSession, scale: number): Promise<{ readyz: string; health?: UnitHealth }> {
  const result = await session.script('checks/apiserver-ready.sh', [], { quietStdout: true, include: ['checks/lib-unit-health.sh', 'checks/lib-apiserver.sh'], timeoutMs: timeout({ scale }, 'shortCommand') });
  const s = parseSections(result.stdout);
  return { readyz: (s.get('readyz') ?? '').trim(), health: parseUnitHealth(s, 'kube-apiserver') };
}

/**
 * Waits for /readyz ok. A unit systemd keeps restarting fails at once with its last error line
 * (not a /readyz dump); a slow one fails at the deadline with what it said last.
 */
async function waitForApiServer(ctx: StepContext, session: NodeSession): Promise<number> {
  const started = Date.now();
  const deadline = started + timeout(ctx.timing, 'apiserverReady');
  const baseline = (await apiserverStatus(session, ctx.timing.scale)).health?.restarts ?? 0;
  for (;;) {
    const { readyz, health } = await apiserverStatus(session, ctx.timing.scale);
    if (readyz === 'ok') return (Date.now() - started) / 1000;
    const restarts = (health?.restarts ?? 0) - baseline;
    if (restarts >= CRASH_LOOP_RESTARTS || health?.active === 'failed') {
      throw new StepError(`kube-apiserver on ${session.name} is in a crash loop (${describeUnit(health)})`, {
        node: session.name,
        output: health?.lastError ?? 'no error line in its journal',
        hint: `read \`journalctl -u kube-apiserver -n 80\` on ${session.name}; etcd must be healthy (\`hardway-lab check etcd\`) and its certificates and flags as the lab made them (\`hardway-lab check certificates\`)`,
      });
    }
    if (Date.now() > deadline) {
      throw new StepError(`the API server on ${session.name} did not become ready within ${Math.round((deadline - started) / 1000)} s`, {
        node: session.name,
        output: [`/readyz: ${brief(readyz || 'no answer', 300)}`, `unit: ${describeUnit(health)}`].join('\n'),
        hint: `read \`journalctl -u kube-apiserver -n 80\` on ${session.name} and \`kubectl get --raw '/readyz?verbose'\` there; etcd must be healthy (\`hardway-lab check etcd\`)`,
      });
    }
    await sleep(5000, undefined, { signal: ctx.signal });
  }
}

/** Until both leases are held (or the wait is over: the checker then says which is not). */
async function waitForLeases(ctx: StepContext, session: NodeSession): Promise<void> {
  const deadline = Date.now() + timeout(ctx.timing, 'leasesTaken');
  for (;;) {
    const result = await session.exec(
      `printf '==> epoch\\n%s\\n==> leases\\n' "$(date +%s)"; kubectl ${ADMIN} --request-timeout=20s -n kube-system get lease kube-controller-manager kube-scheduler -o jsonpath='{range .items[*]}{.metadata.name} {.spec.holderIdentity} {.spec.renewTime}{"\\n"}{end}'`,
      { quietStdout: true, timeoutMs: timeout(ctx.timing, 'shortCommand') },
    );
    if (leaseProbes(result.stdout, session.name).every((p) => p.ok) || Date.now() > deadline) return;
    await sleep(5000, undefined, { signal: ctx.signal });
  }
}

/** The sha256 of each planned control-plane file on this controller, from the rendered lab. */
function expectedControlPlaneFiles(ctx: StepContext, node: PlannedNode): ExpectedFiles {
  const expected: ExpectedFiles = {};
  for (const job of syncJobs(ctx.paths, node, FILES)) expected[job.remote] = createHash('sha256').update(readFileSync(job.local!)).digest('hex');
  return expected;
}

const UNIT_FILES: Record<(typeof CONTROL_PLANE_UNITS)[number], string[]> = {
  'kube-apiserver': ['/usr/local/bin/kube-apiserver', '/etc/systemd/system/kube-apiserver.service'],
  'kube-controller-manager': ['/usr/local/bin/kube-controller-manager', '/etc/systemd/system/kube-controller-manager.service'],
  'kube-scheduler': ['/usr/local/bin/kube-scheduler', '/etc/systemd/system/kube-scheduler.service', '/etc/kubernetes/config/kube-scheduler.yaml'],
};

export const controlPlaneStep: StepDefinition = {
  id: 'control-plane',
  title: 'Control plane: API server, controller manager, scheduler',
  explanation:
    'Every controller runs the API server (the only component that talks to etcd), the controller manager and the ' +
    'scheduler. The last two use leader election: one of each is active at a time, and the holder of its lease in ' +
    'kube-system does the work. The API server is ready when /readyz says ok. Start the first API server alone and ' +
    'wait for it: it creates the default RBAC roles and the kubernetes service, and on a slow machine three servers ' +
    'racing to do that time out and crash-loop. The others then find everything in place and start faster.',
  roles: ['controller'],
  needsKubeBinaries: true,
  commands: (env, node) => [
    { node: node.name, command: 'install -m 0755 kube-apiserver kube-controller-manager kube-scheduler kubectl /usr/local/bin/', description: 'from the artifacts' },
    ...copyCommands(env, node, FILES),
    {
      node: node.name,
      command: 'systemctl daemon-reload && systemctl enable --now kube-apiserver',
      description: node.index === 0 ? 'the first API server, alone' : `after the API server on ${controllerName(env, node.index - 1)} is ready`,
    },
    { node: node.name, command: `until kubectl ${ADMIN} get --raw /readyz; do sleep 5; done`, description: 'ok when ready (minutes under software emulation)' },
    { node: node.name, command: 'systemctl enable --now kube-controller-manager kube-scheduler', description: 'once every API server is ready' },
    { node: node.name, command: `kubectl ${ADMIN} -n kube-system get lease kube-controller-manager kube-scheduler`, description: 'who leads' },
  ],
  async run(ctx) {
    const artifacts = await ctx.artifacts(['kubernetes']);
    const binaries = binaryJobs(KUBE_CONTROL_PLANE_BINARIES.map((name) => ({ local: artifacts.require(name), remote: `/usr/local/bin/${name}` })));
    const etcdVersion = artifacts.versions().etcd ?? ctx.plan.versions.etcd;
    if (/^3\.(4|5\.([0-9]|1[0-2]))\./.test(etcdVersion)) {
      ctx.warn(`etcd ${etcdVersion} is older than recent Kubernetes expects (3.5.13+): expect "RequestWatchProgress not supported" in the API server log`);
    }
    // 1. Binaries and files everywhere; nothing is started yet.
    const changed = new Map<string, string[]>();
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const files = [...(await session.syncFiles(binaries)), ...(await session.syncFiles(syncJobs(ctx.paths, session.node, FILES)))];
      if (files.some((p) => p.startsWith('/etc/systemd/system/'))) await session.run('systemctl daemon-reload');
      changed.set(session.name, files);
    });
    const restart = (node: string, unit: (typeof CONTROL_PLANE_UNITS)[number]) => touches(changed.get(node) ?? [], UNIT_FILES[unit]);
    // 2. The API servers one at a time: each starts only when the one before answers /readyz.
    //    (HARDWAY_APISERVER_START=parallel starts them together, as the lab once did: for
    //    bench/steps-bench.ts, which compares the two.)
    const start = async (node: PlannedNode) => {
      const session = ctx.session(node);
      ctx.progress(`kube-apiserver on ${node.name}`, undefined, node.name);
      await ensureServices(session, [{ unit: 'kube-apiserver', restart: restart(node.name, 'kube-apiserver') }], { daemonReload: false, timeoutMs: timeout(ctx.timing, 'unitStart') });
      const seconds = await waitForApiServer(ctx, session);
      ctx.info(`kube-apiserver on ${node.name} is ready (/readyz ok after ${seconds.toFixed(0)} s)`, node.name);
    };
    const mode = process.env.HARDWAY_APISERVER_START;
    if (mode === 'parallel') {
      ctx.warn('HARDWAY_APISERVER_START=parallel: starting every API server at once (the old way, for comparison)');
      await ctx.forEachNode(ctx.nodes, (session) => start(session.node));
    } else if (mode === 'first-then-rest') {
      // The first alone (it bootstraps RBAC on fresh etcd), then the others together.
      const [first, ...rest] = ctx.nodes;
      if (first) await start(first);
      await ctx.forEachNode(rest, (session) => start(session.node));
    } else {
      for (const node of ctx.nodes) await start(node);
    }
    // 3. The controller managers and schedulers; leader election picks one of each.
    await ctx.forEachNode(ctx.nodes, (session) =>
      ensureServices(
        session,
        (['kube-controller-manager', 'kube-scheduler'] as const).map((unit) => ({ unit, restart: restart(session.name, unit) })),
        { daemonReload: false, timeoutMs: timeout(ctx.timing, 'unitStart') },
      ),
    );
    if (ctx.nodes[0]) await waitForLeases(ctx, ctx.session(ctx.nodes[0]));
  },
  async check(ctx) {
    // Each controller's facts, kept for the leases: any API server that answers tells who holds them.
    const outputs = new Map<string, string>();
    const probes = await checkNodes(ctx, {
      facts: factsScript({ script: 'checks/control-plane-facts.sh', include: ['checks/lib-unit-health.sh', 'checks/lib-apiserver.sh'], timeout: 'factsScript' }),
      judge: (stdout, node) => {
        outputs.set(node.name, stdout);
        return controlPlaneProbes(ctx.plan, node, stdout, expectedControlPlaneFiles(ctx, node));
      },
    });
    const units = ctx.nodes.map((node) => ({ node: node.name, output: outputs.get(node.name) }));
    const answering = units.find((u) => u.output && (parseSections(u.output).get('leases') ?? '').includes(' '));
    return [...probes, ...leaseProbes(answering?.output ?? units[0]?.output, answering?.node ?? units[0]?.node, units)];
  },
};

function controllerName(env: CommandEnv, index: number): string {
  return env.plan.nodes.filter((n) => n.role === 'controller')[index]?.name ?? `controller-${index}`;
}

export const rbacStep: StepDefinition = {
  id: 'rbac',
  title: 'RBAC: let the API server reach the kubelets',
  explanation:
    'For `kubectl logs`, `exec` and `port-forward`, the API server connects to kubelets with its kubelet-client ' +
    'certificate. Kubelets ask the API server whether that user may, and by default it may not: a ClusterRole on the ' +
    'nodes/proxy, stats, log, spec and metrics subresources, bound to that user, fixes it.',
  roles: ['controller'],
  needsKubeBinaries: true,
  commands: (_env, node) =>
    node.index === 0
      ? [
          { node: node.name, command: `kubectl ${ADMIN} apply -f ${RBAC_MANIFEST}`, description: 'ClusterRole system:kube-apiserver-to-kubelet and its binding' },
          { node: node.name, command: `kubectl ${ADMIN} auth can-i get nodes --subresource=proxy --as=kube-apiserver-kubelet-client`, description: 'must say yes (nodes/proxy would ask about a node named "proxy")' },
        ]
      : [],
  async run(ctx) {
    const first = ctx.nodes[0];
    if (!first) throw new StepError('the plan has no controller');
    const session = ctx.session(first);
    const manifest = renderTemplate('steps/apiserver-to-kubelet-rbac.yaml', { kubeletClientUser: kubeletClientUser(ctx) });
    await session.syncFiles([{ content: manifest, remote: RBAC_MANIFEST, mode: 0o644 }]);
    await session.run(`kubectl ${ADMIN} apply -f ${RBAC_MANIFEST}`, { hint: 'the API server must be ready first: `hardway-lab check control-plane`' });
  },
  async check(ctx) {
    const first = ctx.nodes[0];
    if (!first) return [];
    try {
      const user = kubeletClientUser(ctx);
      const result = await ctx.session(first).script('checks/rbac-facts.sh', [user], { quietStdout: true });
      return rbacProbes(user, result.stdout, first.name);
    } catch (error) {
      return [unreachableProbe(first.name, error)];
    }
  },
};
