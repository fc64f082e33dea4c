// Step preflight: host preflight.

import { readFileSync, statfsSync } from 'node:fs';
import { freemem } from 'node:os';
import { ProviderError } from '../providers/provider.ts';
import { parseIpAddresses, parseIpRoutes, preflightProbes, type HostFacts } from '../checkers/host-preflight.ts';
import { HOST, type StepContext, type StepDefinition } from '../engine/step-definition.ts';

/** Base image and overlays: the base is shared, each node's overlay grows as it is used. */
const BASE_DISK_MIB = 2048;
const PER_NODE_DISK_MIB = 1024;

async function gatherHostFacts(ctx: StepContext): Promise<HostFacts> {
  const provider: HostFacts['provider'] = { name: ctx.plan.provider, warnings: [] };
  let running = new Set<string>();
  if (ctx.provider) {
    try {
      const report = await ctx.provider.preflight();
      provider.acceleration = report.acceleration;
      provider.warnings = report.warnings;
    } catch (error) {
      provider.error = error instanceof ProviderError ? error.message : (error as Error).message;
      if (error instanceof ProviderError && error.hint) provider.hint = error.hint;
    }
    try {
      running = new Set((await ctx.provider.status()).filter((s) => s.state === 'running' || s.state === 'starting').map((s) => s.node));
    } catch {
      running = new Set();
    }
  } else {
    provider.error = 'no provider was given to the engine';
    provider.hint = 'run through `hardway-lab up`, which creates the provider from the spec';
  }
  const notRunning = ctx.plan.nodes.filter((n) => !running.has(n.name));
  const disk = statfsSync(ctx.paths.root);
  const [routes, addresses] = await Promise.all([ctx.host.exec(['ip', '-j', 'route', 'show'], { quietStdout: true }), ctx.host.exec(['ip', '-j', '-4', 'addr', 'show'], { quietStdout: true })]);
  return {
    provider,
    memAvailableMiB: Math.floor(memAvailableBytes() / 1048576),
    neededMemoryMiB: notRunning.reduce((sum, n) => sum + n.memoryMiB, 0),
    diskFreeMiB: Math.floor((disk.bavail * disk.bsize) / 1048576),
    neededDiskMiB: BASE_DISK_MIB + PER_NODE_DISK_MIB * notRunning.length,
    routes: routes.code === 0 ? parseIpRoutes(routes.stdout) : [],
    interfaces: addresses.code === 0 ? parseIpAddresses(addresses.stdout) : [],
  };
}

function memAvailableBytes(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // Not Linux: the OS's own figure.
  }
  return freemem();
}

export const preflightStep: StepDefinition = {
  id: 'preflight',
  title: 'Host preflight',
  explanation:
    'Before any VM exists: is the virtualisation tool there, does KVM really work (or will the lab run under slow software ' +
    'emulation), is there memory and disk for every node, and are the lab\'s address ranges free on this host? A clash with ' +
    'a LAN or VPN route makes the lab unreachable in confusing ways, so it is caught here.',
  roles: [],
  needsKubeBinaries: false,
  commands: () => [],
  hostCommands: (env) => [
    { node: HOST, command: 'ls -l /dev/kvm && qemu-system-x86_64 --version', description: 'KVM device and QEMU present' },
    { node: HOST, command: "grep MemAvailable /proc/meminfo && df -h .", description: 'free memory and disk' },
    {
      node: HOST,
      command: 'ip route',
      description: `no route may fall into ${env.plan.network.nodeSubnet}, ${env.plan.network.podCidr} or ${env.plan.network.serviceCidr}, except the lab's own network`,
    },
  ],
  async run(ctx) {
    const facts = await gatherHostFacts(ctx);
    if (facts.provider.acceleration && facts.provider.acceleration !== 'kvm') {
      ctx.warn(`VMs will run under ${facts.provider.acceleration} (software emulation): expect every step to take several times longer than with KVM`);
    }
    for (const warning of facts.provider.warnings) ctx.warn(warning);
  },
  async check(ctx) {
    return preflightProbes(ctx.plan, await gatherHostFacts(ctx));
  },
};
