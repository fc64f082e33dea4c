// Fills an artifacts directory from the Debian packages installed on this host: etcd, containerd,
// runc and the CNI plugins are copied out of /usr; haproxy (and the libraries a bare Debian image
// lacks) are put in debs/ as .deb files for the lb node, which installs them with dpkg.
//
// The binaries are dynamically linked against Debian 12's libraries. The lab's VM image is also
// Debian bookworm, so they run there unchanged; on other guests use official releases instead.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

interface DebianSource {
  pkg: string;
  /** host path → path in the artifacts layout */
  files: [string, string][];
  /** A whole host directory copied into a layout directory. */
  dir?: [string, string];
  /** The versions.json key this package provides. */
  versionKey: string;
}

export const DEBIAN_SOURCES: DebianSource[] = [
  { pkg: 'etcd-server', files: [['/usr/bin/etcd', 'bin/etcd']], versionKey: 'etcd' },
  { pkg: 'etcd-client', files: [['/usr/bin/etcdctl', 'bin/etcdctl']], versionKey: 'etcdctl' },
  {
    pkg: 'containerd',
    files: [
      ['/usr/bin/containerd', 'bin/containerd'],
      ['/usr/bin/containerd-shim-runc-v2', 'bin/containerd-shim-runc-v2'],
      ['/usr/bin/ctr', 'bin/ctr'],
    ],
    versionKey: 'containerd',
  },
  { pkg: 'runc', files: [['/usr/sbin/runc', 'bin/runc']], versionKey: 'runc' },
  { pkg: 'containernetworking-plugins', files: [], dir: ['/usr/lib/cni', 'cni'], versionKey: 'cniPlugins' },
];

/**
 * haproxy and what the lab's base image (mmdebstrap --variant=required plus a few tools) does not
 * already have, checked against haproxy's Depends: lua, the opentracing wrapper and its C++
 * library, and adduser (priority important, so not in a "required" image). lsb-base is provided
 * by sysvinit-utils in bookworm.
 */
export const LB_DEBIAN_PACKAGES = ['haproxy', 'adduser', 'liblua5.3-0', 'libopentracing-c-wrapper0', 'libopentracing1'];

export interface FillOptions {
  /** Also put haproxy's .deb files into debs/ (default true). */
  haproxy?: boolean;
  log?: (line: string) => void;
  /** Where apt keeps downloaded packages; searched before asking the mirror. */
  aptArchives?: string;
}

export interface FillResult {
  dir: string;
  /** Layout paths that were written (unchanged files are not rewritten). */
  written: string[];
  unchanged: string[];
  debs: string[];
  versions: Record<string, string>;
}

/** `3.4.23-4+b4` → `3.4.23`; `1:2.6.12-1` → `2.6.12`; `1.6.20~ds1-1+deb12u3` → `1.6.20`. */
export function upstreamVersion(debianVersion: string): string {
  const withoutEpoch = debianVersion.includes(':') ? debianVersion.slice(debianVersion.indexOf(':') + 1) : debianVersion;
  return /^[0-9]+(\.[0-9]+)*/.exec(withoutEpoch)?.[0] ?? withoutEpoch;
}

async function installedVersion(pkg: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('dpkg-query', ['-W', '-f', '${db:Status-Status} ${Version}', pkg]);
    const [status, version] = stdout.trim().split(' ');
    return status === 'installed' ? version : undefined;
  } catch {
    return undefined;
  }
}

export async function fillArtifactsFromDebian(dir: string, options: FillOptions = {}): Promise<FillResult> {
  const log = options.log ?? (() => undefined);
  const result: FillResult = { dir, written: [], unchanged: [], debs: [], versions: {} };
  const missingPackages: string[] = [];

  for (const source of DEBIAN_SOURCES) {
    const version = await installedVersion(source.pkg);
    const absent = [...source.files.map(([from]) => from), ...(source.dir ? [source.dir[0]] : [])].filter((p) => !existsSync(p));
    if (!version || absent.length > 0) {
      missingPackages.push(source.pkg);
      continue;
    }
    result.versions[source.versionKey] = upstreamVersion(version);
    const copies: [string, string][] = [...source.files];
    if (source.dir) {
      const [from, to] = source.dir;
      for (const name of (await readdir(from)).sort()) {
        if ((await stat(join(from, name))).isFile()) copies.push([join(from, name), `${to}/${name}`]);
      }
    }
    for (const [from, to] of copies) {
      const changed = await copyIfDifferent(from, join(dir, to));
      (changed ? result.written : result.unchanged).push(to);
    }
    log(`${source.pkg} ${version}: ${copies.length} file(s)`);
  }
  if (missingPackages.length > 0) {
    throw new Error(
      `these Debian packages are not installed (or lack their files): ${missingPackages.join(', ')}\n` +
        `  what to do: apt-get install ${missingPackages.join(' ')}`,
    );
  }

  if (options.haproxy ?? true) {
    result.debs = await collectDebs(join(dir, 'debs'), LB_DEBIAN_PACKAGES, options.aptArchives ?? '/var/cache/apt/archives', log);
    const haproxyVersion = await installedVersion('haproxy');
    if (haproxyVersion) result.versions.haproxy = upstreamVersion(haproxyVersion);
  }

  const versionsFile = join(dir, 'versions.json');
  const text = `${JSON.stringify({ ...result.versions, source: 'debian packages on the host' }, null, 2)}\n`;
  if (!existsSync(versionsFile) || (await readFile(versionsFile, 'utf8')) !== text) await writeFile(versionsFile, text);
  return result;
}

/** The .deb of each package at the version apt would pick: from apt's cache, else `apt-get download`. */
export async function collectDebs(target: string, packages: string[], archives: string, log: (line: string) => void): Promise<string[]> {
  await mkdir(target, { recursive: true });
  const paths: string[] = [];
  for (const pkg of packages) {
    const version = (await installedVersion(pkg)) ?? (await candidateVersion(pkg));
    if (!version) throw new Error(`no version of the Debian package ${pkg} is known to apt\n  what to do: apt-get update, then apt-get install ${pkg}`);
    // apt writes an epoch's colon as %3a in file names.
    const fileName = `${pkg}_${version.replace(/:/g, '%3a')}_${await debArch(pkg)}.deb`;
    const destination = join(target, fileName);
    if (!existsSync(destination)) {
      const cached = join(archives, fileName);
      if (existsSync(cached)) {
        await copyFile(cached, destination);
        log(`${fileName}: copied from ${archives}`);
      } else {
        try {
          await run('apt-get', ['download', `${pkg}=${version}`], { cwd: target });
        } catch (error) {
          throw new Error(
            `apt-get download ${pkg}=${version} failed: ${((error as { stderr?: string }).stderr ?? (error as Error).message).trim()}\n` +
              `  what to do: check that Debian's mirror is reachable (apt-get update), or put ${fileName} into ${target} by hand`,
          );
        }
        if (!existsSync(destination)) throw new Error(`apt-get download ${pkg}=${version} did not produce ${fileName} in ${target}`);
        log(`${fileName}: downloaded from the Debian mirror`);
      }
    }
    paths.push(destination);
  }
  return paths;
}

async function candidateVersion(pkg: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('apt-cache', ['policy', pkg]);
    const candidate = /Candidate:\s*(\S+)/.exec(stdout)?.[1];
    return candidate && candidate !== '(none)' ? candidate : undefined;
  } catch {
    return undefined;
  }
}

async function debArch(pkg: string): Promise<string> {
  try {
    const { stdout } = await run('apt-cache', ['show', '--no-all-versions', pkg]);
    return /^Architecture:\s*(\S+)/m.exec(stdout)?.[1] ?? 'amd64';
  } catch {
    return 'amd64';
  }
}

async function copyIfDifferent(from: string, to: string): Promise<boolean> {
  if (existsSync(to) && (await sha256(from)) === (await sha256(to))) {
    await chmod(to, 0o755);
    return false;
  }
  await mkdir(join(to, '..'), { recursive: true });
  const temporary = `${to}.copying`;
  await copyFile(from, temporary);
  await chmod(temporary, 0o755);
  await rename(temporary, to);
  return true;
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
