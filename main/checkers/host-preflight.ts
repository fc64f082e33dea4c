// The preflight step: can this host run the lab? Provider tools, acceleration, memory, disk, and no clash
// between the lab's address ranges and the host's own routes. Pure: the facts come in, probes out.

import type { Plan } from '../plan/address-plan.ts';
import { cidrsOverlap, parseCidr, type Cidr } from '../plan/ipv4.ts';
import type { Probe } from '../shared/engine-types.ts';
import { probe } from './probe.ts';

export interface HostRoute {
  dst: string;
  dev?: string;
}

export interface HostInterface {
  ifname: string;
  /** `a.b.c.d/n` */
  addresses: string[];
}

export interface HostFacts {
  provider: { name: string; acceleration?: string; warnings: string[]; error?: string; hint?: string };
  memAvailableMiB: number;
  /** Memory of the VMs that are not running yet (running ones already hold theirs). */
  neededMemoryMiB: number;
  diskFreeMiB: number;
  neededDiskMiB: number;
  routes: HostRoute[];
  interfaces: HostInterface[];
}

/** Parses `ip -j route show`. */
export function parseIpRoutes(json: string): HostRoute[] {
  const parsed = JSON.parse(json || '[]') as { dst?: string; dev?: string }[];
  return parsed.filter((r) => typeof r.dst === 'string').map((r) => ({ dst: r.dst!, dev: r.dev }));
}

/** Parses `ip -j -4 addr show`. */
export function parseIpAddresses(json: string): HostInterface[] {
  const parsed = JSON.parse(json || '[]') as { ifname: string; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[];
  return parsed.map((i) => ({
    ifname: i.ifname,
    addresses: (i.addr_info ?? []).filter((a) => a.family === undefined || a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  }));
}

function routeCidr(dst: string): Cidr | undefined {
  if (dst === 'default') return undefined;
  return parseCidr(dst.includes('/') ? dst : `${dst}/32`);
}

export function preflightProbes(plan: Plan, facts: HostFacts): Probe[] {
  const probes: Probe[] = [];
  const p = facts.provider;
  probes.push(
    probe({
      name: `${p.name} provider tools`,
      ok: !p.error,
      expected: `everything the ${p.name} provider needs is installed and usable`,
      seen: p.error ?? (p.warnings.length ? `ok; warnings: ${p.warnings.join('; ')}` : 'ok'),
      hint: p.hint ?? `install what the message names, or pick another provider in hardway-lab.yaml (provider: qemu | libvirt | vagrant)`,
    }),
  );
  if (p.acceleration !== undefined) {
    probes.push(
      probe({
        name: 'acceleration',
        ok: true,
        expected: 'KVM, or software emulation (TCG) with a warning',
        seen: p.acceleration === 'kvm' ? 'kvm' : `${p.acceleration}: software emulation, every step is several times slower than with KVM`,
        hint: '',
      }),
    );
  }
  probes.push(
    probe({
      name: 'free memory',
      ok: facts.memAvailableMiB >= facts.neededMemoryMiB,
      expected: `at least ${facts.neededMemoryMiB} MiB available for the VMs that are not running yet`,
      seen: `${facts.memAvailableMiB} MiB available`,
      hint: 'close other programs, or lower nodes.<role>.memoryMiB (or pick the minimal preset) in hardway-lab.yaml',
    }),
  );
  probes.push(
    probe({
      name: 'free disk',
      ok: facts.diskFreeMiB >= facts.neededDiskMiB,
      expected: `at least ${facts.neededDiskMiB} MiB free for the lab directory`,
      seen: `${facts.diskFreeMiB} MiB free`,
      hint: 'free disk space, or put the lab on a larger disk with --lab DIR',
    }),
  );

  const labRanges: [string, string][] = [
    ['node subnet', plan.network.nodeSubnet],
    ['pod CIDR', plan.network.podCidr],
    ['service CIDR', plan.network.serviceCidr],
  ];
  // An interface holding the lab gateway address is the lab's own network (a bridge we made).
  const labDevices = new Set(facts.interfaces.filter((i) => i.addresses.some((a) => a.split('/')[0] === plan.network.gateway)).map((i) => i.ifname));
  for (const [label, range] of labRanges) {
    const cidr = parseCidr(range)!;
    const clashes = facts.routes.filter((r) => {
      const rc = routeCidr(r.dst);
      return rc !== undefined && cidrsOverlap(rc, cidr) && !(r.dev && labDevices.has(r.dev));
    });
    probes.push(
      probe({
        name: `no host route overlaps the ${label}`,
        ok: clashes.length === 0,
        expected: `no route on this host into ${range} except the lab's own network`,
        seen: clashes.length ? clashes.map((c) => `${c.dst}${c.dev ? ` dev ${c.dev}` : ''}`).join(', ') : 'none',
        hint: `the lab's ${label} ${range} is already used on this host (a LAN, VPN or container network): pick a free range for network.${
          label === 'node subnet' ? 'nodeSubnet' : label === 'pod CIDR' ? 'podCidr' : 'serviceCidr'
        } in hardway-lab.yaml`,
      }),
    );
  }
  return probes;
}
