// The vagrant provider: the lab's VMs made by `vagrant up` from a real Vagrantfile (vagrant/
// Vagrantfile, copied into <lab>/vagrant/), with vagrant-libvirt underneath. The engine writes the
// plan as <lab>/vagrant/lab.json; everything else is Vagrant's own doing, so a person can run the
// same `vagrant` commands by hand in that directory.

import { labResolvers } from '../host-resolvers.ts';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVagrantBox, type VagrantBox } from '../../image/build-box.ts';
import { findBaseImage, imageCacheDir, type BaseImage } from '../../image/build-image.ts';
import { lastLines } from '../../image/run-command.ts';
import type { LabPaths } from '../../lab/lab-dir.ts';
import { findNode, type Plan } from '../../plan/address-plan.ts';
import type { ProviderContext } from '../create-provider.ts';
import { decideAcceleration } from '../libvirt/acceleration.ts';
import { Virsh, resolveLibvirtUri } from '../libvirt/virsh.ts';
import {
  ProviderError,
  type NodeStatus,
  type PreflightReport,
  type Provider,
  type ProviderProgress,
  type SshEndpoint,
  type VmState,
} from '../provider.ts';
import { VagrantCli, type MachineStatus } from './vagrant-cli.ts';
import { renderVagrantLabFile, type VagrantLabFile } from './vagrant-lab-file.ts';

export const SHIPPED_VAGRANTFILE = fileURLToPath(new URL('../../../vagrant/Vagrantfile', import.meta.url));
const SHIPPED_MARK = '.Vagrantfile.shipped.sha256';

export interface VagrantProviderOptions {
  plan: Plan;
  paths: LabPaths;
  ssh: { privateKeyPath: string; publicKey: string };
  /** libvirt connection for vagrant-libvirt; default $LIBVIRT_DEFAULT_URI, else qemu:///system. */
  uri?: string;
  /** VAGRANT_HOME (boxes); default $VAGRANT_HOME, else Vagrant's ~/.vagrant.d. */
  vagrantHome?: string;
  /** `kvm` or `qemu` (TCG); left out, HARDWAY_QEMU_ACCEL, else a short real boot under KVM decides. */
  driver?: 'kvm' | 'qemu';
  /** The base image the box is made from; looked up in the image cache when absent. */
  image?: BaseImage;
  imageCacheDir?: string;
  /** The box to use; default: built from the base image and added when missing. */
  box?: VagrantBox | (() => Promise<VagrantBox>);
  managementSubnet?: string;
  /** network.nat: the lab network NATed out of the host; dns: the nodes' resolvers then. */
  nat?: boolean;
  dns?: string[];
  /** Limit for one `vagrant up` (all nodes boot in parallel). Default 30 minutes. */
  upTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export class VagrantProvider implements Provider {
  readonly name = 'vagrant' as const;
  readonly vagrantDir: string;
  readonly cli: VagrantCli;
  private readonly listeners = new Set<(event: ProviderProgress) => void>();
  private readonly env: NodeJS.ProcessEnv;
  private driver?: 'kvm' | 'qemu';
  private driverReason?: string;

  constructor(private readonly options: VagrantProviderOptions) {
    this.env = options.env ?? process.env;
    this.vagrantDir = join(options.paths.root, 'vagrant');
    this.driver = options.driver;
    this.cli = new VagrantCli({
      cwd: this.vagrantDir,
      dotfilePath: join(this.vagrantDir, '.vagrant'),
      home: options.vagrantHome ?? (this.env.VAGRANT_HOME || undefined),
      env: { ...this.env, HARDWAY_LAB_DIR: options.paths.root },
    });
  }

  get plan(): Plan {
    return this.options.plan;
  }

  get uri(): string {
    return resolveLibvirtUri(this.options.uri, this.env);
  }

  labFilePath(): string {
    return join(this.vagrantDir, 'lab.json');
  }

  async preflight(): Promise<PreflightReport> {
    const warnings: string[] = [];
    await mkdir(this.vagrantDir, { recursive: true });
    await this.cli.versionString();
    const plugins = await this.cli.run(['plugin', 'list']);
    if (!plugins.records.some((r) => r.type === 'plugin-name' && r.data[0] === 'vagrant-libvirt')) {
      throw new ProviderError('the vagrant-libvirt plugin is not installed', {
        command: this.cli.describeCommand(['plugin', 'list']),
        hint: 'install it: sudo apt-get install vagrant-libvirt (Debian 12), or `vagrant plugin install vagrant-libvirt`',
      });
    }
    try {
      await new Virsh({ uri: this.uri, env: this.env }).version();
    } catch (error) {
      const e = error as ProviderError;
      throw new ProviderError(`libvirt does not answer on ${this.uri}; vagrant-libvirt needs it`, {
        command: e.command,
        output: e.output,
        hint: 'start libvirtd (`sudo systemctl start libvirtd`); non-root users need the "libvirt" group.',
        cause: error,
      });
    }
    const driver = await this.resolveDriver();
    if (driver === 'qemu') {
      const why = this.driverReason ? `KVM is not usable here (${this.driverReason})` : 'libvirt driver qemu';
      warnings.push(`${why}: VMs run under software emulation (TCG), several times slower.`);
    }
    if (process.getuid?.() !== 0) {
      warnings.push(
        'QEMU runs as libvirt\'s own user ("libvirt-qemu" on Debian): VAGRANT_HOME (the box kernel) and the lab directory (console logs) must be searchable by it.',
      );
    }
    return { acceleration: driver === 'kvm' ? 'kvm' : 'tcg', warnings };
  }

  async create(nodes?: string[]): Promise<void> {
    const box = await this.resolveBox();
    await this.writeLabFiles(box);
    await this.up(nodes);
  }

  async start(nodes?: string[]): Promise<void> {
    if (!existsSync(this.labFilePath())) {
      throw new ProviderError('this lab has no Vagrant machines yet', { hint: 'run `hardway-lab up --vms-only` (or `hardway-lab up`) first.' });
    }
    await this.up(nodes);
  }

  async stop(nodes?: string[]): Promise<void> {
    if (!existsSync(this.labFilePath())) return;
    this.emit({ phase: 'stop', message: 'vagrant halt' });
    await this.cli.halt(this.targets(nodes), { timeoutMs: 10 * 60_000, onUi: (line, target) => this.log(line, target) });
  }

  async destroy(): Promise<void> {
    if (existsSync(this.labFilePath())) {
      this.emit({ phase: 'destroy', message: 'vagrant destroy -f' });
      await this.cli.destroy([], { timeoutMs: 10 * 60_000, onUi: (line, target) => this.log(line, target) });
      // vagrant-libvirt removes the networks it created with the last machine; make sure, since a
      // network left behind would clash with the next lab on the same subnet.
      const lab = JSON.parse(await readFile(this.labFilePath(), 'utf8')) as VagrantLabFile;
      const virsh = new Virsh({ uri: this.uri, env: this.env });
      for (const network of [lab.libvirt.labNetwork, lab.libvirt.managementNetwork]) {
        await virsh.netDestroy(network);
        await virsh.netUndefine(network);
      }
    }
    await rm(join(this.vagrantDir, '.vagrant'), { recursive: true, force: true });
    for (const node of this.plan.nodes) await rm(join(this.vagrantDir, node.name), { recursive: true, force: true });
  }

  async status(): Promise<NodeStatus[]> {
    if (!existsSync(this.labFilePath())) return this.plan.nodes.map((n) => ({ node: n.name, state: 'absent' as VmState, detail: 'no Vagrant lab files yet' }));
    const machines = await this.cli.status([], { timeoutMs: 120_000 });
    return this.plan.nodes.map((node) => {
      const machine = machines.find((m) => m.name === node.name);
      return {
        node: node.name,
        state: machine ? toVmState(machine) : 'absent',
        detail: machine ? `vagrant: ${machine.human ?? machine.state} (${machine.provider ?? 'libvirt'})` : 'not in the Vagrantfile',
      };
    });
  }

  sshEndpoint(node: string): SshEndpoint {
    return { host: findNode(this.plan, node).ip, port: 22, user: 'root' };
  }

  async consoleTail(node: string, lines = 40): Promise<string> {
    const file = join(this.vagrantDir, node, 'console.log');
    try {
      return lastLines(await readFile(file, 'utf8'), lines);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return `(no console log yet at ${file})`;
      if (code === 'EACCES') return `(the console log ${file} belongs to libvirt's QEMU user; read it with sudo)`;
      throw error;
    }
  }

  // Snapshots: `vagrant snapshot`, which vagrant-libvirt implements as libvirt snapshots (with
  // the RAM of a running machine). Vagrant takes them one machine after the other.

  async snapshotSave(name: string, nodes?: string[]): Promise<void> {
    if (!existsSync(this.labFilePath())) throw new ProviderError('this lab has no Vagrant machines yet', { hint: 'run `hardway-lab up` first.' });
    this.emit({ phase: 'snapshot', message: `vagrant snapshot save ${name}` });
    await this.cli.snapshotSave(name, this.targets(nodes), { timeoutMs: 20 * 60_000, onUi: (line, target) => this.log(line, target) });
  }

  async snapshotRestore(name: string, nodes?: string[]): Promise<void> {
    const missing: string[] = [];
    for (const node of nodes ?? this.plan.nodes.map((n) => n.name)) if (!(await this.snapshotList(node)).includes(name)) missing.push(node);
    if (missing.length > 0) throw new ProviderError(`the snapshot ${name} does not exist on ${missing.join(', ')}`, { node: missing[0], hint: 'list the snapshots with `hardway-lab snapshot list`' });
    this.emit({ phase: 'snapshot', message: `vagrant snapshot restore ${name}` });
    await this.cli.snapshotRestore(name, this.targets(nodes), { timeoutMs: 20 * 60_000, onUi: (line, target) => this.log(line, target) });
  }

  async snapshotDelete(name: string, nodes?: string[]): Promise<void> {
    for (const node of nodes ?? this.plan.nodes.map((n) => n.name)) {
      if ((await this.snapshotList(node)).includes(name)) await this.cli.snapshotDelete(name, node, { timeoutMs: 10 * 60_000, node });
    }
  }

  async snapshotList(node: string): Promise<string[]> {
    if (!existsSync(this.labFilePath())) return [];
    return this.cli.snapshotList(findNode(this.plan, node).name, { timeoutMs: 120_000, node });
  }

  onProgress(listener: (event: ProviderProgress) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes lab.json and the Vagrantfile (unless the lab's copy was edited by hand). */
  async writeLabFiles(box: Pick<VagrantBox, 'name' | 'version'>): Promise<void> {
    await mkdir(this.vagrantDir, { recursive: true });
    for (const node of this.plan.nodes) await mkdir(join(this.vagrantDir, node.name), { recursive: true });
    const lab = renderVagrantLabFile(this.plan, {
      labDir: this.options.paths.root,
      vagrantDir: this.vagrantDir,
      privateKeyPath: this.options.ssh.privateKeyPath,
      publicKey: this.options.ssh.publicKey,
      boxName: box.name,
      boxVersion: box.version,
      uri: this.uri,
      driver: await this.resolveDriver(),
      managementSubnet: this.options.managementSubnet,
      nat: this.options.nat,
      dns: this.options.dns,
    });
    await writeFile(this.labFilePath(), `${JSON.stringify(lab, null, 2)}\n`);

    const target = join(this.vagrantDir, 'Vagrantfile');
    const mark = join(this.vagrantDir, SHIPPED_MARK);
    const shipped = await readFile(SHIPPED_VAGRANTFILE);
    if (existsSync(target)) {
      const current = sha256(await readFile(target));
      const lastShipped = (await readFile(mark, 'utf8').catch(() => '')).trim();
      if (current !== lastShipped && current !== sha256(shipped)) {
        this.emit({ phase: 'vagrantfile', message: `keeping your edited ${target} (the shipped one is ${SHIPPED_VAGRANTFILE})` });
        return;
      }
    }
    await copyFile(SHIPPED_VAGRANTFILE, target);
    await writeFile(mark, `${sha256(shipped)}\n`);
  }

  private async up(nodes?: string[]): Promise<void> {
    const targets = this.targets(nodes);
    this.emit({ phase: 'boot', message: `vagrant up --provider=libvirt ${targets.join(' ') || '(all nodes)'}` });
    try {
      await this.cli.up(targets, {
        provider: 'libvirt',
        timeoutMs: this.options.upTimeoutMs ?? 30 * 60_000,
        onUi: (line, target) => this.log(line, target),
      });
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      const consoles = await Promise.all((nodes ?? this.plan.nodes.map((n) => n.name)).map(async (n) => `--- ${n} console ---\n${await this.consoleTail(n, 8)}`));
      throw new ProviderError(error.message, {
        node: error.node,
        command: error.command,
        output: `${error.output ?? ''}\n${consoles.join('\n')}`.trim(),
        hint: error.hint ?? `run the command above in ${this.vagrantDir} to see Vagrant's full output; \`vagrant destroy -f\` there clears a half-made machine.`,
        cause: error,
      });
    }
  }

  private targets(nodes?: string[]): string[] {
    return nodes ? nodes.map((n) => findNode(this.plan, n).name) : [];
  }

  private async resolveBox(): Promise<VagrantBox> {
    const { box } = this.options;
    if (typeof box === 'function') return box();
    if (box) return box;
    return ensureVagrantBox({
      image: await this.resolveImage(),
      vagrantHome: this.options.vagrantHome ?? (this.env.VAGRANT_HOME || undefined),
      onProgress: (message) => this.emit({ phase: 'box', message }),
    });
  }

  private async resolveImage(): Promise<BaseImage> {
    const image = this.options.image ?? (await findBaseImage(this.options.imageCacheDir ?? imageCacheDir(this.env)));
    if (!image) {
      throw new ProviderError('the base image is not built yet (the Vagrant box is made from it)', {
        hint: 'run `hardway-lab image build` (downloads Debian from its mirror and takes about 2 minutes)',
      });
    }
    return image;
  }

  private async resolveDriver(): Promise<'kvm' | 'qemu'> {
    if (this.driver) return this.driver;
    this.emit({ phase: 'probe-kvm', message: 'checking whether KVM can boot a kernel here' });
    const verdict = await decideAcceleration((await this.resolveImage()).kernel, { imageCacheDir: this.options.imageCacheDir, env: this.env });
    this.driverReason = verdict.reason;
    this.emit({ phase: 'probe-kvm', message: verdict.domainType === 'kvm' ? 'KVM works' : `KVM is not usable: ${verdict.reason}` });
    this.driver = verdict.domainType;
    return this.driver;
  }

  private log(line: string, target: string): void {
    this.emit({ node: target || undefined, phase: 'vagrant', message: line.trim() });
  }

  private emit(event: ProviderProgress): void {
    for (const listener of this.listeners) listener(event);
  }
}

export function toVmState(machine: Pick<MachineStatus, 'state'>): VmState {
  switch (machine.state) {
    case 'running':
      return 'running';
    case 'not_created':
      return 'absent';
    case 'preparing':
    case 'inaccessible':
      return 'starting';
    case 'crashed':
      return 'failed';
    default:
      // shutoff, paused, suspended, saved, ...
      return 'stopped';
  }
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The provider for a lab as the engine describes it (see create-provider.ts). */
export function vagrantProviderFor(context: ProviderContext): VagrantProvider {
  const { spec } = context;
  if (spec.image.source === 'file') {
    throw new ProviderError('the vagrant provider boots a Vagrant box: image.source "file" is for the qemu and libvirt providers', {
      hint: 'use `image.source: builder` (the box is made from the base image) or `image.source: box` with `image.box: NAME`',
    });
  }
  return new VagrantProvider({
    plan: context.plan,
    paths: context.paths,
    // ensureLabSshKey(paths.ssh) keeps the lab's private key here.
    ssh: { privateKeyPath: join(context.paths.ssh, 'id_ed25519'), publicKey: context.sshPublicKey },
    image: context.image,
    box: spec.image.source === 'box' && spec.image.box ? { name: spec.image.box, version: '', file: '', catalog: '', imageHash: '' } : undefined,
    nat: spec.network.nat,
    dns: labResolvers(spec),
  });
}
