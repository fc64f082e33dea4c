// The binaries a lab installs on its nodes, as one local directory with a fixed layout. A user
// can hand us such a directory (`--artifacts DIR` / HARDWAY_ARTIFACTS_DIR, for air-gapped labs),
// fill one from Debian packages (fill-from-debian.ts), or let the downloader build one in the
// cache from the official releases. Everything downstream only sees this layout:
//
//   bin/etcd bin/etcdctl bin/etcdutl                            etcd server, client, offline tool
//   bin/kube-apiserver bin/kube-controller-manager bin/kube-scheduler bin/kubectl
//   bin/kubelet bin/kube-proxy                                  Kubernetes server binaries
//   bin/containerd bin/containerd-shim-runc-v2 bin/ctr          containerd
//   bin/runc                                                    the OCI runtime
//   bin/crictl                                                  the CRI client (on the workers)
//   bin/coredns                                                 CoreDNS (made into the coredns image)
//   cni/bridge cni/loopback cni/host-local ...                  CNI plugins (→ /opt/cni/bin)
//   debs/*.deb        packages installed on the lb node with dpkg (haproxy and its libraries)
//   images/*.tar      container images imported into containerd on every worker (air-gapped)
//   versions.json     optional: {"etcd": "3.4.23", ...} what the directory holds
//   build/*.json      when built from Go modules: the inputs and sha256 of each component's binaries

import { accessSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ETCD_BINARIES = ['etcd', 'etcdctl', 'etcdutl'] as const;
export const KUBE_CONTROL_PLANE_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'] as const;
export const KUBE_WORKER_BINARIES = ['kubelet', 'kube-proxy'] as const;
export const KUBE_BINARIES = [...KUBE_CONTROL_PLANE_BINARIES, ...KUBE_WORKER_BINARIES] as const;
export const CONTAINERD_BINARIES = ['containerd', 'containerd-shim-runc-v2', 'ctr'] as const;
export const RUNC_BINARY = 'runc';
export const CRICTL_BINARY = 'crictl';
export const COREDNS_BINARY = 'coredns';
/** The plugins the lab's CNI configs use: bridge (with host-local IPAM) and loopback. */
export const REQUIRED_CNI_PLUGINS = ['bridge', 'host-local', 'loopback'] as const;

export type BinaryName =
  | (typeof ETCD_BINARIES)[number]
  | (typeof KUBE_BINARIES)[number]
  | (typeof CONTAINERD_BINARIES)[number]
  | typeof RUNC_BINARY
  | typeof CRICTL_BINARY
  | typeof COREDNS_BINARY;

export const ARTIFACTS_ENV = 'HARDWAY_ARTIFACTS_DIR';

/** What to do when a binary is missing, per binary family. */
function missingHint(name: string, root: string): string {
  if ((KUBE_BINARIES as readonly string[]).includes(name)) {
    return `put the Kubernetes server binaries (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy) into ${join(root, 'bin')} — \`hardway-lab artifacts build --into ${root}\` builds them from the Go module proxy — or run without --artifacts so the lab picks a source that works here`;
  }
  return `run \`hardway-lab artifacts build --into ${root}\` to build every binary from the Go module proxy, or run without --artifacts so the lab picks a source that works here`;
}

export class ArtifactMissingError extends Error {
  constructor(
    readonly artifact: string,
    readonly root: string,
    readonly hint: string,
  ) {
    super(`${artifact} is not in the artifacts directory ${root}\n  what to do: ${hint}`);
    this.name = 'ArtifactMissingError';
  }
}

export class ArtifactSet {
  constructor(
    readonly root: string,
    /** `directory`: given by the user; `download`: built in the cache from official releases. */
    readonly origin: 'directory' | 'release' | 'go-build' | 'cache',
  ) {}

  binaryPath(name: BinaryName): string {
    return join(this.root, 'bin', name);
  }

  has(name: BinaryName): boolean {
    return isExecutableFile(this.binaryPath(name));
  }

  /** The path of a binary; throws ArtifactMissingError (with what to do) when it is absent. */
  require(name: BinaryName): string {
    if (!this.has(name)) throw new ArtifactMissingError(`bin/${name}`, this.root, missingHint(name, this.root));
    return this.binaryPath(name);
  }

  missing(names: readonly BinaryName[]): BinaryName[] {
    return names.filter((name) => !this.has(name));
  }

  /** True when every Kubernetes server binary is present, so the steps control-plane, rbac, admin-access, coredns and smoke-test can run. */
  get kubeBinaries(): boolean {
    return this.missing(KUBE_BINARIES).length === 0;
  }

  get cniDir(): string {
    return join(this.root, 'cni');
  }

  /** Names of the CNI plugins present (every executable file in cni/). */
  cniPlugins(): string[] {
    return listFiles(this.cniDir).filter((name) => isExecutableFile(join(this.cniDir, name)));
  }

  requireCniPlugins(): string[] {
    const present = this.cniPlugins();
    const absent = REQUIRED_CNI_PLUGINS.filter((name) => !present.includes(name));
    if (absent.length > 0) {
      throw new ArtifactMissingError(`cni/${absent.join(', cni/')}`, this.root, missingHint('cni', this.root));
    }
    return present;
  }

  /** Debian packages for the lb node (haproxy and the libraries the base image lacks). */
  debs(): string[] {
    return listFiles(join(this.root, 'debs'))
      .filter((name) => name.endsWith('.deb'))
      .map((name) => join(this.root, 'debs', name));
  }

  /** Container image archives (`ctr images import`) for air-gapped workers. */
  images(): string[] {
    return listFiles(join(this.root, 'images'))
      .filter((name) => name.endsWith('.tar'))
      .map((name) => join(this.root, 'images', name));
  }

  /** versions.json when present (written by the Debian filler and the downloader). */
  versions(): Record<string, string> {
    const file = join(this.root, 'versions.json');
    if (!existsSync(file)) return {};
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    } catch (error) {
      throw new Error(`${file} is not valid JSON (${(error as Error).message}): fix or delete it`);
    }
  }

  /** One line per family, for logs and `--artifacts` diagnostics. */
  describe(): string {
    const families: [string, readonly BinaryName[]][] = [
      ['etcd', ETCD_BINARIES],
      ['kubernetes', KUBE_BINARIES],
      ['containerd', CONTAINERD_BINARIES],
      ['runc', [RUNC_BINARY]],
      ['crictl', [CRICTL_BINARY]],
      ['coredns', [COREDNS_BINARY]],
    ];
    const lines = families.map(([family, names]) => {
      const absent = this.missing(names);
      return `  ${family}: ${absent.length === 0 ? 'present' : absent.length === names.length ? 'absent' : `missing ${absent.join(', ')}`}`;
    });
    const cni = this.cniPlugins();
    lines.push(`  cni plugins: ${cni.length ? cni.join(', ') : 'absent'}`);
    lines.push(`  debs: ${this.debs().length}, images: ${this.images().length}`);
    return `artifacts in ${this.root} (${this.origin}):\n${lines.join('\n')}`;
  }
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
