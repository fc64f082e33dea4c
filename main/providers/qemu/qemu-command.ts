// The qemu-system-x86_64 command line for one node, as a pure function of the node, its files and
// the boot image, so it can be read, logged and unit-tested.

import type { Acceleration } from './kvm-probe.ts';

export interface BootImage {
  /** The disk every node's overlay is based on. */
  disk: string;
  diskFormat: string;
  /** Direct kernel boot when given; otherwise the disk's own bootloader. */
  kernel?: string;
  initrd?: string;
  /** root= for direct kernel boot: /dev/vda when the filesystem is the whole disk, else /dev/vda1. */
  rootDevice: string;
  /** Where it came from, for messages. */
  description: string;
}

export interface NodeVmFiles {
  dir: string;
  overlay: string;
  pidfile: string;
  console: string;
  qmp: string;
  meta: string;
  /** A cloud-init NoCloud seed directory (only for images that boot from their own disk). */
  seed: string;
}

export interface QemuArgvInput {
  qemu: string;
  /** A label for `ps`, e.g. `hardway/controller-0`. */
  label: string;
  cpus: number;
  memoryMiB: number;
  mac: string;
  tap: string;
  acceleration: Acceleration;
  files: NodeVmFiles;
  image: BootImage;
  /** The kernel command line (direct kernel boot only). */
  append: string;
  /** Attach files.seed as a cloud-init `cidata` drive. */
  withSeed: boolean;
  /** Omit the QMP socket (its path would exceed the 107-byte limit of a unix socket). */
  withQmp: boolean;
}

export function accelerationArgs(acceleration: Acceleration): string[] {
  return acceleration === 'kvm'
    ? ['-accel', 'kvm', '-cpu', 'host']
    : // Software emulation: one host thread per vCPU, and a translation cache of 512 MiB: the
      // kube-* and etcd binaries are large, and a small cache keeps retranslating them (QEMU's own
      // default is 1 GiB; this halves the worst-case memory per VM).
      ['-accel', 'tcg,thread=multi,tb-size=512', '-cpu', 'max'];
}

/** QEMU's option syntax separates with commas; a literal comma in a value is written twice. */
export function qemuOptionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

export function qemuArgv(input: QemuArgvInput): string[] {
  const { files, image } = input;
  const argv = [
    input.qemu,
    '-name', qemuOptionValue(input.label),
    '-nodefaults',
    '-no-user-config',
    '-machine', 'pc',
    ...accelerationArgs(input.acceleration),
    '-smp', String(input.cpus),
    '-m', String(input.memoryMiB),
    '-rtc', 'base=utc',
  ];
  if (image.kernel) {
    argv.push('-kernel', image.kernel);
    if (image.initrd) argv.push('-initrd', image.initrd);
    argv.push('-append', input.append);
  }
  argv.push(
    '-drive', `file=${qemuOptionValue(files.overlay)},if=virtio,format=qcow2,discard=unmap,cache=writeback`,
    '-netdev', `tap,id=lab0,ifname=${input.tap},script=no,downscript=no`,
    '-device', `virtio-net-pci,netdev=lab0,mac=${input.mac}`,
    '-device', 'virtio-rng-pci',
  );
  if (input.withSeed) {
    argv.push('-drive', `driver=vvfat,dir=${qemuOptionValue(files.seed)},label=cidata,if=virtio,read-only=on`);
  }
  argv.push(
    '-chardev', `file,id=console0,path=${qemuOptionValue(files.console)}`,
    '-serial', 'chardev:console0',
    '-display', 'none',
    '-pidfile', files.pidfile,
    '-daemonize',
  );
  if (input.withQmp) argv.push('-qmp', `unix:${qemuOptionValue(files.qmp)},server=on,wait=off`);
  return argv;
}
