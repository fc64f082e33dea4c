// The `qemu` provider: runs each node as a plain qemu-system-x86_64 process, no daemon in between.
//
//   disk     a qcow2 overlay per node on the shared base image (the base is never written)
//   boot     direct kernel boot of the image's kernel; the node's name, address and the lab's SSH
//            key go on the kernel command line (see kernel-cmdline.ts, docs/image-and-vms.md)
//   network  a tap per node on a per-lab bridge that holds the gateway address (.1, the host)
//   state    <lab>/vms/<node>/: disk.qcow2, qemu.pid, console.log (serial), qmp.sock, vm.json
//
// Acceleration is KVM when a real test boot under KVM works, else TCG (software, slow but sure).

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Plan, PlannedNode } from '../../plan/address-plan.ts';
import type { ClusterSpec } from '../../spec/cluster-spec.ts';
import type { LabPaths } from '../../lab/lab-dir.ts';
import { cidrContains, parseCidr, parseIpv4 } from '../../plan/ipv4.ts';
import { commandExists, findBaseImage, imageCacheDir, type BaseImage } from '../../image/build-image.ts';
import { formatCommand, lastLines, runCommand } from '../../image/run-command.ts';
import {
  ProviderError,
  type NodeStatus,
  type PreflightReport,
  type Provider,
  type ProviderProgress,
  type SshEndpoint,
} from '../provider.ts';
import { writeSeed } from './cloud-init-seed.ts';
import { renderKernelCmdline } from './kernel-cmdline.ts';
import { probeKvm, type Acceleration } from './kvm-probe.ts';
import { addressesInSubnet, bridgeNameFor, canAdministerNetwork, deleteLink, ensureBridge, ensureTap, linkExists, tapNameFor } from './lab-network.ts';
import { qemuArgv, type BootImage, type NodeVmFiles } from './qemu-command.ts';
import { qmpCommand } from './qmp.ts';
import { disableNat, enableNat } from './lab-nat.ts';
import { labResolvers, NO_RESOLVER_WARNING } from '../host-resolvers.ts';

export interface QemuProviderContext {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
  /** One authorized_keys line: the lab's key, installed as root's only key on every node. */
  sshPublicKey: string;
  /** The built base image; looked up in the image cache when absent. */
  image?: BaseImage;
  imageCacheDir?: string;
  /** `auto` (default) probes KVM; HARDWAY_QEMU_ACCEL=kvm|tcg overrides both. */
  acceleration?: 'auto' | Acceleration;
  qemuBinary?: string;
  /** How long stop() waits for a clean guest shutdown before killing QEMU. */
  shutdownTimeoutMs?: number;
}

/** What create() records per node, so destroy() can clean up even after the spec changed. */
interface VmRecord {
  node: string;
  tap: string;
  bridge: string;
  mac: string;
  ip: string;
  acceleration: Acceleration;
  /** The image this node's disk is an overlay of: it keeps booting from it after a rebuild. */
  image: BootImage;
  command: string[];
  startedAt: string;
}

const UNIX_SOCKET_PATH_MAX = 107;

export class QemuProvider implements Provider {
  readonly name = 'qemu' as const;
  private readonly context: QemuProviderContext;
  private readonly listeners = new Set<(event: ProviderProgress) => void>();
  private readonly qemu: string;
  private readonly bridge: string;
  private bootImage?: BootImage;
  private acceleration?: Acceleration;
  private report?: PreflightReport;

  constructor(context: QemuProviderContext) {
    this.context = context;
    this.qemu = context.qemuBinary ?? 'qemu-system-x86_64';
    this.bridge = bridgeNameFor(context.plan.labName, context.paths.root);
  }

  /** The host-side bridge of this lab (for tests and diagnostics). */
  get bridgeName(): string {
    return this.bridge;
  }

  tapName(node: string): string {
    return tapNameFor(this.context.plan.labName, this.context.paths.root, node);
  }

  onProgress(listener: (event: ProviderProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ProviderProgress) {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A broken listener must not break the provider.
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Preflight

  async preflight(): Promise<PreflightReport> {
    const warnings: string[] = [];
    this.emit({ phase: 'preflight', message: 'checking QEMU, the base image, network permissions and memory' });

    if (!(await commandExists(this.qemu))) {
      throw new ProviderError(`${this.qemu} is not installed`, { command: this.qemu, hint: 'install QEMU: sudo apt-get install qemu-system-x86' });
    }
    if (!(await commandExists('qemu-img'))) {
      throw new ProviderError('qemu-img is not installed', { command: 'qemu-img', hint: 'install it: sudo apt-get install qemu-utils' });
    }
    let image: BootImage;
    try {
      image = await this.resolveBootImage();
    } catch (error) {
      // A lab created before the image was rebuilt (new inputs, new hash) keeps booting from the
      // image its disks are overlays of, as long as that is still on disk.
      const recorded = await this.recordedImages();
      if (!(error instanceof ProviderError) || recorded.length < this.context.plan.nodes.length) throw error;
      image = recorded[0]!;
      warnings.push(`no current base image; the existing VMs keep using ${image.description}`);
    }

    if (!canAdministerNetwork()) {
      throw new ProviderError('the qemu provider creates a bridge and tap devices, which needs root or CAP_NET_ADMIN', {
        hint: 'run the app as root (sudo), or use the libvirt provider (`provider: libvirt`), which manages the network through libvirtd',
      });
    }
    if (!existsSync('/dev/net/tun')) {
      throw new ProviderError('/dev/net/tun does not exist, so QEMU cannot create tap devices', { hint: 'load the tun module: sudo modprobe tun' });
    }
    const subnet = parseCidr(this.context.plan.network.nodeSubnet)!;
    const clashes = await addressesInSubnet((ip) => cidrContains(subnet, parseIpv4(ip)!), this.bridge);
    if (clashes.length > 0) {
      throw new ProviderError(
        `the lab network ${subnet.text} is already in use on this host: ${clashes.map((c) => `${c.dev} has ${c.cidr}`).join(', ')}`,
        { hint: 'set network.nodeSubnet to a free range in hardway-lab.yaml, or destroy the other lab that uses it' },
      );
    }

    if (this.context.spec.network.nat) {
      if (!(await commandExists('iptables'))) throw new ProviderError('network.nat is on, and the qemu provider masquerades the lab with iptables, which is not installed', { hint: 'install it: sudo apt-get install iptables; or set network.nat: false' });
      warnings.push(`network.nat is on: the VMs reach the outside through this host (masqueraded), resolvers ${labResolvers(this.context.spec).join(', ') || 'none'}`);
      if (labResolvers(this.context.spec).length === 0) warnings.push(NO_RESOLVER_WARNING);
    }

    const wantedMiB = this.context.plan.nodes.reduce((sum, n) => sum + n.memoryMiB, 0);
    const availableMiB = memAvailableMiB();
    if (availableMiB !== undefined && wantedMiB > availableMiB) {
      warnings.push(`the VMs ask for ${wantedMiB} MiB of memory and the host has ${availableMiB} MiB available; they may be slow or be killed when memory runs out`);
    }

    const acceleration = await this.resolveAcceleration(image, warnings);
    this.report = { acceleration, warnings };
    this.emit({ phase: 'preflight', message: `ready: ${image.description}, acceleration ${acceleration}` });
    return this.report;
  }

  private async resolveBootImage(): Promise<BootImage> {
    if (this.bootImage) return this.bootImage;
    const { spec } = this.context;
    if (spec.image.source === 'box') {
      throw new ProviderError('image.source "box" is a Vagrant box, which the qemu provider cannot boot', {
        hint: 'use `image.source: builder` (the default), or `provider: vagrant`',
      });
    }
    if (spec.image.source === 'file') {
      this.bootImage = await fileBootImage(spec.image.path!, spec.image.kernel, spec.image.initrd);
      return this.bootImage;
    }
    const image = this.context.image ?? (await findBaseImage(this.context.imageCacheDir ?? imageCacheDir()));
    if (!image) {
      throw new ProviderError('the base image is not built yet', {
        hint: 'run `hardway-lab image build` (downloads Debian from its mirror and takes about 2 minutes; needs root or user namespaces)',
      });
    }
    for (const file of [image.qcow2, image.kernel, image.initrd]) {
      if (!existsSync(file)) {
        throw new ProviderError(`the base image is incomplete: ${file} is missing`, { hint: 'rebuild it: `hardway-lab image build --force`' });
      }
    }
    this.bootImage = {
      disk: image.qcow2,
      diskFormat: 'qcow2',
      kernel: image.kernel,
      initrd: image.initrd,
      rootDevice: image.rootDevice ?? '/dev/vda',
      description: `base image ${image.hash.slice(0, 12)} (Debian ${image.suite ?? ''}, kernel ${image.kernelVersion ?? '?'})`,
    };
    return this.bootImage;
  }

  private async resolveAcceleration(image: BootImage, warnings: string[]): Promise<Acceleration> {
    if (this.acceleration) return this.acceleration;
    const forced = process.env.HARDWAY_QEMU_ACCEL ?? (this.context.acceleration !== 'auto' ? this.context.acceleration : undefined);
    if (forced === 'kvm' || forced === 'tcg') {
      this.acceleration = forced;
      if (forced === 'tcg') warnings.push(TCG_WARNING);
      return forced;
    }
    const kernel = image.kernel ?? hostKernel();
    if (!kernel) {
      warnings.push('no kernel to test KVM with (the image boots from its own disk and the host kernel is not readable); using software emulation (TCG). ' + TCG_WARNING);
      this.acceleration = 'tcg';
      return 'tcg';
    }
    this.emit({ phase: 'probe-kvm', message: 'testing whether KVM can boot a kernel on this host' });
    const cacheFile = join(dirname(this.context.imageCacheDir ?? imageCacheDir()), 'kvm-probe.json');
    const verdict = await probeKvm({ kernel, cacheFile, qemu: this.qemu, timeoutMs: 30_000 });
    this.acceleration = verdict.usable ? 'kvm' : 'tcg';
    this.emit({ phase: 'probe-kvm', message: verdict.usable ? 'KVM works' : `KVM is not usable: ${verdict.reason}` });
    if (!verdict.usable) warnings.push(`KVM is not usable here (${verdict.reason}). ${TCG_WARNING}`);
    return this.acceleration;
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  async create(nodes?: string[]): Promise<void> {
    const targets = this.selectNodes(nodes);
    if (!this.report) await this.preflight();
    const { network } = this.context.plan;

    this.emit({ phase: 'network', message: `bridge ${this.bridge} with ${network.gateway}/${network.prefixLength}` });
    await ensureBridge(this.bridge, `${network.gateway}/${network.prefixLength}`);
    if (this.context.spec.network.nat) {
      const note = await enableNat(this.bridge, network.nodeSubnet);
      this.emit({ phase: 'network', message: note ?? `network.nat: ${network.nodeSubnet} is masqueraded out of this host` });
    } else {
      // Isolated (the default); also after the spec turned nat off for an existing lab.
      await disableNat(this.bridge, network.nodeSubnet);
    }

    let done = 0;
    for (const node of targets) {
      const files = this.filesOf(node.name);
      await mkdir(files.dir, { recursive: true });
      if (await this.livePid(node.name)) {
        await this.resumeIfPaused(node.name);
        this.emit({ node: node.name, phase: 'running', message: `${node.name} is already running`, fraction: ++done / targets.length });
        continue;
      }
      const recorded = existsSync(files.overlay) ? await this.recordedImage(node.name) : undefined;
      const image = recorded ?? (await this.resolveBootImage());
      if (!existsSync(files.overlay)) {
        this.emit({ node: node.name, phase: 'create-overlay', message: `disk ${node.diskGiB} GiB on ${image.description}` });
        await this.run(
          ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', image.diskFormat, '-b', image.disk, files.overlay, `${node.diskGiB}G`],
          `creating the disk of ${node.name}`,
          node.name,
        );
      }
      await this.boot(node, image);
      this.emit({ node: node.name, phase: 'boot', message: `${node.name} started`, fraction: ++done / targets.length });
    }
  }

  async start(nodes?: string[]): Promise<void> {
    const targets = this.selectNodes(nodes);
    const missing = targets.filter((n) => !existsSync(this.filesOf(n.name).overlay));
    if (missing.length > 0) {
      throw new ProviderError(`cannot start ${missing.map((n) => n.name).join(', ')}: not created yet`, {
        node: missing[0]!.name,
        hint: 'create the VMs first (`hardway-lab up`)',
      });
    }
    await this.create(targets.map((n) => n.name));
  }

  async stop(nodes?: string[]): Promise<void> {
    const targets = this.selectNodes(nodes);
    await Promise.all(targets.map((node) => this.stopNode(node.name, true)));
  }

  async destroy(): Promise<void> {
    this.emit({ phase: 'destroy', message: `removing every VM, disk and network device of lab ${this.context.plan.labName}` });
    const names = new Set(this.context.plan.nodes.map((n) => n.name));
    for (const entry of await readdirOrEmpty(this.context.paths.vms)) names.add(entry);
    const errors: string[] = [];
    await Promise.all(
      [...names].map(async (name) => {
        try {
          await this.stopNode(name, false);
          const record = await this.readRecord(name);
          for (const tap of new Set([this.tapName(name), record?.tap].filter((t): t is string => !!t))) await deleteLink(tap);
          await rm(this.filesOf(name).dir, { recursive: true, force: true });
          this.emit({ node: name, phase: 'destroy', message: `${name} removed` });
        } catch (error) {
          errors.push(`${name}: ${(error as Error).message}`);
        }
      }),
    );
    try {
      await disableNat(this.bridge, this.context.plan.network.nodeSubnet);
      await deleteLink(this.bridge);
    } catch (error) {
      errors.push(`bridge ${this.bridge}: ${(error as Error).message}`);
    }
    if ((await readdirOrEmpty(this.context.paths.vms)).length === 0) await rm(this.context.paths.vms, { recursive: true, force: true });
    if (errors.length > 0) {
      throw new ProviderError(`destroy left things behind in lab ${this.context.plan.labName}`, { output: errors.join('\n'), hint: 'run destroy again; if it keeps failing, remove them by hand (ip link delete ..., kill <pid>)' });
    }
    this.emit({ phase: 'destroy', message: 'done', fraction: 1 });
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots: internal qcow2 snapshots of each node's disk (the overlay; the base image is never
  // written). A running lab is snapshotted live, all nodes at once (`blockdev-snapshot-internal-sync`
  // over QMP, which drains the disk's in-flight I/O first); a stopped lab with `qemu-img snapshot -c`. Disk only, no RAM: a
  // restore boots the nodes from disks that look like a power cut at that moment, which etcd's WAL
  // and ext4's journal are made for (the same as after a host crash), and costs no RAM-sized file.

  async snapshotSave(name: string, nodes?: string[]): Promise<void> {
    const targets = this.selectNodes(nodes);
    const live: { node: string; qmp: string; device: string; has: boolean }[] = [];
    const offline: string[] = [];
    for (const node of targets) {
      const files = this.filesOf(node.name);
      if (!existsSync(files.overlay)) throw new ProviderError(`cannot take a snapshot of ${node.name}: it has no disk yet`, { node: node.name, hint: 'create the VMs first (`hardway-lab up`)' });
      if (!(await this.livePid(node.name))) {
        offline.push(node.name);
        continue;
      }
      if (!existsSync(files.qmp)) {
        throw new ProviderError(`cannot take a snapshot of the running ${node.name}: its QEMU has no monitor socket (the lab directory's path is too long for one)`, {
          node: node.name,
          hint: 'stop the lab (`hardway-lab stop`) and take the snapshot then, or keep the lab in a shorter directory',
        });
      }
      const disk = await this.liveDisk(node.name);
      live.push({ node: node.name, qmp: files.qmp, device: disk.device, has: disk.snapshots.includes(name) });
    }
    // A snapshot of the same name is replaced; deleted before the pause to keep the pause short.
    await Promise.all(live.filter((l) => l.has).map((l) => this.qmp(l.node, 'blockdev-snapshot-delete-internal-sync', { device: l.device, name }, 120_000)));
    // No pause: QEMU drains a disk for its internal snapshot, so each is a consistent point of that
    // node (a power cut at that instant), and the nodes' snapshots are milliseconds apart, taken
    // between steps. Pausing the guests with QMP stop/cont was tried first: a `cont` that is lost
    // under load leaves a node frozen, which is worse than the skew it avoided.
    await Promise.all(live.map((l) => this.qmp(l.node, 'blockdev-snapshot-internal-sync', { device: l.device, name }, 120_000)));
    for (const node of offline) {
      const overlay = this.filesOf(node).overlay;
      if ((await this.diskSnapshots(node)).includes(name)) await this.run(['qemu-img', 'snapshot', '-d', name, overlay], `deleting the old snapshot ${name} of ${node}`, node);
      await this.run(['qemu-img', 'snapshot', '-c', name, overlay], `taking the snapshot ${name} of ${node}`, node);
    }
    this.emit({ phase: 'snapshot', message: `snapshot ${name} of ${targets.map((n) => n.name).join(', ')}${live.length ? ' (live)' : ''}` });
  }

  /** Leaves the nodes stopped, their disks as they were at the snapshot; start() boots them. */
  async snapshotRestore(name: string, nodes?: string[]): Promise<void> {
    const targets = this.selectNodes(nodes);
    const missing: string[] = [];
    for (const node of targets) if (!(await this.diskSnapshots(node.name)).includes(name)) missing.push(node.name);
    if (missing.length > 0) {
      throw new ProviderError(`the snapshot ${name} does not exist on ${missing.join(', ')}`, { node: missing[0], hint: 'list the snapshots with `hardway-lab snapshot list`' });
    }
    // What runs now is thrown away: QEMU quits at once (SIGTERM flushes its disk), no guest shutdown.
    await Promise.all(targets.map((node) => this.stopNode(node.name, false)));
    for (const node of targets) {
      this.emit({ node: node.name, phase: 'snapshot', message: `restoring the disk of ${node.name} to ${name}` });
      await this.run(['qemu-img', 'snapshot', '-a', name, this.filesOf(node.name).overlay], `restoring ${node.name} to the snapshot ${name}`, node.name);
    }
  }

  async snapshotDelete(name: string, nodes?: string[]): Promise<void> {
    for (const node of this.selectNodes(nodes)) {
      const overlay = this.filesOf(node.name).overlay;
      if (!existsSync(overlay) || !(await this.diskSnapshots(node.name)).includes(name)) continue;
      if (await this.livePid(node.name)) {
        const disk = await this.liveDisk(node.name);
        await this.qmp(node.name, 'blockdev-snapshot-delete-internal-sync', { device: disk.device, name }, 120_000);
      } else {
        await this.run(['qemu-img', 'snapshot', '-d', name, overlay], `deleting the snapshot ${name} of ${node.name}`, node.name);
      }
    }
  }

  async snapshotList(node: string): Promise<string[]> {
    this.selectNodes([node]);
    return existsSync(this.filesOf(node).overlay) ? this.diskSnapshots(node) : [];
  }

  /** A guest left paused (a process killed while it took a snapshot) runs again. */
  private async resumeIfPaused(node: string): Promise<void> {
    if (!existsSync(this.filesOf(node).qmp)) return;
    const status = (await qmpCommand(this.filesOf(node).qmp, 'query-status').catch(() => undefined)) as { status?: string } | undefined;
    if (status?.status !== 'paused') return;
    this.emit({ node, phase: 'boot', message: `${node} was left paused (a snapshot was interrupted); resuming it` });
    await this.qmp(node, 'cont');
  }

  /** The snapshot names in a node's disk (read with -U: QEMU may hold the image open). */
  private async diskSnapshots(node: string): Promise<string[]> {
    const result = await this.run(['qemu-img', 'info', '-U', '--output=json', this.filesOf(node).overlay], `reading the disk of ${node}`, node);
    const info = JSON.parse(result.stdout) as { snapshots?: { name: string }[] };
    return (info.snapshots ?? []).map((s) => s.name);
  }

  /** The block device QEMU runs the node's disk as (`virtio0` for `-drive if=virtio`), from query-block. */
  private async liveDisk(node: string): Promise<{ device: string; snapshots: string[] }> {
    const overlay = this.filesOf(node).overlay;
    const blocks = (await this.qmp(node, 'query-block')) as { device: string; inserted?: { file?: string; image?: { filename?: string; snapshots?: { name: string }[] } } }[];
    const disk = blocks.find((b) => b.inserted && (b.inserted.file === overlay || b.inserted.image?.filename === overlay));
    if (!disk) throw new ProviderError(`QEMU of ${node} does not show its disk ${overlay}`, { node, output: JSON.stringify(blocks).slice(0, 2000), hint: 'restart the node (`hardway-lab stop`, `hardway-lab start`) and try again' });
    return { device: disk.device, snapshots: (disk.inserted?.image?.snapshots ?? []).map((s) => s.name) };
  }

  private async qmp(node: string, execute: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    try {
      return await qmpCommand(this.filesOf(node).qmp, execute, args, timeoutMs);
    } catch (error) {
      throw new ProviderError(`QEMU of ${node} refused ${execute}: ${(error as Error).message}`, { node, command: `QMP ${execute} ${args ? JSON.stringify(args) : ''}`.trim(), hint: 'see `hardway-lab status`; a node that is not running is snapshotted with qemu-img instead', cause: error });
    }
  }

  async status(): Promise<NodeStatus[]> {
    const out: NodeStatus[] = [];
    for (const node of this.context.plan.nodes) {
      const files = this.filesOf(node.name);
      const pid = await this.livePid(node.name);
      const failure = pid ? guestBootFailure(await this.consoleTail(node.name, 200)) : undefined;
      if (pid && failure) {
        // QEMU runs on, but the guest is dead in the water: say so instead of "running".
        out.push({ node: node.name, state: 'failed', pid, detail: `the guest did not boot: ${failure} (see ${files.console})` });
      } else if (pid) {
        out.push({ node: node.name, state: 'running', pid, detail: `qemu pid ${pid}, ${this.acceleration ?? (await this.readRecord(node.name))?.acceleration ?? ''}`.trim() });
      } else if (existsSync(files.pidfile)) {
        // QEMU removes its pidfile on a clean exit; one left behind means it died.
        const tail = lastLines(await this.consoleTail(node.name, 3), 1);
        out.push({ node: node.name, state: 'failed', detail: `QEMU exited unexpectedly; last console line: ${tail || '(none)'}` });
      } else if (existsSync(files.overlay)) {
        out.push({ node: node.name, state: 'stopped' });
      } else {
        out.push({ node: node.name, state: 'absent' });
      }
    }
    return out;
  }

  sshEndpoint(node: string): SshEndpoint {
    const planned = this.context.plan.nodes.find((n) => n.name === node);
    if (!planned) throw new ProviderError(`no node named "${node}" in lab ${this.context.plan.labName}`, { node });
    return { host: planned.ip, port: 22, user: 'root' };
  }

  async consoleTail(node: string, lines = 40): Promise<string> {
    const file = this.filesOf(node).console;
    let text: string;
    try {
      const info = await stat(file);
      // Only the end matters; a long boot log can be megabytes.
      const size = info.size;
      const handle = await open(file, 'r');
      try {
        const length = Math.min(size, 256 * 1024);
        const buffer = Buffer.alloc(length);
        await handle.read(buffer, 0, length, size - length);
        text = buffer.toString('utf8');
      } finally {
        await handle.close();
      }
    } catch {
      return `(no console output: ${file} does not exist)`;
    }
    return cleanConsole(text).split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  filesOf(node: string): NodeVmFiles {
    const dir = join(this.context.paths.vms, node);
    return {
      dir,
      overlay: join(dir, 'disk.qcow2'),
      pidfile: join(dir, 'qemu.pid'),
      console: join(dir, 'console.log'),
      qmp: join(dir, 'qmp.sock'),
      meta: join(dir, 'vm.json'),
      seed: join(dir, 'seed'),
    };
  }

  private selectNodes(names?: string[]): PlannedNode[] {
    const all = this.context.plan.nodes;
    if (!names || names.length === 0) return all;
    return names.map((name) => {
      const node = all.find((n) => n.name === name);
      if (!node) throw new ProviderError(`no node named "${name}" in lab ${this.context.plan.labName}`, { node: name, hint: `nodes: ${all.map((n) => n.name).join(', ')}` });
      return node;
    });
  }

  private async boot(node: PlannedNode, image: BootImage): Promise<void> {
    const files = this.filesOf(node.name);
    const tap = this.tapName(node.name);
    const { plan, sshPublicKey } = this.context;
    this.emit({ node: node.name, phase: 'network', message: `tap ${tap} on ${this.bridge}` });
    await ensureTap(tap, this.bridge, node.name);

    const withSeed = !image.kernel || this.context.spec.image.source === 'file';
    if (withSeed) await writeSeed(files.seed, { labName: plan.labName, node, network: plan.network, sshPublicKey });

    // Keep the previous boot's console for post-mortems; QEMU truncates the file it writes.
    if (existsSync(files.console)) await rename(files.console, join(files.dir, 'console.previous.log')).catch(() => undefined);
    await rm(files.pidfile, { force: true });
    await rm(files.qmp, { force: true });

    const acceleration = this.acceleration ?? 'tcg';
    const argv = qemuArgv({
      qemu: this.qemu,
      label: `${plan.labName}/${node.name}`,
      cpus: node.cpus,
      memoryMiB: node.memoryMiB,
      mac: node.mac,
      tap,
      acceleration,
      files,
      image,
      append: renderKernelCmdline({ node, network: plan.network, sshPublicKey, rootDevice: image.rootDevice, dns: labResolvers(this.context.spec) }),
      withSeed,
      withQmp: files.qmp.length <= UNIX_SOCKET_PATH_MAX,
    });
    const record: VmRecord = { node: node.name, tap, bridge: this.bridge, mac: node.mac, ip: node.ip, acceleration, image, command: argv, startedAt: new Date().toISOString() };
    await writeFile(files.meta, `${JSON.stringify(record, null, 2)}\n`);

    this.emit({ node: node.name, phase: 'boot', message: `starting ${node.name} (${node.cpus} vCPU, ${node.memoryMiB} MiB, ${acceleration})` });
    await this.run(argv, `starting the VM ${node.name}`, node.name, 'check the QEMU message above; `hardway-lab status` shows each VM');
    const pid = await this.livePid(node.name);
    if (!pid) {
      throw new ProviderError(`QEMU for ${node.name} exited right after starting`, {
        node: node.name,
        command: formatCommand(argv),
        output: await this.consoleTail(node.name, 20),
        hint: 'look at the console output above and at vms/' + node.name + '/console.log',
      });
    }
  }

  /** Stops one node: a clean ACPI shutdown when `graceful`, then SIGTERM, then SIGKILL. */
  private async stopNode(name: string, graceful: boolean): Promise<void> {
    const files = this.filesOf(name);
    const pid = await this.livePid(name);
    if (!pid) {
      await rm(files.pidfile, { force: true });
      await rm(files.qmp, { force: true });
      return;
    }
    this.emit({ node: name, phase: graceful ? 'stop' : 'destroy', message: `stopping ${name} (pid ${pid})` });
    let exited = false;
    if (graceful && existsSync(files.qmp)) {
      try {
        await qmpCommand(files.qmp, 'system_powerdown');
        exited = await waitForExit(pid, this.context.shutdownTimeoutMs ?? 90_000);
      } catch {
        // No monitor: fall through to signals.
      }
    }
    if (!exited) {
      signal(pid, 'SIGTERM');
      exited = await waitForExit(pid, 10_000);
    }
    if (!exited) {
      signal(pid, 'SIGKILL');
      exited = await waitForExit(pid, 5_000);
    }
    if (!exited) throw new ProviderError(`QEMU for ${name} (pid ${pid}) does not exit, even after SIGKILL`, { node: name, hint: `check the process: ps -p ${pid} -o pid,stat,cmd` });
    await rm(files.pidfile, { force: true });
    await rm(files.qmp, { force: true });
    this.emit({ node: name, phase: graceful ? 'stop' : 'destroy', message: `${name} stopped` });
  }

  /** The QEMU pid of a node, only if that process is alive and really runs this node's disk. */
  async livePid(name: string): Promise<number | undefined> {
    const files = this.filesOf(name);
    let pid: number;
    try {
      pid = Number((await readFile(files.pidfile, 'utf8')).trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/\)\s+Z\s/.test(stat)) return undefined;
      return cmdline.includes('qemu') && cmdline.includes(files.overlay) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The image a node's existing disk was created on, if its files are all still there. */
  private async recordedImage(name: string): Promise<BootImage | undefined> {
    const image = (await this.readRecord(name))?.image;
    if (!image?.disk) return undefined;
    const files = [image.disk, image.kernel, image.initrd].filter((f): f is string => !!f);
    return files.every((f) => existsSync(f)) ? image : undefined;
  }

  private async recordedImages(): Promise<BootImage[]> {
    const out: BootImage[] = [];
    for (const node of this.context.plan.nodes) {
      const image = existsSync(this.filesOf(node.name).overlay) ? await this.recordedImage(node.name) : undefined;
      if (image) out.push(image);
    }
    return out;
  }

  private async readRecord(name: string): Promise<VmRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.filesOf(name).meta, 'utf8')) as VmRecord;
    } catch {
      return undefined;
    }
  }

  private async run(argv: string[], what: string, node?: string, hint?: string) {
    const result = await runCommand(argv, { timeoutMs: 120_000 }).catch((error: Error) => {
      throw new ProviderError(`${what}: cannot run ${argv[0]} (${error.message})`, { node, command: formatCommand(argv), hint });
    });
    if (result.code !== 0) {
      throw new ProviderError(`${what} failed (exit code ${result.code ?? result.signal})`, { node, command: formatCommand(argv), output: lastLines(result.output, 20), hint });
    }
    return result;
  }

  /** Whether any network device of this lab exists (for tests and `status`). */
  async networkExists(): Promise<boolean> {
    if (await linkExists(this.bridge)) return true;
    for (const node of this.context.plan.nodes) if (await linkExists(this.tapName(node.name))) return true;
    return false;
  }
}

const TCG_WARNING =
  'VMs run under software emulation (TCG): expect 30–60 s per node to boot and several minutes for the whole lab; every step is several times slower than on KVM.';

async function fileBootImage(path: string, kernel?: string, initrd?: string): Promise<BootImage> {
  for (const [what, file] of [['image.path', path], ['image.kernel', kernel], ['image.initrd', initrd]] as const) {
    if (file && !existsSync(file)) throw new ProviderError(`${what} ${file} does not exist`, { hint: `fix ${what} in hardway-lab.yaml` });
  }
  const info = await runCommand(['qemu-img', 'info', '--output=json', path]);
  if (info.code !== 0) {
    throw new ProviderError(`qemu-img cannot read the image ${path}`, { command: `qemu-img info --output=json ${path}`, output: lastLines(info.output, 10), hint: 'image.path must be a qcow2 or raw disk image' });
  }
  const format = String((JSON.parse(info.stdout) as { format?: string }).format ?? 'raw');
  return {
    disk: path,
    diskFormat: format,
    kernel,
    initrd,
    rootDevice: kernel ? await detectRootDevice(path, format) : '/dev/vda1',
    description: `image file ${path}${kernel ? ' with direct kernel boot' : ' booting from its own disk'}`,
  };
}

/** A filesystem written on the whole disk (ext magic at byte 1080) is /dev/vda; else assume the first partition. */
async function detectRootDevice(path: string, format: string): Promise<string> {
  const scratch = join(tmpdir(), `hardway-rootprobe-${process.pid}-${Date.now()}`);
  try {
    const result = await runCommand(['qemu-img', 'dd', '-f', format, '-O', 'raw', 'bs=2048', 'count=1', `if=${path}`, `of=${scratch}`]);
    if (result.code !== 0) return '/dev/vda1';
    const head = await readFile(scratch);
    return head.length >= 1082 && head[1080] === 0x53 && head[1081] === 0xef ? '/dev/vda' : '/dev/vda1';
  } finally {
    await rm(scratch, { force: true });
  }
}

function hostKernel(): string | undefined {
  try {
    const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
    const file = `/boot/vmlinuz-${release}`;
    readFileSync(file, { flag: 'r' }).subarray(0, 1);
    return file;
  } catch {
    return undefined;
  }
}

function memAvailableMiB(): number | undefined {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Math.floor(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\)\s+Z\s/.test(stat);
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !alive(pid);
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

/** The guest's own word that it will not come up (kernel panic, initramfs or emergency shell), if any. */
export function guestBootFailure(consoleText: string): string | undefined {
  const panic = /Kernel panic - not syncing: ([^\n]*?)(?: \]---)?$/m.exec(consoleText);
  if (panic) return `kernel panic: ${panic[1]!.trim()}`;
  const initramfs = /ALERT! (.*) Dropping to a shell!/.exec(consoleText);
  if (initramfs) return `the initramfs gave up: ${initramfs[1]!.trim()}`;
  if (/You are in emergency mode/.test(consoleText)) return 'systemd entered emergency mode';
  return undefined;
}

/** Serial output carries colour codes and carriage returns; people want plain lines. */
export function cleanConsole(text: string): string {
  return text
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r/g, '')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');
}
