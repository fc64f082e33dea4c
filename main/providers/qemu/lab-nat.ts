// A connected lab (network.nat: true) on the qemu provider: the host forwards the lab bridge's
// traffic and masquerades it behind its own address, the way libvirt's `<forward mode='nat'/>`
// does. Three iptables rules, each tagged with the bridge's name so that they are found again and
// removed by destroy (or when the spec turns nat off), and IPv4 forwarding on. Off by default:
// an isolated lab needs nothing from outside and sends nothing onto the user's network.

import { writeFileSync, readFileSync } from 'node:fs';
import { formatCommand, lastLines, runCommand } from '../../image/run-command.ts';
import { ProviderError } from '../provider.ts';

/** The rules for one lab bridge: [table, chain, match-and-target...]. */
export function natRules(bridge: string, subnet: string): Array<{ table: string; chain: string; rule: string[] }> {
  const tag = ['-m', 'comment', '--comment', `hardway-lab ${bridge}`];
  return [
    { table: 'nat', chain: 'POSTROUTING', rule: ['-s', subnet, '!', '-o', bridge, ...tag, '-j', 'MASQUERADE'] },
    { table: 'filter', chain: 'FORWARD', rule: ['-i', bridge, '!', '-o', bridge, ...tag, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'FORWARD', rule: ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'] },
  ];
}

async function iptables(args: string[]): Promise<{ code: number | null; output: string }> {
  const argv = ['iptables', '-w', '10', ...args];
  const result = await runCommand(argv).catch((error: Error) => {
    throw new ProviderError(`network.nat needs iptables, which cannot run here (${error.message})`, { command: formatCommand(argv), hint: 'install it: sudo apt-get install iptables; or set network.nat: false' });
  });
  return { code: result.code, output: result.output };
}

/** Adds what is missing (idempotent) and turns IPv4 forwarding on; returns a note when it changed a host setting. */
export async function enableNat(bridge: string, subnet: string): Promise<string | undefined> {
  for (const { table, chain, rule } of natRules(bridge, subnet)) {
    if ((await iptables(['-t', table, '-C', chain, ...rule])).code === 0) continue;
    // Inserted first, so that a host firewall's own FORWARD rules (Docker's, for one) come after.
    const added = await iptables(['-t', table, '-I', chain, '1', ...rule]);
    if (added.code !== 0) {
      throw new ProviderError(`could not add the NAT rule for the lab network (${table} ${chain})`, { command: formatCommand(['iptables', '-t', table, '-I', chain, '1', ...rule]), output: lastLines(added.output, 10), hint: 'run as root; or set network.nat: false' });
    }
  }
  const file = '/proc/sys/net/ipv4/ip_forward';
  if (readFileSync(file, 'utf8').trim() === '1') return undefined;
  writeFileSync(file, '1\n');
  return 'network.nat: turned on IPv4 forwarding on this host (net.ipv4.ip_forward=1); it stays on until the next reboot';
}

/** Removes every rule of this bridge (none is an error: an isolated lab never had them). */
export async function disableNat(bridge: string, subnet: string): Promise<void> {
  if (!(await runCommand(['iptables', '--version']).catch(() => undefined))) return;
  for (const { table, chain, rule } of natRules(bridge, subnet)) {
    for (let i = 0; i < 10 && (await iptables(['-t', table, '-C', chain, ...rule])).code === 0; i++) await iptables(['-t', table, '-D', chain, ...rule]);
  }
}
