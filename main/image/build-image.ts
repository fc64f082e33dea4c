// The offline base image: Debian bookworm built with mmdebstrap from a Debian mirror alone, an ext4
// filesystem written straight onto the virtual disk (no partition table: root=/dev/vda), plus the
// kernel and initrd pulled out of it for direct kernel boot. Every node's disk is a copy-on-write
// overlay of this one image; per-node settings arrive on the kernel command line (see
// provision/image/rootfs/usr/local/sbin/hardway-boot-config and docs/image-and-vms.md).
//
// Images are cached by a sha256 of everything that goes into them, so a second build is instant.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LabError } from '../shared/lab-error.ts';
import { defaultDebianMirror } from './debian-mirror.ts';
import { CommandError, formatCommand, lastLines, runChecked, runCommand } from './run-command.ts';

/** Bump when the build procedure changes in a way the inputs below do not show. */
export const IMAGE_BUILDER_VERSION = 1;
export const IMAGE_SUITE = 'bookworm';

/**
 * What the image contains beyond Debian's required set: a kernel, systemd, SSH, and the tools the
 * hard-way steps use on the nodes. Kubernetes, etcd and containerd are NOT here: installing them is
 * part of the lab.
 */
export const IMAGE_PACKAGES = [
  'linux-image-amd64',
  'initramfs-tools',
  // The initrd is zstd-compressed only if zstd is installed (else gzip, which unpacks slower).
  'zstd',
  'systemd-sysv',
  'udev',
  'dbus',
  'openssh-server',
  'iproute2',
  'iptables',
  'conntrack',
  'socat',
  'ipset',
  'ethtool',
  'netbase',
  'iputils-ping',
  'ca-certificates',
  'curl',
  'kmod',
  'procps',
  'openssl',
  'less',
] as const;

/** Documentation and translations are left out: smaller image, faster boot from a smaller disk. */
const DPKG_EXCLUDES = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
];

export const BASE_IMAGE_MANIFEST = 'image.json';
export const BASE_IMAGE_DISK = 'base.qcow2';

export interface BaseImage {
  /** The cache directory of this image: <cache>/<hash>/. */
  dir: string;
  qcow2: string;
  kernel: string;
  initrd: string;
  hash: string;
  /** ISO 8601. */
  builtAt: string;
  kernelVersion?: string;
  mirror?: string;
  suite?: string;
  /** The filesystem is directly on the disk (root=/dev/vda). */
  rootDevice?: string;
}

export interface BuildImageOptions {
  cacheDir?: string;
  mirror?: string;
  force?: boolean;
  onProgress?: (line: string) => void;
}

/** `${HARDWAY_IMAGE_CACHE:-${XDG_CACHE_HOME:-~/.cache}/hardway-lab/images}` */
export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HARDWAY_IMAGE_CACHE) return env.HARDWAY_IMAGE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hardway-lab', 'images');
}

export const IMAGE_PROVISION_DIR = fileURLToPath(new URL('../../provision/image/', import.meta.url));

export interface ImageRecipe {
  suite: string;
  mirror: string;
  packages: readonly string[];
  builderVersion: number;
  /** sha256 over every input, mirror included: the cache key. */
  hash: string;
  /** sha256 over every input but the mirror: the same image, fetched from elsewhere. */
  contentHash: string;
}

export async function imageRecipe(mirror: string = defaultDebianMirror()): Promise<ImageRecipe> {
  const content = createHash('sha256');
  content.update(`builder ${IMAGE_BUILDER_VERSION}\nsuite ${IMAGE_SUITE}\n`);
  content.update(`packages ${IMAGE_PACKAGES.join(',')}\ndpkg ${DPKG_EXCLUDES.join(',')}\n`);
  for (const file of await listFiles(IMAGE_PROVISION_DIR)) {
    const info = await stat(file);
    content.update(`file ${relative(IMAGE_PROVISION_DIR, file)} ${info.mode & 0o111 ? 'x' : '-'}\n`);
    content.update(await readFile(file));
  }
  const contentHash = content.digest('hex');
  const hash = createHash('sha256').update(`${contentHash}\nmirror ${mirror}\n`).digest('hex');
  return { suite: IMAGE_SUITE, mirror, packages: IMAGE_PACKAGES, builderVersion: IMAGE_BUILDER_VERSION, hash, contentHash };
}

/**
 * The cached image for the current recipe: built from the given (or the host's) mirror, else the
 * newest one with the same contents from any mirror. Undefined when none is built yet.
 */
export async function findBaseImage(cacheDir: string = imageCacheDir(), options: { mirror?: string } = {}): Promise<BaseImage | undefined> {
  const recipe = await imageRecipe(options.mirror ?? defaultDebianMirror());
  const exact = await readImage(join(cacheDir, recipe.hash));
  if (exact) return exact;
  let entries: string[] = [];
  try {
    entries = await readdir(cacheDir);
  } catch {
    return undefined;
  }
  const candidates: BaseImage[] = [];
  for (const name of entries) {
    if (name.startsWith('.')) continue;
    const image = await readImage(join(cacheDir, name), recipe.contentHash);
    if (image) candidates.push(image);
  }
  candidates.sort((a, b) => b.builtAt.localeCompare(a.builtAt));
  return candidates[0];
}

async function readImage(dir: string, wantContentHash?: string): Promise<BaseImage | undefined> {
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(await readFile(join(dir, BASE_IMAGE_MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
  if (wantContentHash && manifest.contentHash !== wantContentHash) return undefined;
  const image: BaseImage = {
    dir,
    qcow2: join(dir, BASE_IMAGE_DISK),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    hash: String(manifest.hash),
    builtAt: String(manifest.builtAt),
    kernelVersion: typeof manifest.kernelVersion === 'string' ? manifest.kernelVersion : undefined,
    mirror: typeof manifest.mirror === 'string' ? manifest.mirror : undefined,
    suite: typeof manifest.suite === 'string' ? manifest.suite : undefined,
    rootDevice: '/dev/vda',
  };
  if (![image.qcow2, image.kernel, image.initrd].every((f) => existsSync(f))) return undefined;
  return image;
}

/** The base image could not be built: the command, the end of its output, what to do. */
export class ImageBuildError extends LabError {
  override name = 'ImageBuildError';
}

const REQUIRED_TOOLS: Array<{ command: string; pkg: string }> = [
  { command: 'mmdebstrap', pkg: 'mmdebstrap' },
  { command: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { command: 'qemu-img', pkg: 'qemu-utils' },
];

/** Builds the base image, or returns the cached one when its inputs have not changed. */
export async function buildBaseImage(options: BuildImageOptions = {}): Promise<BaseImage> {
  const cacheDir = options.cacheDir ?? imageCacheDir();
  const progress = options.onProgress ?? (() => {});
  const mirror = (options.mirror ?? defaultDebianMirror()).replace(/\/+$/, '');
  const recipe = await imageRecipe(mirror);
  const finalDir = join(cacheDir, recipe.hash);

  if (!options.force) {
    const cached = await readImage(finalDir);
    if (cached) {
      progress(`base image ${recipe.hash.slice(0, 12)} is already built (${cached.builtAt}): ${finalDir}`);
      return cached;
    }
  }

  for (const tool of REQUIRED_TOOLS) {
    if (!(await commandExists(tool.command))) {
      throw new ImageBuildError(`the image builder needs ${tool.command}, which is not installed`, {
        hint: `install it: sudo apt-get install ${tool.pkg}`,
      });
    }
  }

  const asRoot = process.getuid?.() === 0;
  const mode = asRoot ? 'root' : 'unshare';
  if (!asRoot) {
    progress('not running as root: building in mmdebstrap --mode=unshare (needs unprivileged user namespaces and /etc/subuid, /etc/subgid entries for this user)');
  }
  // Commands that must see the tree's files as root-owned run inside mmdebstrap's user namespace.
  const inNamespace = (argv: string[]) => (asRoot ? argv : ['mmdebstrap', '--unshare-helper', ...argv]);

  await mkdir(cacheDir, { recursive: true });
  const work = join(cacheDir, `.build-${recipe.hash.slice(0, 12)}-${process.pid}`);
  const rootDir = join(work, 'rootfs');
  const outDir = join(work, 'out');
  await rm(work, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  const started = Date.now();
  try {
    const hooks = join(IMAGE_PROVISION_DIR, 'hooks');
    const mmdebstrap = [
      'mmdebstrap',
      `--mode=${mode}`,
      '--variant=required',
      '--format=directory',
      `--include=${IMAGE_PACKAGES.join(',')}`,
      ...DPKG_EXCLUDES.map((rule) => `--dpkgopt=${rule}`),
      `--essential-hook=${shellQuote(join(hooks, 'before-packages.sh'))} "$1"`,
      `--customize-hook=${shellQuote(join(hooks, 'customize-image.sh'))} "$1"`,
      recipe.suite,
      rootDir,
      mirror,
    ];
    progress(`building Debian ${recipe.suite} from ${mirror} with mmdebstrap (about 2 minutes)`);
    await runStep(mmdebstrap, 'mmdebstrap could not build the Debian tree', {
      onLine: (line) => line.trim() && progress(line),
      timeoutMs: 45 * 60_000,
      hint: asRoot
        ? `check that ${mirror} is reachable (apt-get update works on this host), or pass another mirror with --mirror`
        : `building as a normal user needs mmdebstrap --mode=unshare to work (unprivileged user namespaces enabled, this user listed in /etc/subuid and /etc/subgid); otherwise run the build as root (sudo). Also check that ${mirror} is reachable`,
    });

    progress('extracting the kernel and initrd for direct kernel boot');
    const bootFiles = await readdir(join(rootDir, 'boot'));
    const kernelName = newestVersioned(bootFiles, 'vmlinuz-');
    const initrdName = newestVersioned(bootFiles, 'initrd.img-');
    if (!kernelName || !initrdName) {
      throw new ImageBuildError(`the built tree has no kernel or initrd in /boot (found: ${bootFiles.join(', ') || 'nothing'})`, {
        hint: 'linux-image-amd64 and initramfs-tools must install cleanly; look at the mmdebstrap output above',
      });
    }
    const kernelVersion = kernelName.slice('vmlinuz-'.length);
    await copyFile(join(rootDir, 'boot', kernelName), join(outDir, 'vmlinuz'));
    await copyFile(join(rootDir, 'boot', initrdName), join(outDir, 'initrd.img'));

    // Room for the tree plus headroom; each node's overlay is larger and the fs grows at boot.
    const du = await runStep(inNamespace(['du', '-s', '--block-size=1M', rootDir]), 'could not measure the built tree', {});
    const usedMiB = Number(du.stdout.trim().split(/\s+/)[0]);
    const sizeMiB = Math.max(2048, Math.ceil((usedMiB * 1.4 + 512) / 256) * 256);

    const raw = join(work, 'root.raw');
    progress(`writing the ext4 filesystem (${usedMiB} MiB used, ${sizeMiB} MiB disk)`);
    await runStep(['truncate', '-s', `${sizeMiB}M`, raw], 'could not create the raw disk', {});
    await runStep(
      inNamespace(['mkfs.ext4', '-q', '-F', '-L', 'hardway-root', '-m', '1', '-E', 'lazy_itable_init=0,lazy_journal_init=0', '-d', rootDir, raw]),
      'mkfs.ext4 could not write the filesystem',
      { hint: 'mkfs.ext4 -d needs e2fsprogs 1.43 or newer' },
    );
    await runStep(['e2fsck', '-f', '-n', raw], 'the new filesystem does not check clean', {});

    progress('converting to qcow2');
    await runStep(['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', raw, join(outDir, BASE_IMAGE_DISK)], 'qemu-img convert failed', {});
    await rm(raw, { force: true });

    const builtAt = new Date().toISOString();
    const manifest = {
      hash: recipe.hash,
      contentHash: recipe.contentHash,
      builtAt,
      builderVersion: recipe.builderVersion,
      suite: recipe.suite,
      mirror,
      packages: recipe.packages,
      kernelVersion,
      rootDevice: '/dev/vda',
      diskMiB: sizeMiB,
      buildSeconds: Math.round((Date.now() - started) / 1000),
    };
    await writeFile(join(outDir, BASE_IMAGE_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);

    // Swap in the finished image in one rename, so a half-built image is never found.
    await rm(finalDir, { recursive: true, force: true });
    await rename(outDir, finalDir);
    progress(`base image ready in ${manifest.buildSeconds} s: ${finalDir}`);
    const image = await readImage(finalDir);
    if (!image) throw new ImageBuildError(`the image in ${finalDir} is incomplete after the build`);
    return image;
  } finally {
    if (existsSync(rootDir) && !asRoot) await runCommand(inNamespace(['rm', '-rf', rootDir])).catch(() => undefined);
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function runStep(argv: string[], what: string, options: { onLine?: (line: string) => void; timeoutMs?: number; hint?: string }) {
  try {
    return await runChecked(argv, { onLine: options.onLine, timeoutMs: options.timeoutMs });
  } catch (error) {
    if (error instanceof CommandError) {
      throw new ImageBuildError(`${what} (${error.message})`, { command: error.command, output: lastLines(error.result.output, 25), hint: options.hint, cause: error });
    }
    throw new ImageBuildError(`${what}: ${(error as Error).message}`, { command: formatCommand(argv), hint: options.hint, cause: error });
  }
}

export async function commandExists(command: string): Promise<boolean> {
  const result = await runCommand(['sh', '-c', `command -v ${shellQuote(command)}`]).catch(() => undefined);
  return result?.code === 0;
}

function newestVersioned(files: string[], prefix: string): string | undefined {
  return files
    .filter((f) => f.startsWith(prefix))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
    .pop();
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
