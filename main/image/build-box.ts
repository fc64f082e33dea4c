// A vagrant-libvirt box made from the base image: the same disk, kernel and initrd the other
// providers boot, packed the way vagrant-libvirt expects (box.img + metadata.json + Vagrantfile).
// The box's own Vagrantfile boots the kernel and initrd shipped inside the box directly, as the
// image has no bootloader.
//
// Each base image gets its own box version (from its build time), added through a small catalog
// file: vagrant-libvirt uploads a box's disk into the libvirt storage pool once per name and
// version, so re-adding a changed box under the same version would leave VMs on the old disk.

import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ProviderError } from '../providers/provider.ts';
import { VagrantCli } from '../providers/vagrant/vagrant-cli.ts';
import { DEFAULT_BOX_NAME } from '../providers/vagrant/vagrant-lab-file.ts';
import { findBaseImage, imageCacheDir, type BaseImage } from './build-image.ts';
import { CommandError, lastLines, runChecked } from './run-command.ts';

/** Bump when the box layout or its Vagrantfile changes. */
export const BOX_FORMAT_VERSION = 1;
/** Written into the box, so an added box says which image it carries. */
export const BOX_IMAGE_MARKER = 'hardway-image.json';

export interface VagrantBox {
  name: string;
  /** `<format>.<YYYYMMDD>.<HHMMSS>` of the image build: newer images sort higher. */
  version: string;
  /** The .box archive (an uncompressed tar: qcow2 barely compresses and gzip would take minutes). */
  file: string;
  /** A Vagrant box catalog pointing at the archive, what `vagrant box add` reads. */
  catalog: string;
  imageHash: string;
}

export interface BuildBoxOptions {
  image?: BaseImage;
  name?: string;
  onProgress?: (line: string) => void;
}

/** The embedded Vagrantfile: direct kernel boot from files inside the box, DHCP on the management NIC. */
export function renderBoxVagrantfile(): string {
  return `# Hardway Lab box: Debian with no bootloader, booted directly from the kernel and initrd in this
# box. A lab's own Vagrantfile replaces cmd_line with the node's address, hostname and SSH key.
Vagrant.configure('2') do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(__dir__, 'vmlinuz')
    libvirt.initrd = File.join(__dir__, 'initrd.img')
    libvirt.cmd_line = 'root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 biosdevname=0 ip=eth0:dhcp ' \\
                       'systemd.wants=systemd-network-generator.service systemd.wants=systemd-networkd.service'
    libvirt.disk_bus = 'virtio'
    libvirt.nic_model_type = 'virtio'
  end
end
`;
}

export function boxVersion(image: Pick<BaseImage, 'builtAt'>): string {
  const stamp = image.builtAt.replace(/[-:TZ.]/g, '');
  return `${BOX_FORMAT_VERSION}.${stamp.slice(0, 8)}.${stamp.slice(8, 14)}`;
}

export function renderBoxCatalog(name: string, version: string, boxFile: string): string {
  return `${JSON.stringify(
    { name, description: 'Hardway Lab base image (Debian bookworm, direct kernel boot)', versions: [{ version, providers: [{ name: 'libvirt', url: pathToFileURL(boxFile).href }] }] },
    null,
    2,
  )}\n`;
}

/** Builds (or finds already built) the box for the base image, next to the image in its cache dir. */
export async function buildVagrantBox(options: BuildBoxOptions = {}): Promise<VagrantBox> {
  const progress = options.onProgress ?? (() => {});
  const image = options.image ?? (await findBaseImage());
  if (!image) {
    throw new ProviderError('there is no base image to make a Vagrant box from', {
      hint: `build it first: \`hardway-lab image build\` (it is cached in ${imageCacheDir()})`,
    });
  }
  const name = options.name ?? DEFAULT_BOX_NAME;
  const version = boxVersion(image);
  const boxDir = join(image.dir, 'vagrant');
  const file = join(boxDir, `${name.replace(/\//g, '-')}-${version}.box`);
  const catalog = join(boxDir, `${name.replace(/\//g, '-')}-${version}.json`);
  const box: VagrantBox = { name, version, file, catalog, imageHash: image.hash };
  if (existsSync(file) && existsSync(catalog)) {
    progress(`Vagrant box ${name} ${version} is already built: ${file}`);
    return box;
  }

  await mkdir(boxDir, { recursive: true });
  const staging = join(boxDir, `.staging-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging);
  try {
    const info = JSON.parse((await run(['qemu-img', 'info', '--output=json', image.qcow2], 'could not read the base image')).stdout) as {
      'virtual-size': number;
    };
    const metadata = { provider: 'libvirt', format: 'qcow2', virtual_size: Math.ceil(info['virtual-size'] / 1024 ** 3) };
    await writeFile(join(staging, 'metadata.json'), `${JSON.stringify(metadata, null, 2)}\n`);
    await writeFile(join(staging, 'Vagrantfile'), renderBoxVagrantfile());
    await writeFile(
      join(staging, BOX_IMAGE_MARKER),
      `${JSON.stringify({ imageHash: image.hash, builtAt: image.builtAt, kernelVersion: image.kernelVersion, boxFormat: BOX_FORMAT_VERSION }, null, 2)}\n`,
    );
    // Links, archived with -h: the 600 MB disk is read once, straight into the archive.
    await symlink(image.qcow2, join(staging, 'box.img'));
    await symlink(image.kernel, join(staging, 'vmlinuz'));
    await symlink(image.initrd, join(staging, 'initrd.img'));
    progress(`packing the Vagrant box ${name} ${version} (${metadata.virtual_size} GiB disk)`);
    const partial = `${file}.partial`;
    await run(
      ['tar', '--create', '--dereference', '--file', partial, '--directory', staging, 'metadata.json', 'Vagrantfile', BOX_IMAGE_MARKER, 'box.img', 'vmlinuz', 'initrd.img'],
      'could not pack the Vagrant box',
    );
    await rename(partial, file);
    await writeFile(catalog, renderBoxCatalog(name, version, file));
    progress(`Vagrant box ready: ${file}`);
    return box;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export interface AddBoxOptions {
  /** VAGRANT_HOME; default Vagrant's (~/.vagrant.d). */
  vagrantHome?: string;
  onProgress?: (line: string) => void;
}

/** `vagrant box add` unless this exact name and version is already there. Returns whether it added. */
export async function addVagrantBox(box: VagrantBox, options: AddBoxOptions = {}): Promise<boolean> {
  // Run outside any lab: Vagrant loads the Vagrantfile of its working directory for every command.
  const cli = new VagrantCli({ cwd: join(box.file, '..'), home: options.vagrantHome });
  const installed = await cli.boxList();
  if (installed.some((b) => b.name === box.name && b.version === box.version && (b.provider ?? 'libvirt') === 'libvirt')) {
    options.onProgress?.(`Vagrant box ${box.name} ${box.version} is already added`);
    return false;
  }
  options.onProgress?.(`adding the Vagrant box ${box.name} ${box.version}`);
  await cli.boxAdd(box.catalog, { onUi: (line) => options.onProgress?.(line) });
  return true;
}

/** Builds the box if needed and adds it if needed: what the vagrant provider calls before `vagrant up`. */
export async function ensureVagrantBox(options: BuildBoxOptions & AddBoxOptions = {}): Promise<VagrantBox> {
  const box = await buildVagrantBox(options);
  await addVagrantBox(box, options);
  return box;
}

/** The image hash an added box carries, read from its directory under VAGRANT_HOME. */
export async function addedBoxImageHash(vagrantHome: string, box: Pick<VagrantBox, 'name' | 'version'>): Promise<string | undefined> {
  const dir = join(vagrantHome, 'boxes', box.name.replace(/\//g, '-VAGRANTSLASH-'), box.version, 'libvirt');
  try {
    return (JSON.parse(await readFile(join(dir, BOX_IMAGE_MARKER), 'utf8')) as { imageHash?: string }).imageHash;
  } catch {
    return undefined;
  }
}

async function run(argv: string[], what: string) {
  try {
    return await runChecked(argv, { timeoutMs: 30 * 60_000 });
  } catch (error) {
    if (error instanceof CommandError) throw new ProviderError(what, { command: error.command, output: lastLines(error.result.output, 15), cause: error });
    throw new ProviderError(`${what}: ${(error as Error).message}`, { cause: error });
  }
}
