// The pod-routes step's checker: every node routes each other worker's pod CIDR via that worker, the routes are
// persisted (unit enabled, routes file in place), and real packets flow between stand-in pods on
// two different workers.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';

const RERUN = 'run `hardway-lab up --step pod-routes`';

export interface ParsedRoute {
  destination: string;
  via?: string;
  dev?: string;
}

/** Parses `ip -o -4 route show` lines. */
export function parseRoutes(text: string): ParsedRoute[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((line) => {
      const words = line.split(/\s+/);
      const after = (key: string) => {
        const i = words.indexOf(key);
        return i >= 0 ? words[i + 1] : undefined;
      };
      return { destination: words[0]!, via: after('via'), dev: after('dev') };
    });
}

export function routeProbes(plan: Plan, node: PlannedNode, output: string, routesFileMatches: boolean): Probe[] {
  const s = parseSections(output);
  const routes = parseRoutes(s.get('routes') ?? '');
  const probes: Probe[] = [];
  for (const planned of plan.routes.filter((r) => r.node === node.name)) {
    const found = routes.find((r) => r.destination === planned.destination);
    probes.push(
      probe({
        name: `route to ${planned.owner}'s pods`,
        node: node.name,
        ok: found?.via === planned.via,
        expected: `${planned.destination} via ${planned.via} (${planned.owner})`,
        seen: found ? `${found.destination}${found.via ? ` via ${found.via}` : ''}${found.dev ? ` dev ${found.dev}` : ''}` : 'no route',
        hint: found
          ? `the route points at the wrong next hop: on ${node.name} \`ip route replace ${planned.destination} via ${planned.via}\` (${RERUN})`
          : `pods on ${node.name} cannot reach pods on ${planned.owner}: on ${node.name} \`ip route add ${planned.destination} via ${planned.via}\`, or ${RERUN} (which also makes it survive a reboot)`,
      }),
    );
  }
  const enabledText = (s.get('enabled') ?? '').trim();
  const enabled = /^(enabled|disabled|static|masked)$/.test(enabledText) ? enabledText : 'not installed';
  probes.push(
    probe({
      name: 'routes survive a reboot',
      node: node.name,
      ok: enabled === 'enabled' && routesFileMatches,
      expected: 'hardway-pod-routes.service enabled, /etc/hardway/pod-routes as planned',
      seen: `unit ${enabled}, routes file ${routesFileMatches ? 'as planned' : 'missing or different'}`,
      hint: 'routes added by hand vanish at the next boot: `hardway-lab up --step pod-routes` installs and enables hardway-pod-routes.service',
    }),
  );
  return probes;
}

export interface PodTrafficResult {
  from: PlannedNode;
  to: PlannedNode;
  fromPodIp?: string;
  toPodIp?: string;
  /** ping output, or why the stand-in pods could not be made. */
  output: string;
  ok: boolean;
  /** The stand-in pods could not be created (CNI missing): a different fix. */
  setupFailed?: boolean;
}

export function podTrafficProbe(plan: Plan, result: PodTrafficResult): Probe {
  const { from, to } = result;
  const routeMissing = !plan.routes.some((r) => r.node === from.name && r.owner === to.name);
  return probe({
    name: `pod traffic ${from.name} → ${to.name}`,
    node: from.name,
    ok: result.ok,
    expected: `a pod on ${from.name} (${from.podCidr}) pings a pod on ${to.name} (${result.toPodIp ?? to.podCidr})`,
    seen: result.ok ? brief(lastLines(result.output, 2), 160) : brief(result.output, 240),
    hint: result.setupFailed
      ? `the stand-in pods need the CNI plugins and the bridge config on both workers: \`hardway-lab up --step workers\` first`
      : routeMissing
        ? 'the plan has no route for this pair'
        : `check the routes on both workers (${RERUN}), \`sysctl net.ipv4.ip_forward\` = 1 and \`iptables -S FORWARD\` (policy DROP breaks cross-node pods) on ${from.name} and ${to.name}`,
  });
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
