// The JSON the engine writes into <lab>/vagrant/lab.json for the Vagrantfile to read: every node of
// the plan with its address, MAC and size, the network, the box and the lab's SSH key. The
// Vagrantfile (vagrant/Vagrantfile) stays a plain, editable Ruby file; all it knows of the lab
// comes from here. A pure function of the plan and options.

import type { Plan } from '../../plan/address-plan.ts';

export const VAGRANT_LAB_FILE_SCHEMA = 1;
export const DEFAULT_BOX_NAME = 'hardway-lab/bookworm';
/** vagrant-libvirt's own default management subnet. */
export const DEFAULT_MANAGEMENT_SUBNET = '192.168.121.0/24';

export interface VagrantLabFile {
  schema: number;
  lab: string;
  labDir: string;
  box: { name: string; version?: string };
  ssh: { privateKeyPath: string; publicKey: string };
  libvirt: {
    uri: string;
    /** `kvm`, or `qemu` when KVM cannot boot a guest here (software emulation). */
    driver: 'kvm' | 'qemu';
    /** The lab network (static addresses, no DHCP), shared by every node. */
    labNetwork: string;
    /** vagrant-libvirt's DHCP network: how it learns a VM is up (see docs/vagrant.md). */
    managementNetwork: string;
    managementSubnet: string;
  };
  /** nat: the lab network is libvirt-NATed (network.nat: true); dns: the nodes' resolvers then. */
  network: { subnet: string; gateway: string; netmask: string; prefixLength: number; nat: boolean; dns: string[] };
  nodes: Array<{
    name: string;
    role: string;
    ip: string;
    mac: string;
    cpus: number;
    memoryMiB: number;
    diskGiB: number;
    /** Where the node's serial console is logged. */
    consoleLog: string;
  }>;
}

export interface VagrantLabFileOptions {
  labDir: string;
  /** The per-lab Vagrant directory (holds the Vagrantfile, lab.json, .vagrant and console logs). */
  vagrantDir: string;
  privateKeyPath: string;
  publicKey: string;
  boxName?: string;
  boxVersion?: string;
  uri: string;
  driver: 'kvm' | 'qemu';
  managementSubnet?: string;
  /** network.nat and the resolvers for it (see host-resolvers.ts). */
  nat?: boolean;
  dns?: string[];
}

export function renderVagrantLabFile(plan: Plan, options: VagrantLabFileOptions): VagrantLabFile {
  return {
    schema: VAGRANT_LAB_FILE_SCHEMA,
    lab: plan.labName,
    labDir: options.labDir,
    box: { name: options.boxName ?? DEFAULT_BOX_NAME, ...(options.boxVersion ? { version: options.boxVersion } : {}) },
    ssh: { privateKeyPath: options.privateKeyPath, publicKey: options.publicKey.trim() },
    libvirt: {
      uri: options.uri,
      driver: options.driver,
      labNetwork: `${plan.labName}-vagrant-lab`,
      managementNetwork: `${plan.labName}-vagrant-mgmt`,
      managementSubnet: options.managementSubnet ?? DEFAULT_MANAGEMENT_SUBNET,
    },
    network: {
      subnet: plan.network.nodeSubnet,
      gateway: plan.network.gateway,
      netmask: plan.network.netmask,
      prefixLength: plan.network.prefixLength,
      nat: options.nat ?? false,
      dns: options.dns ?? [],
    },
    nodes: plan.nodes.map((node) => ({
      name: node.name,
      role: node.role,
      ip: node.ip,
      mac: node.mac,
      cpus: node.cpus,
      memoryMiB: node.memoryMiB,
      diskGiB: node.diskGiB,
      consoleLog: `${options.vagrantDir}/${node.name}/console.log`,
    })),
  };
}
