// Where a lab gets its binaries and images. Three sources, one layout (artifact-set.ts):
//
//   directory   a local artifacts directory the user provides (air-gapped): used as is
//   release     the official releases, downloaded and checksum-verified into the cache
//   go-build    built here from the upstream Go modules (GOPROXY) into the same cache
//
// The spec's `artifacts.source` picks one; `auto` (the default) takes a directory given with
// --artifacts or HARDWAY_ARTIFACTS_DIR, else a set already complete in the cache, else the
// release downloads when their site answers, else a Go build when the module proxy answers — and
// says which and why. For release and go-build the lab also makes its container images
// (lab-images.ts), since the VMs reach no registry.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { ArtifactSourceName, VersionsSpec } from '../spec/cluster-spec.ts';
import { labImages, type LabImages } from '../plan/image-plan.ts';
import { ArtifactSet, ARTIFACTS_ENV, CONTAINERD_BINARIES, COREDNS_BINARY, CRICTL_BINARY, ETCD_BINARIES, KUBE_BINARIES, REQUIRED_CNI_PLUGINS, RUNC_BINARY } from './artifact-set.ts';
import { collectDebs, LB_DEBIAN_PACKAGES } from './fill-from-debian.ts';
import { downloadVerified, type DownloadProgress } from './download-verified.ts';
import { COMPONENTS, OFFICIAL_BASE_URLS, releaseFiles, type Component, type ReleaseBaseUrls, type ReleaseFile } from './release-catalog.ts';
import { buildFromGoModules } from './go-build.ts';
import { downloadModule } from './go-wrapper-module.ts';
import { buildLabImages, IMAGE_NAMES, readImagesManifest } from './lab-images.ts';

const run = promisify(execFile);

export interface ArtifactSourceOptions {
  /** A local artifacts directory (`--artifacts DIR`); falls back to $HARDWAY_ARTIFACTS_DIR, then specDir. */
  dir?: string;
  /** The spec's artifacts.dir. */
  specDir?: string;
  /** The spec's artifacts.source (default auto). */
  source?: ArtifactSourceName;
  env?: NodeJS.ProcessEnv;
  /** Where downloads and builds go; default $XDG_CACHE_HOME/hardway-lab/artifacts. */
  cacheDir?: string;
  versions: VersionsSpec;
  /** The images the lab needs (plan.images); made for release and go-build sources. */
  images?: LabImages;
  arch?: string;
  /** Only for tests: serve the "official" files from a local server. */
  baseUrls?: Partial<ReleaseBaseUrls>;
  /** How long `auto` waits for the release site to answer. */
  probeTimeoutMs?: number;
}

export interface ArtifactProgress extends DownloadProgress {
  component: Component;
  /** 1-based position of this file among those being fetched. */
  index: number;
  count: number;
}

/** What the source reports while it downloads or builds. */
export type ArtifactEvent = { kind: 'download'; progress: ArtifactProgress } | { kind: 'build'; line: string };

/** The source in use, and why it was chosen (shown by `up` and `artifacts describe`). */
export interface SourceChoice {
  kind: 'directory' | 'release' | 'go-build' | 'cache';
  reason: string;
}

export function defaultArtifactCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hardway-lab', 'artifacts');
}

/** The files each component puts into the layout. */
export function componentFiles(component: Component): string[] {
  switch (component) {
    case 'kubernetes':
      return KUBE_BINARIES.map((b) => `bin/${b}`);
    case 'etcd':
      return ETCD_BINARIES.map((b) => `bin/${b}`);
    case 'containerd':
      return CONTAINERD_BINARIES.map((b) => `bin/${b}`);
    case 'runc':
      return [`bin/${RUNC_BINARY}`];
    case 'cni-plugins':
      return REQUIRED_CNI_PLUGINS.map((p) => `cni/${p}`);
    case 'coredns':
      return [`bin/${COREDNS_BINARY}`];
    case 'crictl':
      return [`bin/${CRICTL_BINARY}`];
  }
}

export class ArtifactSource {
  /** `directory`: the user's; `managed`: the cache, filled by release downloads or a Go build. */
  readonly kind: 'directory' | 'managed';
  /** The artifacts directory (given, or the cache directory for these versions). */
  readonly root: string;
  readonly requested: ArtifactSourceName;
  private readonly options: ArtifactSourceOptions;
  private choice?: SourceChoice;
  private choosing?: Promise<SourceChoice>;

  constructor(options: ArtifactSourceOptions) {
    this.options = options;
    const env = options.env ?? process.env;
    this.requested = options.source ?? 'auto';
    const given = options.dir
      ? { dir: options.dir, from: '--artifacts' }
      : env[ARTIFACTS_ENV]
        ? { dir: env[ARTIFACTS_ENV]!, from: ARTIFACTS_ENV }
        : options.specDir && (this.requested === 'directory' || this.requested === 'auto')
          ? { dir: options.specDir, from: 'artifacts.dir in the spec' }
          : undefined;
    if (given) {
      this.kind = 'directory';
      this.root = resolve(given.dir);
      if (!existsSync(this.root)) {
        throw new Error(
          `the artifacts directory ${this.root} does not exist (from ${given.from})\n` +
            `  what to do: create it (\`hardway-lab artifacts build --into ${this.root}\` fills it from the Go module proxy) or fix the path`,
        );
      }
      this.choice = { kind: 'directory', reason: `the directory given with ${given.from}` };
    } else if (this.requested === 'directory') {
      throw new Error('artifacts.source is "directory" but no directory is given\n  what to do: set artifacts.dir in the spec, or pass --artifacts DIR');
    } else {
      this.kind = 'managed';
      const cache = options.cacheDir ?? defaultArtifactCacheDir(env);
      this.root = join(cache, `set-${versionsKey(options.versions, options.arch ?? 'amd64')}`);
    }
  }

  /**
   * The same source for the lab's versions with another Kubernetes release (the upgrade
   * exercise's target): for a directory the user gave, its upgrade/kubernetes-v<version>/ (laid
   * out the same way) when it has one; otherwise the cache's set for those versions, which
   * `ensure` fills like any managed set.
   */
  forKubernetes(version: string): ArtifactSource {
    const versions = { ...this.options.versions, kubernetes: version };
    // The pause image is built from (and named after) the Kubernetes release.
    const images = this.options.images ? labImages(versions) : undefined;
    const dir = this.kind === 'directory' ? join(this.root, 'upgrade', `kubernetes-v${version}`) : undefined;
    if (dir && existsSync(dir)) return new ArtifactSource({ ...this.options, versions, images, dir, specDir: undefined });
    const env = { ...(this.options.env ?? process.env) };
    delete env[ARTIFACTS_ENV];
    return new ArtifactSource({ ...this.options, versions, images, env, dir: undefined, specDir: undefined, source: this.requested === 'directory' ? 'auto' : this.requested });
  }

  get cacheDir(): string {
    return this.options.cacheDir ?? defaultArtifactCacheDir(this.options.env ?? process.env);
  }

  /** The set as it is on disk now (what is not yet downloaded or built is simply absent). */
  current(): ArtifactSet {
    return new ArtifactSet(this.root, this.choice?.kind ?? (this.kind === 'directory' ? 'directory' : 'cache'));
  }

  /**
   * Kubernetes server binaries are optional in a user's directory: without them the steps that
   * need them are skipped. Managed sources always provide them.
   */
  kubeBinariesAvailable(): boolean {
    return this.kind === 'managed' || this.current().kubeBinaries;
  }

  /** True when every file of every component and every lab image is in the set. */
  complete(components: readonly Component[] = COMPONENTS): boolean {
    const files = components.flatMap(componentFiles).every((f) => existsSync(join(this.root, f)));
    const images = !this.options.images || IMAGE_NAMES.every((n) => existsSync(join(this.root, 'images', `${n}.tar`)));
    return files && images;
  }

  /** The source in use: decided once (auto probes the release site, then the Go module proxy). */
  async chosen(): Promise<SourceChoice> {
    if (this.choice) return this.choice;
    this.choosing ??= this.choose().then((c) => (this.choice = c));
    return this.choosing;
  }

  private async choose(): Promise<SourceChoice> {
    const env = this.options.env ?? process.env;
    if (this.requested === 'release') return { kind: 'release', reason: 'artifacts.source: release in the spec' };
    if (this.requested === 'go-build') return { kind: 'go-build', reason: `artifacts.source: go-build in the spec (GOPROXY=${env.GOPROXY || 'the go default'})` };
    if (this.complete()) {
      const built = existsSync(join(this.root, 'build', 'kubernetes.json'));
      return { kind: 'cache', reason: `every binary and image for these versions is already in ${this.root} (${built ? 'built from Go modules' : 'downloaded'} earlier)` };
    }
    const release = await probeReleaseSite(this.options.versions, { ...OFFICIAL_BASE_URLS, ...this.options.baseUrls }, this.options.probeTimeoutMs ?? 8000);
    if (release.ok) return { kind: 'release', reason: `the official release site answers (${release.url})` };
    const proxy = await probeGoProxy(this.options.versions, env);
    if (proxy.ok) {
      return {
        kind: 'go-build',
        reason: `the release site cannot be reached (${release.error}), but the Go module proxy serves k8s.io/kubernetes v${this.options.versions.kubernetes} (GOPROXY=${env.GOPROXY || 'the go default'}): building every component from its Go module (the first build takes about 15–20 minutes on 2 cores; later runs reuse it)`,
      };
    }
    throw new Error(
      `no source for the lab's binaries works here:\n` +
        `  release downloads: ${release.error}\n` +
        `  Go module proxy: ${proxy.error}\n` +
        `  what to do: give a prepared directory (\`--artifacts DIR\` or artifacts.dir in the spec, laid out as \`hardway-lab artifacts describe\` shows), ` +
        `or make the Go module proxy reachable (GOPROXY) and run \`hardway-lab artifacts build\``,
    );
  }

  /**
   * Makes sure the components are on disk: for a directory it only looks (nothing is fetched); for
   * a managed source it downloads or builds what is missing, with progress.
   */
  async ensure(components: readonly Component[], onEvent?: (e: ArtifactEvent) => void, signal?: AbortSignal): Promise<ArtifactSet> {
    const choice = await this.chosen();
    if (choice.kind === 'directory') return this.current();
    if (choice.kind === 'cache' && this.complete(components)) return this.current();
    if (choice.kind === 'go-build' || (choice.kind === 'cache' && existsSync(join(this.root, 'build')))) {
      await buildFromGoModules({
        root: this.root,
        versions: this.options.versions,
        cacheDir: this.cacheDir,
        components: components.map((c) => c),
        env: this.options.env,
        log: (line) => onEvent?.({ kind: 'build', line }),
        signal,
      });
      await this.writeVersions(components, 'go-build');
    } else {
      const files = releaseFiles(this.options.versions, components, { arch: this.options.arch, baseUrls: this.options.baseUrls });
      const pending = files.filter((file) => !installed(this.root, file));
      let index = 0;
      for (const file of pending) {
        index++;
        await fetchAndInstall(this.root, file, (p) => onEvent?.({ kind: 'download', progress: { ...p, component: file.component, index, count: pending.length } }), signal);
      }
      if (pending.length > 0) await this.writeVersions(components, 'release');
    }
    return this.current();
  }

  /** Every component and the lab's images: what `artifacts build` and the start of `up` do. */
  async ensureAll(onEvent?: (e: ArtifactEvent) => void, signal?: AbortSignal): Promise<ArtifactSet> {
    const set = await this.ensure(COMPONENTS, onEvent, signal);
    if (this.kind === 'managed' && this.options.images) {
      await buildLabImages({ root: this.root, versions: this.options.versions, references: this.options.images, env: this.options.env, log: (line) => onEvent?.({ kind: 'build', line }) });
    }
    return set;
  }

  /**
   * haproxy for the lb node, which has no package source of its own: for a managed source on a
   * host with apt (a Debian host, like the lab's image), its .deb files go into debs/. Elsewhere
   * the lb falls back to `apt-get install` on the node, or the user provides debs/.
   */
  async ensureLoadBalancerDebs(log: (line: string) => void): Promise<void> {
    if (this.kind === 'directory' || this.current().debs().length > 0) return;
    if (!existsSync('/usr/bin/apt-get')) return;
    await collectDebs(join(this.root, 'debs'), LB_DEBIAN_PACKAGES, '/var/cache/apt/archives', log);
  }

  /** For `artifacts describe`: the source, why, and what the set holds. */
  async describe(): Promise<string> {
    let choice: SourceChoice;
    try {
      choice = await this.chosen();
    } catch (error) {
      choice = { kind: this.kind === 'directory' ? 'directory' : 'cache', reason: (error as Error).message };
    }
    const images = await readImagesManifest(this.root);
    const lines = [`source: ${choice.kind} (asked for: ${this.requested}) — ${choice.reason}`, this.current().describe()];
    for (const [name, record] of Object.entries(images.images)) lines.push(`  image ${name}: ${record!.reference} (from ${record!.from.join(', ')})`);
    return lines.join('\n');
  }

  private async writeVersions(components: readonly Component[], origin: 'release' | 'go-build'): Promise<void> {
    const path = join(this.root, 'versions.json');
    let existing: Record<string, string> = {};
    try {
      existing = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    } catch {
      existing = {};
    }
    const v = this.options.versions;
    const byComponent: Record<Component, string> = { kubernetes: v.kubernetes, etcd: v.etcd, containerd: v.containerd, runc: v.runc, 'cni-plugins': v.cniPlugins, coredns: v.coredns, crictl: v.crictl };
    const versions: Record<string, string> = {};
    for (const c of components) {
      versions[c === 'cni-plugins' ? 'cniPlugins' : c] = byComponent[c];
      versions[`${c}.source`] = origin === 'go-build' ? 'built from its Go module' : 'official release';
    }
    await mkdir(this.root, { recursive: true });
    await writeFile(path, `${JSON.stringify({ ...existing, ...versions }, null, 2)}\n`);
  }
}

/** Does the release site answer? One HEAD of the first Kubernetes checksum file. */
export function probeReleaseSite(versions: VersionsSpec, base: ReleaseBaseUrls, timeoutMs: number): Promise<{ ok: boolean; url: string; error?: string }> {
  const url = `${base.kubernetes}/v${versions.kubernetes}/bin/linux/amd64/kubectl.sha256`;
  // Tests serve the "official" files over plain HTTP on loopback.
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(url, { method: 'HEAD', timeout: timeoutMs }, (res) => {
      res.resume();
      const ok = (res.statusCode ?? 0) < 400;
      resolve({ ok, url, error: ok ? undefined : `${url} answered HTTP ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ ok: false, url, error: `${url}: ${(error as NodeJS.ErrnoException).code ?? error.message}` }));
    req.end();
  });
}

/** Can the go command get the pinned Kubernetes module (from GOPROXY, or the module cache)? */
export async function probeGoProxy(versions: VersionsSpec, env: NodeJS.ProcessEnv): Promise<{ ok: boolean; error?: string }> {
  try {
    await run('go', ['version'], { env, timeout: 20_000 });
  } catch {
    return { ok: false, error: 'the go command is not installed (Go 1.26 or newer builds the components)' };
  }
  try {
    await downloadModule('k8s.io/kubernetes', `v${versions.kubernetes}`, env);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: (error as Error).message.split('\n').slice(0, 3).join(' ') };
  }
}

function versionsKey(versions: VersionsSpec, arch: string): string {
  const text = `${arch} k8s=${versions.kubernetes} etcd=${versions.etcd} containerd=${versions.containerd} runc=${versions.runc} cni=${versions.cniPlugins} coredns=${versions.coredns} crictl=${versions.crictl}`;
  return `${arch}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

function installedPaths(file: ReleaseFile): string[] {
  switch (file.install.kind) {
    case 'binary':
      return [file.install.to];
    case 'archive':
      return file.install.members.map((m) => m.to);
    case 'archive-all':
      return [join(file.install.toDir, '.complete')];
  }
}

function installed(root: string, file: ReleaseFile): boolean {
  return installedPaths(file).every((path) => existsSync(join(root, path)));
}

async function fetchAndInstall(root: string, file: ReleaseFile, onProgress: (p: DownloadProgress) => void, signal?: AbortSignal): Promise<void> {
  const downloads = join(root, 'downloads', file.component, file.version);
  const download = await downloadVerified(file, join(downloads, basename(new URL(file.url).pathname)), { onProgress, signal });
  switch (file.install.kind) {
    case 'binary':
      await placeExecutable(download.path, join(root, file.install.to));
      break;
    case 'archive': {
      const scratch = await extract(download.path, root);
      try {
        for (const member of file.install.members) {
          const from = join(scratch, member.from);
          if (!existsSync(from)) throw new Error(`${file.url} has no ${member.from} inside; the release layout changed — report this with the version`);
          await placeExecutable(from, join(root, member.to));
        }
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
      break;
    }
    case 'archive-all': {
      const scratch = await extract(download.path, root);
      try {
        const target = join(root, file.install.toDir);
        await mkdir(target, { recursive: true });
        for (const name of await readdir(scratch)) {
          if ((await stat(join(scratch, name))).isFile()) await placeExecutable(join(scratch, name), join(target, name));
        }
        await writeFile(join(target, '.complete'), `${file.url}\n`);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
      break;
    }
  }
}

async function extract(archive: string, root: string): Promise<string> {
  await mkdir(join(root, 'downloads'), { recursive: true });
  const scratch = await mkdtemp(join(root, 'downloads', 'extract-'));
  try {
    await run('tar', ['-xzf', archive, '-C', scratch]);
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`could not unpack ${archive}: ${(error as { stderr?: string }).stderr || (error as Error).message}`);
  }
  return scratch;
}

async function placeExecutable(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const temporary = `${to}.installing`;
  await copyFile(from, temporary);
  await chmod(temporary, 0o755);
  await rename(temporary, to);
}
