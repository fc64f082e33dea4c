// The lab network on the host: one Linux bridge per lab holding the gateway address (.1, the host
// side), and one persistent tap per node enslaved to it. Names are derived from the lab, so a
// second run finds (and destroy removes) exactly what the first one made.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ProviderError } from '../provider.ts';
import { formatCommand, lastLines, runCommand } from '../../image/run-command.ts';

/** Linux interface names are at most 15 characters (IFNAMSIZ - 1). */
const IFNAME_MAX = 15;

/** `hwl-` + 10 hex digits of the lab's identity (its name and directory). */
export function bridgeNameFor(labName: string, labRoot: string): string {
  return `hwl-${shortHash(`${labName}\n${labRoot}`, 10)}`;
}

/** `hwt-` + 10 hex digits of the lab and the node. */
export function tapNameFor(labName: string, labRoot: string, node: string): string {
  return `hwt-${shortHash(`${labName}\n${labRoot}\n${node}`, 10)}`;
}

function shortHash(text: string, length: number): string {
  const name = createHash('sha256').update(text).digest('hex').slice(0, length);
  if (name.length + 4 > IFNAME_MAX) throw new Error('internal: interface name too long');
  return name;
}

async function ip(args: string[], what: string, node?: string): Promise<string> {
  const argv = ['ip', ...args];
  const result = await runCommand(argv).catch((error: Error) => {
    throw new ProviderError(`${what}: cannot run ip (${error.message})`, { node, command: formatCommand(argv), hint: 'install iproute2: sudo apt-get install iproute2' });
  });
  if (result.code !== 0) {
    throw new ProviderError(`${what} failed`, {
      node,
      command: formatCommand(argv),
      output: lastLines(result.output, 10),
      hint: 'creating bridges and taps needs root or CAP_NET_ADMIN; run the app as root, or use the libvirt provider',
    });
  }
  return result.stdout;
}

export async function linkExists(name: string): Promise<boolean> {
  const result = await runCommand(['ip', '-o', 'link', 'show', 'dev', name]).catch(() => undefined);
  return result?.code === 0;
}

/** Creates the bridge with the gateway address if needed and brings it up. Idempotent. */
export async function ensureBridge(bridge: string, gatewayCidr: string): Promise<void> {
  if (!(await linkExists(bridge))) {
    await ip(['link', 'add', 'name', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0'], `creating bridge ${bridge}`);
  }
  await ip(['addr', 'replace', gatewayCidr, 'dev', bridge], `giving bridge ${bridge} the address ${gatewayCidr}`);
  await ip(['link', 'set', 'dev', bridge, 'up'], `bringing up bridge ${bridge}`);
}

/** Creates the node's persistent tap on the bridge if needed. Idempotent. */
export async function ensureTap(tap: string, bridge: string, node: string): Promise<void> {
  if (!(await linkExists(tap))) {
    await ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap'], `creating tap ${tap}`, node);
  }
  await ip(['link', 'set', 'dev', tap, 'master', bridge], `attaching tap ${tap} to bridge ${bridge}`, node);
  await ip(['link', 'set', 'dev', tap, 'up'], `bringing up tap ${tap}`, node);
}

export async function deleteLink(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  await ip(['link', 'delete', 'dev', name], `deleting ${name}`);
}

/** Interfaces other than `except` that hold an IPv4 address inside the given subnet. */
export async function addressesInSubnet(contains: (ip: string) => boolean, except: string): Promise<Array<{ dev: string; cidr: string }>> {
  const result = await runCommand(['ip', '-4', '-o', 'addr', 'show']).catch(() => undefined);
  if (!result || result.code !== 0) return [];
  const found: Array<{ dev: string; cidr: string }> = [];
  for (const line of result.stdout.split('\n')) {
    // "3: eth0    inet 10.0.0.2/24 brd ... scope global eth0"
    const m = /^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(line);
    if (!m) continue;
    const dev = m[1]!.replace(/@.*/, '');
    if (dev === except) continue;
    if (contains(m[2]!)) found.push({ dev, cidr: `${m[2]}/${m[3]}` });
  }
  return found;
}

/** Whether this process may create network devices: root, or CAP_NET_ADMIN in its effective set. */
export function canAdministerNetwork(): boolean {
  if (process.getuid?.() === 0) return true;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)/m.exec(status);
    if (!m) return false;
    const CAP_NET_ADMIN = 12n;
    return ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  } catch {
    return false;
  }
}
