// libvirt network and domain XML for a lab, as pure functions of the plan: same plan and options,
// same bytes. Nothing here touches the disk or libvirt, so it is all unit-testable.

import { createHash } from 'node:crypto';
import type { Plan, PlannedNode } from '../../plan/address-plan.ts';

/**
 * How the lab network reaches beyond the host.
 * - `isolated` (default): host ↔ VMs and VM ↔ VM only. The lab needs nothing more: the engine copies
 *   every binary over SSH from the host, the host reaches the API on the lab IP, and pod routes stay
 *   on the bridge. Nothing from the lab can leak onto the user's LAN.
 * - `nat`: libvirt masquerades VM traffic out of the host, for people who want `apt install` inside a node.
 */
export type LabForwardMode = 'isolated' | 'nat';

/** `kvm` when the KVM probe booted a guest, else `qemu` (TCG, software emulation). */
export type DomainType = 'kvm' | 'qemu';

export interface LibvirtNames {
  network: string;
  bridge: string;
  domain(node: string): string;
}

/** Names as `virsh list` / `virsh net-list` show them, prefixed with the lab name so people see whose they are. */
export function libvirtNames(labName: string): LibvirtNames {
  // Linux caps interface names at 15 bytes, so the bridge carries a hash of the lab name, not the name.
  const tag = createHash('sha256').update(labName).digest('hex').slice(0, 8);
  return {
    network: `${labName}-net`,
    bridge: `hwlv-${tag}`,
    domain: (node) => `${labName}-${node}`,
  };
}

export interface NetworkXmlOptions {
  forward?: LabForwardMode;
}

export function renderNetworkXml(plan: Plan, options: NetworkXmlOptions = {}): string {
  const names = libvirtNames(plan.labName);
  const forward = options.forward ?? 'isolated';
  return [
    '<network>',
    `  <name>${xmlText(names.network)}</name>`,
    `  <bridge name='${names.bridge}' stp='off' delay='0'/>`,
    // No <forward> element is libvirt's "isolated" network.
    ...(forward === 'nat' ? ["  <forward mode='nat'/>"] : []),
    // Static addresses from the plan: no DHCP, and no DNS either, so libvirt starts no dnsmasq at all.
    "  <dns enable='no'/>",
    `  <ip address='${plan.network.gateway}' netmask='${plan.network.netmask}'/>`,
    '</network>',
    '',
  ].join('\n');
}

export interface NodeFiles {
  /** The node's copy-on-write disk, backed by the base image. */
  overlay: string;
  kernel: string;
  initrd: string;
  /** Where the serial console is logged (by virtlogd). */
  consoleLog: string;
}

export interface DomainXmlOptions {
  type: DomainType;
  files: NodeFiles;
  /** The full kernel command line (see guestKernelCmdline). */
  cmdline: string;
  /**
   * A fixed uid:gid for QEMU (in practice root, when the lab runs as root): libvirt's system daemon
   * otherwise runs QEMU as its own user (libvirt-qemu), which cannot enter root's 0700 home where the
   * image cache lives. Left out, libvirt's default user and relabelling apply.
   */
  runAs?: { uid: number; gid: number };
  /** The lab directory, recorded in the domain metadata so `destroy` finds the lab's domains. */
  labDir: string;
  /** TCG translation cache; larger caches help a lot for a kernel-sized guest. */
  tcgTbCacheMiB?: number;
}

export const HARDWAY_XML_NAMESPACE = 'https://hardway-lab.dev/libvirt/1';

export function renderDomainXml(plan: Plan, node: PlannedNode, options: DomainXmlOptions): string {
  const names = libvirtNames(plan.labName);
  const { files } = options;
  // KVM can pass the host CPU through; TCG emulates, and `maximum` is every feature TCG can emulate
  // (QEMU's `-cpu max`). host-model does not exist without KVM.
  const cpu = options.type === 'kvm' ? "<cpu mode='host-passthrough' check='none' migratable='off'/>" : "<cpu mode='maximum' check='none'/>";
  const tcgFeatures =
    options.type === 'qemu' ? ['    <tcg>', `      <tb-cache unit='MiB'>${options.tcgTbCacheMiB ?? 128}</tb-cache>`, '    </tcg>'] : [];
  return [
    `<domain type='${options.type}'>`,
    `  <name>${xmlText(names.domain(node.name))}</name>`,
    `  <title>${xmlText(`Hardway Lab ${plan.labName}: ${node.name} (${node.role}, ${node.ip})`)}</title>`,
    '  <metadata>',
    `    <hardway:node xmlns:hardway='${HARDWAY_XML_NAMESPACE}' lab='${xmlAttr(plan.labName)}' node='${xmlAttr(node.name)}' labDir='${xmlAttr(options.labDir)}'/>`,
    '  </metadata>',
    `  <memory unit='MiB'>${node.memoryMiB}</memory>`,
    `  <vcpu placement='static'>${node.cpus}</vcpu>`,
    '  <os>',
    "    <type arch='x86_64' machine='pc'>hvm</type>",
    `    <kernel>${xmlText(files.kernel)}</kernel>`,
    `    <initrd>${xmlText(files.initrd)}</initrd>`,
    `    <cmdline>${xmlText(options.cmdline)}</cmdline>`,
    '  </os>',
    '  <features>',
    // ACPI lets `virsh shutdown` ask the guest to power off cleanly.
    '    <acpi/>',
    '    <apic/>',
    ...tcgFeatures,
    '  </features>',
    `  ${cpu}`,
    "  <clock offset='utc'/>",
    '  <on_poweroff>destroy</on_poweroff>',
    '  <on_reboot>restart</on_reboot>',
    '  <on_crash>destroy</on_crash>',
    '  <devices>',
    "    <disk type='file' device='disk'>",
    "      <driver name='qemu' type='qcow2' discard='unmap'/>",
    `      <source file='${xmlAttr(files.overlay)}'/>`,
    "      <target dev='vda' bus='virtio'/>",
    '    </disk>',
    "    <interface type='network'>",
    `      <mac address='${node.mac}'/>`,
    `      <source network='${xmlAttr(names.network)}'/>`,
    "      <model type='virtio'/>",
    '    </interface>',
    // A pty for `virsh console`, logged to a file by virtlogd so the log survives the VM.
    "    <serial type='pty'>",
    `      <log file='${xmlAttr(files.consoleLog)}' append='off'/>`,
    "      <target type='isa-serial' port='0'/>",
    '    </serial>',
    "    <console type='pty'>",
    "      <target type='serial' port='0'/>",
    '    </console>',
    // sshd's host keys and the first TLS handshakes need entropy; a TCG guest has little of its own.
    "    <rng model='virtio'>",
    "      <backend model='random'>/dev/urandom</backend>",
    '    </rng>',
    "    <memballoon model='none'/>",
    '  </devices>',
    ...(options.runAs
      ? ["  <seclabel type='static' model='dac' relabel='no'>", `    <label>+${options.runAs.uid}:+${options.runAs.gid}</label>`, '  </seclabel>']
      : []),
    '</domain>',
    '',
  ].join('\n');
}

export function xmlText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function xmlAttr(value: string): string {
  return xmlText(value).replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}
