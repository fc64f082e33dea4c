// Where each pinned component is published upstream, and where its checksum is. Only official
// locations: dl.k8s.io for Kubernetes (one .sha256 per binary) and the projects' GitHub releases
// (each with the checksum file the project publishes next to the asset).

import type { VersionsSpec } from '../spec/cluster-spec.ts';

export const COMPONENTS = ['kubernetes', 'etcd', 'containerd', 'runc', 'cni-plugins', 'coredns', 'crictl'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface ReleaseBaseUrls {
  /** Default https://dl.k8s.io */
  kubernetes: string;
  /** Default https://github.com */
  github: string;
}

export const OFFICIAL_BASE_URLS: ReleaseBaseUrls = { kubernetes: 'https://dl.k8s.io', github: 'https://github.com' };

export type InstallAs =
  /** The download is the binary itself. */
  | { kind: 'binary'; to: string }
  /** A .tar.gz: `members` are copied out (paths inside the archive → paths in the layout). */
  | { kind: 'archive'; members: { from: string; to: string }[] }
  /** A .tar.gz whose every regular file goes into one layout directory (the CNI plugins). */
  | { kind: 'archive-all'; toDir: string };

export interface ReleaseFile {
  component: Component;
  version: string;
  url: string;
  /** The published checksum file: either one hash, or `HASH  NAME` lines (pick `fileName`). */
  checksumUrl: string;
  /** The name the checksum file uses for this asset. */
  fileName: string;
  install: InstallAs;
}

const KUBERNETES_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy'];

/** Every file to fetch for the given components, at the versions the spec pins. */
export function releaseFiles(
  versions: VersionsSpec,
  components: readonly Component[] = COMPONENTS,
  options: { arch?: string; baseUrls?: Partial<ReleaseBaseUrls> } = {},
): ReleaseFile[] {
  const arch = options.arch ?? 'amd64';
  const base = { ...OFFICIAL_BASE_URLS, ...options.baseUrls };
  const gh = (repo: string, tag: string, asset: string) => `${base.github}/${repo}/releases/download/${tag}/${asset}`;
  const files: ReleaseFile[] = [];

  for (const component of components) {
    switch (component) {
      case 'kubernetes': {
        const v = versions.kubernetes;
        for (const name of KUBERNETES_BINARIES) {
          const url = `${base.kubernetes}/v${v}/bin/linux/${arch}/${name}`;
          files.push({ component, version: v, url, checksumUrl: `${url}.sha256`, fileName: name, install: { kind: 'binary', to: `bin/${name}` } });
        }
        break;
      }
      case 'etcd': {
        const v = versions.etcd;
        const asset = `etcd-v${v}-linux-${arch}.tar.gz`;
        const dir = `etcd-v${v}-linux-${arch}`;
        files.push({
          component,
          version: v,
          url: gh('etcd-io/etcd', `v${v}`, asset),
          checksumUrl: gh('etcd-io/etcd', `v${v}`, 'SHA256SUMS'),
          fileName: asset,
          install: { kind: 'archive', members: ['etcd', 'etcdctl', 'etcdutl'].map((n) => ({ from: `${dir}/${n}`, to: `bin/${n}` })) },
        });
        break;
      }
      case 'containerd': {
        const v = versions.containerd;
        const asset = `containerd-${v}-linux-${arch}.tar.gz`;
        files.push({
          component,
          version: v,
          url: gh('containerd/containerd', `v${v}`, asset),
          checksumUrl: gh('containerd/containerd', `v${v}`, `${asset}.sha256sum`),
          fileName: asset,
          install: { kind: 'archive', members: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((n) => ({ from: `bin/${n}`, to: `bin/${n}` })) },
        });
        break;
      }
      case 'runc': {
        const v = versions.runc;
        const asset = `runc.${arch}`;
        files.push({
          component,
          version: v,
          url: gh('opencontainers/runc', `v${v}`, asset),
          checksumUrl: gh('opencontainers/runc', `v${v}`, 'runc.sha256sum'),
          fileName: asset,
          install: { kind: 'binary', to: 'bin/runc' },
        });
        break;
      }
      case 'cni-plugins': {
        const v = versions.cniPlugins;
        const asset = `cni-plugins-linux-${arch}-v${v}.tgz`;
        files.push({
          component,
          version: v,
          url: gh('containernetworking/plugins', `v${v}`, asset),
          checksumUrl: gh('containernetworking/plugins', `v${v}`, `${asset}.sha256`),
          fileName: asset,
          install: { kind: 'archive-all', toDir: 'cni' },
        });
        break;
      }
      case 'coredns': {
        // The cluster runs CoreDNS as a container image the lab makes from this binary.
        const v = versions.coredns;
        const asset = `coredns_${v}_linux_${arch}.tgz`;
        files.push({
          component,
          version: v,
          url: gh('coredns/coredns', `v${v}`, asset),
          checksumUrl: gh('coredns/coredns', `v${v}`, `${asset}.sha256`),
          fileName: asset,
          install: { kind: 'archive', members: [{ from: 'coredns', to: 'bin/coredns' }] },
        });
        break;
      }
      case 'crictl': {
        const v = versions.crictl;
        const asset = `crictl-v${v}-linux-${arch}.tar.gz`;
        files.push({
          component,
          version: v,
          url: gh('kubernetes-sigs/cri-tools', `v${v}`, asset),
          checksumUrl: gh('kubernetes-sigs/cri-tools', `v${v}`, `${asset}.sha256`),
          fileName: asset,
          install: { kind: 'archive', members: [{ from: 'crictl', to: 'bin/crictl' }] },
        });
        break;
      }
    }
  }
  return files;
}

/**
 * The expected SHA-256 of `fileName` from a published checksum file. Accepts a bare hash (dl.k8s.io)
 * or `sha256sum` output lines (`HASH  NAME` or `HASH *NAME`), where NAME may carry a directory.
 */
export function expectedChecksum(text: string, fileName: string, checksumUrl: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const hashOf = (line: string) => line.split(/\s+/)[0]!.toLowerCase();
  if (lines.length === 1 && /^[0-9a-fA-F]{64}$/.test(lines[0]!)) return lines[0]!.toLowerCase();
  for (const line of lines) {
    const match = /^([0-9a-fA-F]{64})\s+\*?(.+)$/.exec(line);
    if (!match) continue;
    const name = match[2]!.trim();
    if (name === fileName || name.endsWith(`/${fileName}`)) return hashOf(line);
  }
  throw new Error(
    `the checksum file ${checksumUrl} has no SHA-256 for ${fileName} (it has ${lines.length} line(s)${lines[0] ? `, starting "${lines[0].slice(0, 80)}"` : ''}); ` +
      'check that the version in the spec exists upstream',
  );
}
