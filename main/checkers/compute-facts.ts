// The compute step's checker, from the output of provision/checks/compute-facts.sh: hostname, /etc/hosts,
// swap, the address each node talks from, and its clock.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';

/** Clock difference that breaks certificates and etcd leases in practice. */
export const MAX_CLOCK_SKEW_S = 60;

export function computeFactsArgs(plan: Plan): string[] {
  return plan.nodes.map((n) => `${n.name}=${n.ip}`);
}

export function computeProbes(plan: Plan, node: PlannedNode, output: string, hostEpochSeconds: number): Probe[] {
  const s = parseSections(output);
  const at = node.name;
  const probes: Probe[] = [];

  const hostname = (s.get('hostname') ?? '').trim();
  probes.push(
    probe({
      name: 'hostname',
      node: at,
      ok: hostname === node.name,
      expected: node.name,
      seen: hostname || '(empty)',
      hint: `set it on ${at}: \`hostnamectl set-hostname ${node.name}\` (or run \`hardway-lab up --step compute\`); the kubelet registers under this name`,
    }),
  );

  const ownResolve = resolved(s.get(`resolve ${node.name}`));
  probes.push(
    probe({
      name: 'own name resolves to the lab address',
      node: at,
      ok: ownResolve === node.ip,
      expected: `${node.name} → ${node.ip}`,
      seen: ownResolve ? `${node.name} → ${ownResolve}` : `${node.name} does not resolve`,
      hint:
        ownResolve === '127.0.1.1'
          ? `/etc/hosts on ${at} maps its name to 127.0.1.1 (a Debian default): remove that line and keep "${node.ip} ${node.name}" — copy the lab's /etc/hosts with \`hardway-lab up --step compute\``
          : `copy the lab's /etc/hosts to ${at} (\`hardway-lab up --step compute\`)`,
    }),
  );

  const wrong = plan.nodes
    .filter((other) => other.name !== node.name)
    .map((other) => ({ other, seen: resolved(s.get(`resolve ${other.name}`)) }))
    .filter((r) => r.seen !== r.other.ip);
  probes.push(
    probe({
      name: '/etc/hosts names every lab node',
      node: at,
      ok: wrong.length === 0,
      expected: plan.nodes
        .filter((o) => o.name !== node.name)
        .map((o) => `${o.name} → ${o.ip}`)
        .join(', '),
      seen: wrong.length === 0 ? 'all resolve to their lab addresses' : wrong.map((w) => `${w.other.name} → ${w.seen ?? 'unresolved'}`).join(', '),
      hint: `copy the lab's /etc/hosts to ${at} (\`hardway-lab up --step compute\`); nodes find each other by name without DNS`,
    }),
  );

  const swaps = (s.get('swaps') ?? '').trim();
  const fstabSwap = (s.get('fstab-swap') ?? '').trim();
  probes.push(
    probe({
      name: 'swap off',
      node: at,
      ok: swaps === '' && fstabSwap === '',
      expected: 'no active swap, none in /etc/fstab',
      seen: swaps || fstabSwap ? brief(`${swaps}${fstabSwap ? ` fstab: ${fstabSwap}` : ''}`) : 'no swap',
      hint: `on ${at}: \`swapoff -a\` and comment out the swap line in /etc/fstab (the kubelet refuses to start with swap on)`,
    }),
  );

  const others = plan.nodes.filter((o) => o.name !== node.name);
  const routes = others.map((o) => ({ other: o, line: (s.get(`route ${o.ip}`) ?? '').trim() }));
  const badRoutes = routes.filter((r) => sourceOf(r.line) !== node.ip);
  probes.push(
    probe({
      name: 'talks to other nodes from its lab address',
      node: at,
      ok: others.length === 0 || badRoutes.length === 0,
      expected: `\`ip route get <other node>\` uses src ${node.ip}`,
      seen:
        badRoutes.length === 0
          ? `src ${node.ip} (addresses: ${brief(s.get('addresses') ?? '', 120)})`
          : badRoutes.map((r) => `${r.other.ip}: ${r.line || 'no route'}`).join('; '),
      hint: `${at} reaches the lab through another interface or address (a NAT/management NIC?): give the lab NIC ${node.ip}/${plan.network.prefixLength} and make it the route to ${plan.network.nodeSubnet}; otherwise the kubelet registers the wrong INTERNAL-IP and \`kubectl logs/exec\` break`,
    }),
  );

  const epoch = Number((s.get('epoch') ?? '').trim());
  const skew = Number.isFinite(epoch) && epoch > 0 ? epoch - hostEpochSeconds : NaN;
  probes.push(
    probe({
      name: 'clock in sync with the host',
      node: at,
      ok: Number.isFinite(skew) && Math.abs(skew) <= MAX_CLOCK_SKEW_S,
      expected: `within ${MAX_CLOCK_SKEW_S} s of the host`,
      seen: Number.isFinite(skew) ? `${skew >= 0 ? '+' : ''}${Math.round(skew)} s` : 'unreadable',
      hint: `set the clock on ${at} (\`date -s @$(date +%s)\` from the host, or enable timesyncd); certificates "not yet valid" and etcd lease trouble follow from skew`,
    }),
  );
  return probes;
}

function resolved(section: string | undefined): string | undefined {
  const first = (section ?? '').trim().split(/\s+/)[0];
  return first ? first : undefined;
}

/** The `src` of an `ip -o route get` line. */
export function sourceOf(routeLine: string): string | undefined {
  return /\bsrc (\S+)/.exec(routeLine)?.[1];
}
