// The libvirt provider: the lab's VMs as libvirt domains on one libvirt network, so `virsh list`,
// virt-manager and `virsh console` show and reach them. Disks are overlays of the shared base image
// kept in the lab dir; everything the domains need is defined from the plan (see libvirt-xml.ts).

import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandExists, findBaseImage, imageCacheDir, type BaseImage } from '../../image/build-image.ts';
import { CommandError, lastLines, runChecked } from '../../image/run-command.ts';
import type { LabPaths } from '../../lab/lab-dir.ts';
import { findNode, type Plan, type PlannedNode } from '../../plan/address-plan.ts';
import type { ImageSpec } from '../../spec/cluster-spec.ts';
import type { ProviderContext } from '../create-provider.ts';
import {
  ProviderError,
  type NodeStatus,
  type PreflightReport,
  type Provider,
  type ProviderProgress,
  type SshEndpoint,
  type VmState,
} from '../provider.ts';
import { renderKernelCmdline } from '../qemu/kernel-cmdline.ts';
import { labResolvers } from '../host-resolvers.ts';
import { decideAcceleration } from './acceleration.ts';
import {
  HARDWAY_XML_NAMESPACE,
  libvirtNames,
  renderDomainXml,
  renderNetworkXml,
  type DomainType,
  type LabForwardMode,
  type LibvirtNames,
  type NodeFiles,
} from './libvirt-xml.ts';
import { Virsh, type DomainState } from './virsh.ts';

export interface LibvirtProviderOptions {
  plan: Plan;
  paths: LabPaths;
  /** The lab's authorized_keys line, passed to every node on the kernel command line. */
  sshPublicKey: string;
  /** The spec's `image` section: `builder` (default) or `file` with a kernel and initrd. */
  imageSpec?: ImageSpec;
  /** The built base image; looked up in the image cache when absent (by create, not by the constructor). */
  image?: BaseImage;
  imageCacheDir?: string;
  /** libvirt connection; default $LIBVIRT_DEFAULT_URI, else qemu:///system. */
  uri?: string;
  /** `nat` for a connected lab (network.nat: true); default isolated. */
  forward?: LabForwardMode;
  /** Resolvers for the nodes of a connected lab (see host-resolvers.ts). */
  dns?: string[];
  /**
   * `kvm` or `qemu` (TCG). Left out: HARDWAY_QEMU_ACCEL, else a short real boot under KVM decides
   * (a host where /dev/kvm exists but cannot boot the guest, e.g. nested or PVM, gets `qemu`).
   */
  domainType?: DomainType;
  /** How long `stop` waits for a clean ACPI power-off before pulling the plug. */
  shutdownTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** What a domain boots: the shared disk its overlay is based on, and the kernel and initrd. */
export interface LibvirtBootImage {
  qcow2: string;
  kernel: string;
  initrd: string;
  rootDevice: string;
  description: string;
}

const CONSOLE_LOG = 'console.log';
const OVERLAY = 'disk.qcow2';
const DOMAIN_XML = 'domain.xml';

export class LibvirtProvider implements Provider {
  readonly name = 'libvirt' as const;
  readonly virsh: Virsh;
  readonly names: LibvirtNames;
  private readonly listeners = new Set<(event: ProviderProgress) => void>();
  private domainType?: DomainType;
  private bootImage?: LibvirtBootImage;
  private accelerationReason?: string;

  constructor(private readonly options: LibvirtProviderOptions) {
    this.virsh = new Virsh({ uri: options.uri, env: options.env });
    this.names = libvirtNames(options.plan.labName);
    this.domainType = options.domainType;
  }

  get plan(): Plan {
    return this.options.plan;
  }

  /** Where a node's overlay, domain XML and console log live: `<lab>/vms/<node>/`. */
  nodeDir(node: string): string {
    return join(this.options.paths.vms, node);
  }

  networkXmlPath(): string {
    return join(this.options.paths.vms, 'libvirt-network.xml');
  }

  async preflight(): Promise<PreflightReport> {
    const warnings: string[] = [];
    try {
      await this.virsh.version();
    } catch (error) {
      throw withHint(
        error,
        `libvirt does not answer on ${this.virsh.uri}. Start libvirtd (\`sudo systemctl start libvirtd\`), and as a non-root user join the "libvirt" group.`,
      );
    }
    if (!(await commandExists('qemu-img'))) throw new ProviderError('qemu-img is not installed', { hint: 'install it: sudo apt-get install qemu-utils' });
    const image = await this.resolveBootImage();
    const type = await this.resolveDomainType(image);
    if (type === 'qemu') {
      const why = this.accelerationReason ? `KVM is not usable here (${this.accelerationReason})` : 'domain type qemu';
      warnings.push(`${why}: VMs run under software emulation (TCG), several times slower to boot and run.`);
    }
    const clash = await this.networkClash();
    if (clash) warnings.push(clash);
    if (process.getuid?.() !== 0) {
      warnings.push(
        'QEMU runs as libvirt\'s own user ("libvirt-qemu" on Debian): the lab directory and the image cache must be searchable by it ' +
          '(e.g. `setfacl -m u:libvirt-qemu:x ~`), and the serial console logs are readable by root only.',
      );
    }
    return { acceleration: type === 'kvm' ? 'kvm' : 'tcg', warnings };
  }

  async create(nodes?: string[]): Promise<void> {
    const targets = this.targets(nodes);
    const image = await this.resolveBootImage();
    const type = await this.resolveDomainType(image);
    this.emit({ phase: 'network', message: `libvirt network ${this.names.network} (${this.plan.network.gateway}/${this.plan.network.prefixLength})` });
    await this.ensureNetwork();
    for (const [index, node] of targets.entries()) {
      const domain = this.names.domain(node.name);
      const state = await this.virsh.domainState(domain);
      if (state === undefined) {
        await this.defineNode(node, image, type);
      } else if (!(await this.isOurs(domain))) {
        throw new ProviderError(`a libvirt domain named ${domain} already exists and does not belong to this lab`, {
          node: node.name,
          command: `virsh -c ${this.virsh.uri} dumpxml ${domain}`,
          hint: `remove it (\`virsh destroy ${domain}; virsh undefine ${domain}\`) or give the lab another name.`,
        });
      }
      if (state !== 'running') {
        this.emit({ node: node.name, phase: 'boot', message: `starting ${domain}`, fraction: (index + 1) / targets.length });
        await this.startDomain(node);
      }
    }
  }

  async start(nodes?: string[]): Promise<void> {
    const targets = this.targets(nodes);
    await this.ensureNetwork();
    for (const node of targets) {
      const state = await this.virsh.domainState(this.names.domain(node.name));
      if (state === undefined) {
        throw new ProviderError(`${node.name} has no VM yet`, { node: node.name, hint: 'run `hardway-lab up --vms-only` (or `hardway-lab up`) first.' });
      }
      if (state !== 'running') {
        this.emit({ node: node.name, phase: 'boot', message: `starting ${this.names.domain(node.name)}` });
        await this.startDomain(node);
      }
    }
  }

  async stop(nodes?: string[]): Promise<void> {
    const targets = this.targets(nodes);
    const running: PlannedNode[] = [];
    for (const node of targets) {
      const state = await this.virsh.domainState(this.names.domain(node.name));
      if (isUp(state)) running.push(node);
    }
    for (const node of running) {
      this.emit({ node: node.name, phase: 'stop', message: `asking ${node.name} to power off` });
      await this.virsh.shutdown(this.names.domain(node.name));
    }
    const deadline = Date.now() + (this.options.shutdownTimeoutMs ?? 90_000);
    for (const node of running) {
      const domain = this.names.domain(node.name);
      while (Date.now() < deadline && isUp(await this.virsh.domainState(domain))) await sleep(1_000);
      if ((await this.virsh.domainState(domain)) !== 'shut off') {
        this.emit({ node: node.name, phase: 'stop', message: `${node.name} did not power off in time; forcing it off` });
        await this.virsh.destroy(domain);
      }
    }
  }

  async destroy(): Promise<void> {
    const domains = await this.labDomains();
    for (const domain of domains) {
      this.emit({ phase: 'destroy', message: `removing ${domain}` });
      await this.virsh.destroy(domain);
      await this.virsh.undefine(domain);
    }
    this.emit({ phase: 'destroy', message: `removing network ${this.names.network}` });
    await this.virsh.netDestroy(this.names.network);
    await this.virsh.netUndefine(this.names.network);
    const prefix = `${this.plan.labName}-`;
    const nodeNames = new Set([...this.plan.nodes.map((n) => n.name), ...domains.map((d) => d.slice(prefix.length))]);
    for (const node of nodeNames) await rm(this.nodeDir(node), { recursive: true, force: true });
    await rm(this.networkXmlPath(), { force: true });
  }

  async status(): Promise<NodeStatus[]> {
    const statuses: NodeStatus[] = [];
    for (const node of this.plan.nodes) {
      const domain = this.names.domain(node.name);
      const state = await this.virsh.domainState(domain);
      statuses.push({
        node: node.name,
        state: toVmState(state),
        pid: state === 'running' ? await readPid(domain) : undefined,
        detail: state === undefined ? `no libvirt domain ${domain}` : `libvirt domain ${domain}: ${state}`,
      });
    }
    return statuses;
  }

  sshEndpoint(node: string): SshEndpoint {
    return { host: findNode(this.plan, node).ip, port: 22, user: 'root' };
  }

  async consoleTail(node: string, lines = 40): Promise<string> {
    const file = join(this.nodeDir(node), CONSOLE_LOG);
    try {
      return lastLines(await readFile(file, 'utf8'), lines);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return `(no console log yet at ${file})`;
      if (code === 'EACCES') return `(the console log ${file} is written by libvirt's virtlogd as root; read it with sudo)`;
      throw error;
    }
  }

  // Snapshots: libvirt's internal snapshots. A running domain's include its RAM (a system
  // checkpoint), so a restore resumes where the lab was, with no boot. Every node is paused first
  // so that all snapshots show the same moment, then resumed.

  async snapshotSave(name: string, nodes?: string[]): Promise<void> {
    const targets = this.targets(nodes).map((n) => ({ node: n.name, domain: this.names.domain(n.name) }));
    const paused: string[] = [];
    try {
      for (const t of targets) {
        const state = await this.virsh.domainState(t.domain);
        if (state === undefined) throw new ProviderError(`cannot take a snapshot of ${t.node}: it has no VM yet`, { node: t.node, hint: 'create the VMs first (`hardway-lab up`)' });
        if (state === 'running') {
          await this.virsh.suspend(t.domain);
          paused.push(t.domain);
        }
      }
      for (const t of targets) {
        if ((await this.virsh.snapshotNames(t.domain)).includes(name)) await this.virsh.snapshotDelete(t.domain, name);
        this.emit({ node: t.node, phase: 'snapshot', message: `snapshot ${name} of ${t.domain}` });
        await this.virsh.snapshotCreate(t.domain, name);
      }
    } finally {
      for (const domain of paused) await this.virsh.resume(domain).catch(() => undefined);
    }
  }

  async snapshotRestore(name: string, nodes?: string[]): Promise<void> {
    const targets = this.targets(nodes).map((n) => ({ node: n.name, domain: this.names.domain(n.name) }));
    const missing: string[] = [];
    for (const t of targets) if (!(await this.virsh.snapshotNames(t.domain)).includes(name)) missing.push(t.node);
    if (missing.length > 0) throw new ProviderError(`the snapshot ${name} does not exist on ${missing.join(', ')}`, { node: missing[0], hint: 'list the snapshots with `hardway-lab snapshot list`' });
    for (const t of targets) {
      this.emit({ node: t.node, phase: 'snapshot', message: `reverting ${t.domain} to ${name}` });
      await this.virsh.snapshotRevert(t.domain, name);
    }
  }

  async snapshotDelete(name: string, nodes?: string[]): Promise<void> {
    for (const n of this.targets(nodes)) {
      const domain = this.names.domain(n.name);
      if ((await this.virsh.snapshotNames(domain)).includes(name)) await this.virsh.snapshotDelete(domain, name);
    }
  }

  async snapshotList(node: string): Promise<string[]> {
    return this.virsh.snapshotNames(this.names.domain(findNode(this.plan, node).name));
  }

  onProgress(listener: (event: ProviderProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The domain names of this lab that libvirt knows, found by the metadata we put in them. */
  async labDomains(): Promise<string[]> {
    const prefix = `${this.plan.labName}-`;
    const found: string[] = [];
    for (const domain of await this.virsh.listDomains()) {
      if (domain.startsWith(prefix) && (await this.isOurs(domain))) found.push(domain);
    }
    return found;
  }

  private async isOurs(domain: string): Promise<boolean> {
    const xml = await this.virsh.dumpXml(domain);
    if (!xml || !xml.includes(HARDWAY_XML_NAMESPACE)) return false;
    const lab = /<hardway:node\b[^>]*\blab=(['"])(.*?)\1/.exec(xml)?.[2];
    const labDir = /<hardway:node\b[^>]*\blabDir=(['"])(.*?)\1/.exec(xml)?.[2];
    return lab === this.plan.labName && unescapeXml(labDir ?? '') === this.options.paths.root;
  }

  private targets(nodes?: string[]): PlannedNode[] {
    return nodes ? nodes.map((n) => findNode(this.plan, n)) : this.plan.nodes;
  }

  private async resolveDomainType(image: LibvirtBootImage): Promise<DomainType> {
    if (this.domainType) return this.domainType;
    this.emit({ phase: 'probe-kvm', message: 'checking whether KVM can boot a kernel here' });
    const verdict = await decideAcceleration(image.kernel, { imageCacheDir: this.options.imageCacheDir, env: this.options.env });
    this.accelerationReason = verdict.reason;
    this.emit({ phase: 'probe-kvm', message: verdict.domainType === 'kvm' ? 'KVM works' : `KVM is not usable: ${verdict.reason}` });
    this.domainType = verdict.domainType;
    return this.domainType;
  }

  private async resolveBootImage(): Promise<LibvirtBootImage> {
    if (this.bootImage) return this.bootImage;
    const spec = this.options.imageSpec ?? { source: 'builder' };
    if (spec.source === 'box') {
      throw new ProviderError('image.source "box" is a Vagrant box, which the libvirt provider does not boot', {
        hint: 'use `image.source: builder` (the default), or `provider: vagrant`',
      });
    }
    if (spec.source === 'file') {
      if (!spec.path || !spec.kernel || !spec.initrd) {
        throw new ProviderError('the libvirt provider boots a kernel directly: image.source "file" needs path, kernel and initrd', {
          hint: 'give image.kernel and image.initrd in hardway-lab.yaml, or use the qemu provider for a disk with its own bootloader',
        });
      }
      for (const file of [spec.path, spec.kernel, spec.initrd]) {
        if (!existsSync(file)) throw new ProviderError(`the image file ${file} does not exist`, { hint: 'fix image.path/kernel/initrd in hardway-lab.yaml' });
      }
      this.bootImage = { qcow2: spec.path, kernel: spec.kernel, initrd: spec.initrd, rootDevice: '/dev/vda', description: spec.path };
      return this.bootImage;
    }
    const image = this.options.image ?? (await findBaseImage(this.options.imageCacheDir ?? imageCacheDir(this.options.env)));
    if (!image) {
      throw new ProviderError('the base image is not built yet', {
        hint: 'run `hardway-lab image build` (downloads Debian from its mirror and takes about 2 minutes; needs root or user namespaces)',
      });
    }
    for (const file of [image.qcow2, image.kernel, image.initrd]) {
      if (!existsSync(file)) throw new ProviderError(`the base image is incomplete: ${file} is missing`, { hint: 'rebuild it: `hardway-lab image build --force`' });
    }
    this.bootImage = {
      qcow2: image.qcow2,
      kernel: image.kernel,
      initrd: image.initrd,
      rootDevice: image.rootDevice ?? '/dev/vda',
      description: `base image ${image.hash.slice(0, 12)}`,
    };
    return this.bootImage;
  }

  private async ensureNetwork(): Promise<void> {
    const name = this.names.network;
    const networks = await this.virsh.listNetworks();
    const existing = networks.find((n) => n.name === name);
    if (!existing) {
      const clash = await this.networkClash();
      if (clash) throw new ProviderError(clash, { hint: 'destroy the other lab, or give this lab another network.nodeSubnet in hardway-lab.yaml.' });
      await mkdir(this.options.paths.vms, { recursive: true });
      await writeFile(this.networkXmlPath(), renderNetworkXml(this.plan, { forward: this.options.forward }));
      await this.virsh.netDefine(this.networkXmlPath());
    } else {
      const xml = (await this.virsh.networkXml(name)) ?? '';
      if (!xml.includes(`address='${this.plan.network.gateway}'`)) {
        throw new ProviderError(`the libvirt network ${name} exists but is not ${this.plan.network.gateway}/${this.plan.network.prefixLength}`, {
          command: `virsh -c ${this.virsh.uri} net-dumpxml ${name}`,
          output: lastLines(xml, 15),
          hint: `the lab's subnet changed since it was created: run \`hardway-lab destroy\` and create it again.`,
        });
      }
    }
    if (!existing?.active) await this.virsh.netStart(name);
  }

  /** Another libvirt network using our bridge name or gateway address makes ours fail to start. */
  private async networkClash(): Promise<string | undefined> {
    for (const network of await this.virsh.listNetworks()) {
      if (network.name === this.names.network) continue;
      const xml = (await this.virsh.networkXml(network.name)) ?? '';
      if (xml.includes(`address='${this.plan.network.gateway}'`) || xml.includes(`name='${this.names.bridge}'`)) {
        return `the libvirt network "${network.name}" already uses ${this.plan.network.gateway} or the bridge ${this.names.bridge}`;
      }
    }
    return undefined;
  }

  private nodeFiles(node: string, image: LibvirtBootImage): NodeFiles {
    const dir = this.nodeDir(node);
    return { overlay: join(dir, OVERLAY), kernel: image.kernel, initrd: image.initrd, consoleLog: join(dir, CONSOLE_LOG) };
  }

  private async defineNode(node: PlannedNode, image: LibvirtBootImage, type: DomainType): Promise<void> {
    const dir = this.nodeDir(node.name);
    await mkdir(dir, { recursive: true });
    const files = this.nodeFiles(node.name, image);
    if (!existsSync(files.overlay)) {
      this.emit({ node: node.name, phase: 'create-overlay', message: `disk ${node.diskGiB} GiB on ${image.description}` });
      const argv = ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', image.qcow2, files.overlay, `${node.diskGiB}G`];
      try {
        await runChecked(argv, { timeoutMs: 60_000 });
      } catch (error) {
        throw fromCommandError(error, `could not create the disk of ${node.name}`, node.name);
      }
    }
    const xml = renderDomainXml(this.plan, node, {
      type,
      files,
      cmdline: renderKernelCmdline({ node, network: this.plan.network, sshPublicKey: this.options.sshPublicKey, rootDevice: image.rootDevice, dns: this.options.dns }),
      runAs: qemuUser(),
      labDir: this.options.paths.root,
    });
    const xmlFile = join(dir, DOMAIN_XML);
    await writeFile(xmlFile, xml);
    this.emit({ node: node.name, phase: 'define', message: `defining ${this.names.domain(node.name)} (${type === 'kvm' ? 'KVM' : 'TCG'})` });
    await this.virsh.define(xmlFile, node.name);
  }

  private async startDomain(node: PlannedNode): Promise<void> {
    const domain = this.names.domain(node.name);
    try {
      await this.virsh.start(domain);
    } catch (error) {
      if (error instanceof ProviderError) {
        throw new ProviderError(`${node.name} (${domain}) did not start`, {
          node: node.name,
          command: error.command,
          output: error.output,
          hint: `see \`virsh -c ${this.virsh.uri} start ${domain}\` and /var/log/libvirt/qemu/${domain}.log`,
          cause: error,
        });
      }
      throw error;
    }
  }

  private emit(event: ProviderProgress): void {
    for (const listener of this.listeners) listener(event);
  }
}

/**
 * As root, QEMU runs as root too: the image cache and lab dir then may sit in root's 0700 home.
 * Otherwise libvirt's default user applies (a static label for another uid cannot even read
 * libvirt's own per-domain files under /var/lib/libvirt/qemu).
 */
function qemuUser(): { uid: number; gid: number } | undefined {
  return process.getuid?.() === 0 ? { uid: 0, gid: 0 } : undefined;
}

function isUp(state: DomainState | undefined): boolean {
  return state === 'running' || state === 'idle' || state === 'paused' || state === 'in shutdown';
}

export function toVmState(state: DomainState | undefined): VmState {
  switch (state) {
    case undefined:
      return 'absent';
    case 'running':
    case 'idle':
      return 'running';
    case 'crashed':
      return 'failed';
    case 'in shutdown':
    case 'shut off':
    case 'paused':
    case 'pmsuspended':
    case 'no state':
      return 'stopped';
  }
}

async function readPid(domain: string): Promise<number | undefined> {
  // Readable by root only; the pid is a nicety for `status`.
  const text = await readFile(`/run/libvirt/qemu/${domain}.pid`, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function unescapeXml(text: string): string {
  return text.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function withHint(error: unknown, hint: string): ProviderError {
  if (error instanceof ProviderError) {
    return new ProviderError(error.message, { node: error.node, command: error.command, output: error.output, hint: error.hint ?? hint, cause: error });
  }
  return new ProviderError((error as Error).message, { hint, cause: error });
}

function fromCommandError(error: unknown, message: string, node?: string): ProviderError {
  if (error instanceof CommandError) {
    return new ProviderError(message, { node, command: error.command, output: lastLines(error.result.output, 20), cause: error });
  }
  return new ProviderError(`${message}: ${(error as Error).message}`, { node, cause: error });
}

/** The provider for a lab as the engine describes it (see create-provider.ts). */
export function libvirtProviderFor(context: ProviderContext): LibvirtProvider {
  return new LibvirtProvider({
    plan: context.plan,
    paths: context.paths,
    sshPublicKey: context.sshPublicKey,
    imageSpec: context.spec.image,
    image: context.image,
    forward: context.spec.network.nat ? 'nat' : 'isolated',
    dns: labResolvers(context.spec),
  });
}
