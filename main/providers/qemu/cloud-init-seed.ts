// For images that boot from their own disk (a public cloud image), the kernel command line cannot
// carry the node's settings, so they go in a cloud-init NoCloud seed instead: a read-only FAT drive
// labelled `cidata` with meta-data, user-data and network-config. Same contract as
// hardway-boot-config: hostname, root's authorized key, one static address.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabNetwork, PlannedNode } from '../../plan/address-plan.ts';

export interface SeedInput {
  labName: string;
  node: Pick<PlannedNode, 'name' | 'ip' | 'mac'>;
  network: Pick<LabNetwork, 'gateway' | 'prefixLength'>;
  sshPublicKey: string;
}

export function renderSeed(input: SeedInput): { metaData: string; userData: string; networkConfig: string } {
  const { node, network } = input;
  const key = JSON.stringify(input.sshPublicKey.trim());
  const metaData = `instance-id: hardway-${input.labName}-${node.name}\nlocal-hostname: ${node.name}\n`;
  const userData = [
    '#cloud-config',
    `hostname: ${node.name}`,
    'manage_etc_hosts: true',
    'disable_root: false',
    'ssh_pwauth: false',
    'users:',
    '  - name: root',
    '    lock_passwd: true',
    `    ssh_authorized_keys: [${key}]`,
    '',
  ].join('\n');
  const networkConfig = [
    'version: 2',
    'ethernets:',
    '  lab0:',
    '    match:',
    `      macaddress: "${node.mac}"`,
    '    set-name: eth0',
    `    addresses: [${node.ip}/${network.prefixLength}]`,
    '    routes:',
    `      - to: default`,
    `        via: ${network.gateway}`,
    '',
  ].join('\n');
  return { metaData, userData, networkConfig };
}

export async function writeSeed(dir: string, input: SeedInput): Promise<void> {
  const seed = renderSeed(input);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'meta-data'), seed.metaData);
  await writeFile(join(dir, 'user-data'), seed.userData);
  await writeFile(join(dir, 'network-config'), seed.networkConfig);
}
