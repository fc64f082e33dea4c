// Where a lab gets its binaries: a local artifacts directory the user provides (air-gapped), or
// the official releases, downloaded and checksum-verified into a cache that is laid out exactly
// like an artifacts directory. Either way the engine ends up with an ArtifactSet.

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { VersionsSpec } from '../spec/cluster-spec.ts';
import { ArtifactSet, ARTIFACTS_ENV } from './artifact-set.ts';
import { collectDebs, LB_DEBIAN_PACKAGES } from './fill-from-debian.ts';
import { downloadVerified, type DownloadProgress } from './download-verified.ts';
import { releaseFiles, type Component, type ReleaseBaseUrls, type ReleaseFile } from './release-catalog.ts';

const run = promisify(execFile);

export interface ArtifactSourceOptions {
  /** A local artifacts directory (`--artifacts DIR`); falls back to $HARDWAY_ARTIFACTS_DIR. */
  dir?: string;
  env?: NodeJS.ProcessEnv;
  /** Where downloads go; default $XDG_CACHE_HOME/hardway-lab/artifacts. */
  cacheDir?: string;
  versions: VersionsSpec;
  arch?: string;
  /** Only for tests: serve the "official" files from a local server. */
  baseUrls?: Partial<ReleaseBaseUrls>;
}

export interface ArtifactProgress extends DownloadProgress {
  component: Component;
  /** 1-based position of this file among those being fetched. */
  index: number;
  count: number;
}

export function defaultArtifactCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hardway-lab', 'artifacts');
}

export class ArtifactSource {
  readonly kind: 'directory' | 'download';
  /** The artifacts directory (given, or the cache directory for these versions). */
  readonly root: string;
  private readonly options: ArtifactSourceOptions;

  constructor(options: ArtifactSourceOptions) {
    this.options = options;
    const env = options.env ?? process.env;
    const dir = options.dir ?? (env[ARTIFACTS_ENV] || undefined);
    if (dir) {
      this.kind = 'directory';
      this.root = resolve(dir);
      if (!existsSync(this.root)) {
        throw new Error(
          `the artifacts directory ${this.root} does not exist (from ${options.dir ? '--artifacts' : ARTIFACTS_ENV})\n` +
            `  what to do: create it (e.g. \`npx tsx main/artifacts/fill-artifacts-cli.ts ${this.root}\` fills it from Debian packages) or fix the path`,
        );
      }
    } else {
      this.kind = 'download';
      const cache = options.cacheDir ?? defaultArtifactCacheDir(env);
      this.root = join(cache, `set-${versionsKey(options.versions, options.arch ?? 'amd64')}`);
    }
  }

  /** The set as it is on disk now (downloads not yet made are simply absent). */
  current(): ArtifactSet {
    return new ArtifactSet(this.root, this.kind);
  }

  /**
   * Kubernetes server binaries are optional in a user's directory: without them the steps that
   * need them are skipped. Downloads always fetch them.
   */
  kubeBinariesAvailable(): boolean {
    return this.kind === 'download' || this.current().kubeBinaries;
  }

  /**
   * Makes sure the components are on disk: for a directory it only looks (nothing is fetched); for
   * downloads it fetches what is missing, verified, with progress.
   */
  async ensure(components: readonly Component[], onProgress?: (p: ArtifactProgress) => void, signal?: AbortSignal): Promise<ArtifactSet> {
    if (this.kind === 'directory') return this.current();
    const files = releaseFiles(this.options.versions, components, { arch: this.options.arch, baseUrls: this.options.baseUrls });
    const pending = files.filter((file) => !installed(this.root, file));
    let index = 0;
    for (const file of pending) {
      index++;
      await fetchAndInstall(this.root, file, (p) => onProgress?.({ ...p, component: file.component, index, count: pending.length }), signal);
    }
    if (pending.length > 0) await this.writeVersions(files);
    return this.current();
  }

  /**
   * haproxy for the lb node, which has no package source of its own: when downloading and the
   * host has apt (a Debian host, like the lab's image), its .deb files go into debs/. Elsewhere
   * the lb falls back to `apt-get install` on the node, or the user provides debs/.
   */
  async ensureLoadBalancerDebs(log: (line: string) => void): Promise<void> {
    if (this.kind === 'directory' || this.current().debs().length > 0) return;
    if (!existsSync('/usr/bin/apt-get')) return;
    await collectDebs(join(this.root, 'debs'), LB_DEBIAN_PACKAGES, '/var/cache/apt/archives', log);
  }

  private async writeVersions(files: ReleaseFile[]): Promise<void> {
    const versions: Record<string, string> = {};
    for (const file of files) versions[file.component] = file.version;
    const path = join(this.root, 'versions.json');
    let existing: Record<string, string> = {};
    try {
      existing = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    } catch {
      existing = {};
    }
    await writeFile(path, `${JSON.stringify({ ...existing, ...versions, source: 'official releases' }, null, 2)}\n`);
  }
}

function versionsKey(versions: VersionsSpec, arch: string): string {
  const text = `${arch} k8s=${versions.kubernetes} etcd=${versions.etcd} containerd=${versions.containerd} runc=${versions.runc} cni=${versions.cniPlugins} coredns=${versions.coredns}`;
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
