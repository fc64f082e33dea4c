// Step pod-routes: routes to every worker's pod CIDR, on every node, persisted.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseRoutes, podTrafficProbe, routeProbes, type PodTrafficResult } from '../checkers/pod-routes.ts';
import { unreachableProbe } from '../checkers/probe.ts';
import { renderedFilePath } from '../lab/lab-dir.ts';
import type { PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import type { StepContext, StepDefinition } from '../engine/step-definition.ts';
import { byTemplate, copyCommands, ensureServices, syncJobs, touches } from './step-support.ts';
import { timeout } from '../engine/timeouts.ts';

const ROUTE_FILES = byTemplate('common/pod-routes', 'common/hardway-pod-routes.sh', 'systemd/hardway-pod-routes.service');
const ROUTES_FILE = '/etc/hardway/pod-routes';
const UNIT_FILE = '/etc/systemd/system/hardway-pod-routes.service';
/** The stand-in pods' namespace name on the workers (removed again after each check). */
export const PROBE_NETNS = 'hwl-probe';

async function podTraffic(ctx: StepContext, a: PlannedNode, b: PlannedNode): Promise<PodTrafficResult[]> {
  const sa = ctx.session(a);
  const sb = ctx.session(b);
  const timeoutMs = timeout(ctx.timing, 'shortCommand');
  try {
    const [addA, addB] = await Promise.all([sa.script('checks/pod-netns.sh', ['add', PROBE_NETNS], { timeoutMs }), sb.script('checks/pod-netns.sh', ['add', PROBE_NETNS], { timeoutMs })]);
    const ipA = addA.stdout.trim().split('\n').pop();
    const ipB = addB.stdout.trim().split('\n').pop();
    if (addA.code !== 0 || addB.code !== 0 || !ipA || !ipB) {
      const why = [addA.code !== 0 || !ipA ? `${a.name}: ${(addA.stderr || addA.stdout).trim()}` : '', addB.code !== 0 || !ipB ? `${b.name}: ${(addB.stderr || addB.stdout).trim()}` : '']
        .filter(Boolean)
        .join('; ');
      const failed = `could not create the stand-in pods (${why})`;
      return [
        { from: a, to: b, output: failed, ok: false, setupFailed: true },
        { from: b, to: a, output: failed, ok: false, setupFailed: true },
      ];
    }
    const [ab, ba] = await Promise.all([sa.script('checks/pod-netns.sh', ['ping', PROBE_NETNS, ipB], { timeoutMs }), sb.script('checks/pod-netns.sh', ['ping', PROBE_NETNS, ipA], { timeoutMs })]);
    return [
      { from: a, to: b, fromPodIp: ipA, toPodIp: ipB, output: `${ab.stdout}${ab.stderr}`, ok: ab.code === 0 },
      { from: b, to: a, fromPodIp: ipB, toPodIp: ipA, output: `${ba.stdout}${ba.stderr}`, ok: ba.code === 0 },
    ];
  } finally {
    await Promise.allSettled([sa.script('checks/pod-netns.sh', ['del', PROBE_NETNS], { timeoutMs }), sb.script('checks/pod-netns.sh', ['del', PROBE_NETNS], { timeoutMs })]);
  }
}

export const podRoutesStep: StepDefinition = {
  id: 'pod-routes',
  title: 'Pod network routes',
  explanation:
    'Each worker hands out pod addresses from its own /24 (worker N: 10.200.N.0/24 by default). For a pod on one worker to ' +
    'reach a pod on another, every node needs a route "that /24 via that worker". The hard-way guides add these by hand ' +
    'and a reboot loses them; here a small unit re-applies them at boot. The checker proves it with real packets: two ' +
    'stand-in pods (network namespaces wired by the CNI bridge plugin) on different workers ping each other.',
  roles: ['lb', 'controller', 'worker'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    ...env.plan.routes.filter((r) => r.node === node.name).map((r) => ({ node: node.name, command: `ip route add ${r.destination} via ${r.via}`, description: `pods on ${r.owner}` })),
    ...copyCommands(env, node, ROUTE_FILES),
    { node: node.name, command: 'systemctl daemon-reload && systemctl enable hardway-pod-routes', description: 'the same routes at every boot' },
  ],
  async run(ctx) {
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const changed = await session.syncFiles(syncJobs(ctx.paths, session.node, ROUTE_FILES));
      const current = parseRoutes((await session.run('ip -o -4 route show', { quietStdout: true })).stdout);
      const missing = ctx.plan.routes.filter((r) => r.node === session.name && current.find((c) => c.destination === r.destination)?.via !== r.via);
      // Restarting the oneshot unit runs the routes script, exactly what happens at boot.
      await ensureServices(session, [{ unit: 'hardway-pod-routes', restart: missing.length > 0 || touches(changed, [ROUTES_FILE]) }], {
        daemonReload: touches(changed, [UNIT_FILE]),
      });
      if (missing.length === 0) session.info('every route already in place');
    });
  },
  async check(ctx) {
    const probes: Probe[] = [];
    await Promise.all(
      ctx.nodes.map(async (node) => {
        try {
          const session = ctx.session(node);
          const facts = await session.runScript('checks/route-facts.sh', [], { quietStdout: true });
          const fileFact = (await session.fileFacts([ROUTES_FILE])).get(ROUTES_FILE);
          const want = createHash('sha256').update(readFileSync(renderedFilePath(ctx.paths, node.name, ROUTES_FILE))).digest('hex');
          probes.push(...routeProbes(ctx.plan, node, facts.stdout, fileFact?.sha256 === want));
        } catch (error) {
          probes.push(unreachableProbe(node.name, error));
        }
      }),
    );
    const workers = ctx.plan.nodes.filter((n) => n.role === 'worker');
    if (workers.length >= 2) {
      try {
        for (const result of await podTraffic(ctx, workers[0]!, workers[1]!)) probes.push(podTrafficProbe(ctx.plan, result));
      } catch (error) {
        probes.push(unreachableProbe(workers[0]!.name, error, 'pod traffic between workers'));
      }
    }
    const order = new Map(ctx.plan.nodes.map((n, i) => [n.name, i]));
    return probes.sort((x, y) => (order.get(x.node ?? '') ?? 99) - (order.get(y.node ?? '') ?? 99));
  },
};
