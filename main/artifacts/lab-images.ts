// The images a lab needs, made here without a registry or a container engine, into the artifacts'
// images/ (one OCI archive each, imported on every worker):
//
//   pause    Kubernetes' own build/pause/linux/pause.c of the pinned release (from the Go module
//            cache), compiled static with gcc, as upstream's image: /pause, user 65535
//   coredns  the CoreDNS binary built from its Go module (bin/coredns)
//   nginx    the host's Debian nginx: the binary, the shared libraries it links, mime.types and
//            the default page, with a small nginx.conf of ours (foreground, logs to stdout/stderr)
//   busybox  Debian's busybox-static, with a link per applet
//
// Each archive is deterministic; images/images.json records what went in, and an image whose
// inputs did not change is not written again.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LabImages } from '../plan/image-plan.ts';
import type { VersionsSpec } from '../spec/cluster-spec.ts';
import { downloadModule } from './go-wrapper-module.ts';
import { writeOciImage, type ImageConfig, type RootfsEntry } from './oci-image.ts';

const run = promisify(execFile);

export const IMAGE_NAMES = ['pause', 'coredns', 'nginx', 'busybox'] as const;
export type LabImageName = (typeof IMAGE_NAMES)[number];

/** Bump when a recipe changes in a way its recorded inputs do not show. */
export const IMAGE_RECIPE_VERSION = 1;

export interface ImageRecord {
  reference: string;
  archive: string;
  inputsHash: string;
  manifestDigest: string;
  /** Where the contents came from (module, Debian packages with versions). */
  from: string[];
}

export interface ImagesManifest {
  images: Partial<Record<LabImageName, ImageRecord>>;
}

export class ImageBuildError extends Error {
  constructor(
    readonly image: LabImageName,
    message: string,
    readonly hint: string,
  ) {
    super(`image ${image}: ${message}\n  what to do: ${hint}`);
    this.name = 'ImageBuildError';
  }
}

interface ImageContent {
  files: RootfsEntry[];
  config: ImageConfig;
  from: string[];
}

async function fileEntry(hostPath: string, imagePath = hostPath, mode?: number): Promise<RootfsEntry> {
  const content = await readFile(hostPath);
  return { path: imagePath, type: 'file', content, mode: mode ?? 0o644 };
}

/** `dpkg -S PATH` → "pkg version" for the packages that own these host files. */
async function debianOwners(paths: readonly string[]): Promise<string[]> {
  const owners = new Set<string>();
  for (const path of paths) {
    try {
      // Merged /usr: a library ldd finds in /lib may be registered under /usr/lib.
      const { stdout } = await run('dpkg', ['-S', path]).catch(async () => run('dpkg', ['-S', await realpath(path)]));
      // "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6", "nginx-common: /etc/nginx/mime.types"
      for (const line of stdout.split('\n').filter((l) => l.includes(': ') && !l.startsWith('diversion'))) {
        for (const pkg of line.slice(0, line.indexOf(': ')).split(', ')) owners.add(pkg.split(':')[0]!.trim());
      }
    } catch {
      // Not from a package (or the merged-/usr alias of one): the library list still says what it is.
    }
  }
  const out: string[] = [];
  for (const pkg of [...owners].sort()) {
    try {
      out.push(`debian:${pkg}=${(await run('dpkg-query', ['-W', '-f', '${Version}', pkg])).stdout.trim()}`);
    } catch {
      out.push(`debian:${pkg}`);
    }
  }
  return out;
}

async function pauseContent(versions: VersionsSpec, env: NodeJS.ProcessEnv): Promise<ImageContent> {
  const module = await downloadModule('k8s.io/kubernetes', `v${versions.kubernetes}`, env);
  const source = join(module.Dir!, 'build', 'pause', 'linux', 'pause.c');
  if (!existsSync(source)) throw new ImageBuildError('pause', `${source} is not in k8s.io/kubernetes v${versions.kubernetes}`, 'the Kubernetes tree changed where pause.c lives; report this with the version');
  const makefile = await readFile(join(module.Dir!, 'build', 'pause', 'Makefile'), 'utf8').catch(() => '');
  const tag = /^TAG \?= (\S+)/m.exec(makefile)?.[1] ?? 'unknown';
  const work = await mkdtemp(join(tmpdir(), 'hwl-pause-'));
  try {
    const out = join(work, 'pause');
    try {
      // As build/pause/Makefile does: static, optimised for size, the version compiled in.
      await run(env.CC || 'gcc', ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${tag}-hardway-lab`, '-o', out, source]);
      await run('strip', [out]).catch(() => undefined);
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new ImageBuildError('pause', `gcc could not build ${source} statically: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' | ')}`, 'install gcc and the static C library (Debian: `apt-get install gcc libc6-dev`)');
    }
    return {
      files: [await fileEntry(out, '/pause', 0o755)],
      config: { entrypoint: ['/pause'], user: '65535:65535', labels: { 'dev.hardwaylab.pause.version': tag } },
      from: [`go:k8s.io/kubernetes@v${versions.kubernetes}/build/pause/linux/pause.c`, `pause ${tag}`],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function corednsContent(artifactsRoot: string, versions: VersionsSpec): Promise<ImageContent> {
  const binary = join(artifactsRoot, 'bin', 'coredns');
  if (!existsSync(binary)) throw new ImageBuildError('coredns', `${binary} is missing`, 'build it first: `hardway-lab artifacts build` builds CoreDNS before the images');
  return {
    files: [await fileEntry(binary, '/coredns', 0o755)],
    // Runs as root with every capability dropped but NET_BIND_SERVICE (the manifest says so), to bind port 53.
    config: { entrypoint: ['/coredns'], exposedPorts: ['53/tcp', '53/udp', '9153/tcp'], labels: { 'dev.hardwaylab.coredns.version': versions.coredns } },
    from: [`go:github.com/coredns/coredns@v${versions.coredns}`],
  };
}

/** The shared libraries a host binary loads (from ldd), and its program interpreter. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    const resolved = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (resolved) libs.push(resolved);
  }
  return libs;
}

const NGINX_CONF = `# nginx in the Hardway Lab smoke test: in the foreground, logs to the container's output.
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
daemon off;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log /dev/stdout;
  server {
    listen 80 default_server;
    root /usr/share/nginx/html;
    index index.html;
  }
}
`;

async function nginxContent(): Promise<ImageContent> {
  const binary = '/usr/sbin/nginx';
  if (!existsSync(binary)) throw new ImageBuildError('nginx', 'the host has no /usr/sbin/nginx to make the smoke-test image from', 'install Debian\'s nginx (`apt-get install nginx-light`), or put an image archive into the artifacts\' images/');
  const libs = await sharedLibraries(binary);
  const files: RootfsEntry[] = [await fileEntry(binary, binary, 0o755)];
  for (const lib of libs) files.push(await fileEntry(await realpath(lib), lib, 0o755));
  for (const path of ['/etc/nginx/mime.types', '/usr/share/nginx/html/index.html']) {
    if (existsSync(path)) files.push(await fileEntry(path));
  }
  files.push(
    { path: '/etc/nginx/nginx.conf', type: 'file', content: Buffer.from(NGINX_CONF) },
    { path: '/etc/passwd', type: 'file', content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n') },
    { path: '/etc/group', type: 'file', content: Buffer.from('root:x:0:\nwww-data:x:33:\n') },
    // Debian's nginx keeps its temp paths under /var/lib/nginx and logs under /var/log/nginx.
    { path: '/var/lib/nginx', type: 'directory' },
    { path: '/var/log/nginx', type: 'directory' },
    { path: '/run', type: 'directory' },
    { path: '/tmp', type: 'directory', mode: 0o1777 },
  );
  return {
    files,
    config: { entrypoint: ['/usr/sbin/nginx'], exposedPorts: ['80/tcp'], labels: { 'dev.hardwaylab.source': 'debian packages of this host' } },
    from: await debianOwners([binary, ...libs, '/etc/nginx/mime.types']),
  };
}

async function busyboxContent(): Promise<ImageContent> {
  const binary = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (!binary) throw new ImageBuildError('busybox', 'the host has no busybox to make the DNS probe image from', 'install Debian\'s busybox-static (`apt-get install busybox-static`)');
  // ldd says "not a dynamic executable" (exit 1) or "statically linked" for a static binary.
  const linked = await run('ldd', [binary]).then((r) => r.stdout, (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`);
  if (/=>/.test(linked)) {
    throw new ImageBuildError('busybox', `${binary} is dynamically linked`, 'install busybox-static instead of busybox (`apt-get install busybox-static`)');
  }
  const applets = (await run(binary, ['--list'])).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  const files: RootfsEntry[] = [await fileEntry(binary, '/bin/busybox', 0o755)];
  for (const applet of applets) files.push({ path: `/bin/${applet}`, type: 'symlink', target: 'busybox' });
  files.push({ path: '/tmp', type: 'directory', mode: 0o1777 }, { path: '/etc/passwd', type: 'file', content: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') });
  return { files, config: { cmd: ['sh'] }, from: await debianOwners([binary]) };
}

function contentHash(content: ImageContent, reference: string): string {
  const hash = createHash('sha256').update(`recipe ${IMAGE_RECIPE_VERSION}\n${reference}\n${JSON.stringify(content.config)}\n`);
  for (const f of [...content.files].sort((a, b) => a.path.localeCompare(b.path))) {
    hash.update(`${f.path} ${f.type} ${'mode' in f ? f.mode : ''} ${f.type === 'symlink' ? f.target : ''}\n`);
    if (f.type === 'file') hash.update(f.content);
  }
  return hash.digest('hex');
}

export function imagesManifestPath(root: string): string {
  return join(root, 'images', 'images.json');
}

export async function readImagesManifest(root: string): Promise<ImagesManifest> {
  try {
    return JSON.parse(await readFile(imagesManifestPath(root), 'utf8')) as ImagesManifest;
  } catch {
    return { images: {} };
  }
}

export interface ImageBuildResult {
  name: LabImageName;
  reference: string;
  action: 'built' | 'up-to-date';
  archive: string;
  from: string[];
}

export interface BuildImagesOptions {
  /** The artifacts directory (bin/coredns is read from it; images/ is written). */
  root: string;
  versions: VersionsSpec;
  references: LabImages;
  images?: readonly LabImageName[];
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

/** Makes every lab image that is missing or whose inputs changed. */
export async function buildLabImages(options: BuildImagesOptions): Promise<ImageBuildResult[]> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => undefined);
  const manifest = await readImagesManifest(options.root);
  const results: ImageBuildResult[] = [];
  await mkdir(join(options.root, 'images'), { recursive: true });
  for (const name of options.images ?? IMAGE_NAMES) {
    const reference = options.references[name];
    const content =
      name === 'pause' ? await pauseContent(options.versions, env) : name === 'coredns' ? await corednsContent(options.root, options.versions) : name === 'nginx' ? await nginxContent() : await busyboxContent();
    const hash = contentHash(content, reference);
    const archive = join(options.root, 'images', `${name}.tar`);
    const previous = manifest.images[name];
    if (previous && previous.inputsHash === hash && previous.reference === reference && existsSync(archive)) {
      results.push({ name, reference, action: 'up-to-date', archive, from: previous.from });
      log(`image ${reference}: up to date`);
      continue;
    }
    const written = await writeOciImage({ reference, files: content.files, config: content.config, createdBy: `hardway-lab artifacts build (${content.from.join(', ')})` }, archive);
    manifest.images[name] = { reference, archive: `images/${name}.tar`, inputsHash: hash, manifestDigest: written.manifestDigest, from: content.from };
    await writeFile(imagesManifestPath(options.root), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`image ${reference}: written (${(written.layerBytes / 1048576).toFixed(1)} MiB layer; from ${content.from.join(', ')})`);
    results.push({ name, reference, action: 'built', archive, from: content.from });
  }
  return results;
}
