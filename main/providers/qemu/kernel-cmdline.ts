// The kernel command line is the one channel from the host into a node at boot: the image reads
// hardway.hostname, hardway.ssh_key and (connected labs) hardway.dns, and applies ip= (see provision/image/rootfs/usr/local/sbin/
// hardway-boot-config). Nothing is written into the node's disk from outside.

import type { LabNetwork, PlannedNode } from '../../plan/address-plan.ts';

/** x86 COMMAND_LINE_SIZE is 2048 bytes including the terminating NUL. */
export const MAX_KERNEL_CMDLINE = 2047;

export interface KernelCmdlineInput {
  node: Pick<PlannedNode, 'name' | 'ip'>;
  network: Pick<LabNetwork, 'gateway' | 'netmask'>;
  /** One authorized_keys line, e.g. `ssh-ed25519 AAAA... hardway-lab`. */
  sshPublicKey: string;
  rootDevice?: string;
  /** Resolvers for /etc/resolv.conf (connected labs only, network.nat); none: the node resolves nothing outside. */
  dns?: readonly string[];
}

export function renderKernelCmdline(input: KernelCmdlineInput): string {
  const { node, network } = input;
  const key = input.sshPublicKey.trim();
  if (key.includes('\n')) throw new Error('the lab SSH public key must be a single authorized_keys line');
  const args = [
    `root=${input.rootDevice ?? '/dev/vda'}`,
    'rw',
    'console=ttyS0,115200',
    // eth0 is what ip= names; predictable names would make it ens3 or enp0s3 depending on the machine type.
    'net.ifnames=0',
    'biosdevname=0',
    `ip=${node.ip}::${network.gateway}:${network.netmask}:${node.name}:eth0:off`,
    `hardway.hostname=${node.name}`,
    `hardway.ssh_key=${Buffer.from(key, 'utf8').toString('base64')}`,
    ...(input.dns?.length ? [`hardway.dns=${input.dns.join(',')}`] : []),
  ];
  const line = args.join(' ');
  if (line.length > MAX_KERNEL_CMDLINE) {
    throw new Error(`the kernel command line for ${node.name} is ${line.length} bytes, over the ${MAX_KERNEL_CMDLINE}-byte limit (is the SSH public key unusually long?)`);
  }
  return line;
}

/** Reads one `key=value` word back from a command line (the inverse of the above, for tests and tools). */
export function cmdlineValue(cmdline: string, key: string): string | undefined {
  for (const word of cmdline.split(/\s+/)) {
    if (word.startsWith(`${key}=`)) return word.slice(key.length + 1);
  }
  return undefined;
}
