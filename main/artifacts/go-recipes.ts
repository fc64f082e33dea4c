// What `hardway-lab artifacts build` builds from the upstream Go modules, per component, at the
// versions the spec pins: which modules, which main packages into which layout paths, with what
// build tags, cgo setting and version stamps, and how to ask each binary for its version
// afterwards. The build itself (go-build.ts) and the wrapper modules (go-wrapper-module.ts) only
// read these records.

import type { VersionsSpec } from '../spec/cluster-spec.ts';

export const GO_COMPONENTS = ['kubernetes', 'etcd', 'containerd', 'runc', 'cni-plugins', 'coredns', 'crictl'] as const;
export type GoComponent = (typeof GO_COMPONENTS)[number];

export interface GoTarget {
  /** The main package. */
  pkg: string;
  /** Where the binary goes in the artifacts layout. */
  out: string;
  /** Arguments that make the binary print its version (checked against `expect`). */
  versionArgs: string[];
}

export interface GoRecipe {
  component: GoComponent;
  /** The pinned version, without a leading v. */
  version: string;
  /** Modules the wrapper requires, at their tags. */
  requires: { path: string; version: string }[];
  targets: GoTarget[];
  /** cgo on (runc: nsenter and libseccomp) or off (everything else: static binaries). */
  cgo: boolean;
  tags: string[];
  /** `go build -buildmode` (runc: pie, linked as a static PIE as its Makefile does). */
  buildmode?: string;
  /** -X stamps and other linker flags, besides `-s -w`. */
  ldflags: string[];
  /** Every target's version output must contain this. */
  expectVersion: string;
  /** Host packages the build needs beyond Go (shown when they are missing). */
  hostNeeds?: { file: string; debianPackage: string }[];
}

/** `-X` stamps Kubernetes' own build (hack/lib/version.sh) sets, for both version packages. */
function kubernetesStamps(version: string, buildDate: string): string[] {
  const [major, minor] = version.split('.');
  const stamps: string[] = [];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    stamps.push(
      `-X ${pkg}.gitVersion=v${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      // Built from the module zip, not a git checkout: the commit is not known here.
      `-X ${pkg}.gitTreeState=archive`,
      `-X ${pkg}.buildDate=${buildDate}`,
    );
  }
  return stamps;
}

export const KUBERNETES_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;

/** The CNI plugins the lab uses: bridge with host-local IPAM, loopback, and portmap (hostPort). */
export const CNI_PLUGIN_PACKAGES: Record<string, string> = {
  bridge: 'plugins/main/bridge',
  loopback: 'plugins/main/loopback',
  'host-local': 'plugins/ipam/host-local',
  portmap: 'plugins/meta/portmap',
};

/**
 * The recipe of one component. `releaseTime` (the module's publication time from the proxy) stamps
 * Kubernetes' buildDate, so that the same inputs give the same binaries.
 */
export function goRecipe(component: GoComponent, versions: VersionsSpec, releaseTime = '1970-01-01T00:00:00Z'): GoRecipe {
  switch (component) {
    case 'kubernetes': {
      const v = versions.kubernetes;
      return {
        component,
        version: v,
        requires: [{ path: 'k8s.io/kubernetes', version: `v${v}` }],
        targets: KUBERNETES_COMMANDS.map((name) => ({
          pkg: `k8s.io/kubernetes/cmd/${name}`,
          out: `bin/${name}`,
          versionArgs: name === 'kubectl' ? ['version', '--client'] : ['--version'],
        })),
        cgo: false,
        tags: [],
        ldflags: kubernetesStamps(v, releaseTime),
        expectVersion: `v${v}`,
      };
    }
    case 'etcd': {
      const v = versions.etcd;
      const modules = ['go.etcd.io/etcd/server/v3', 'go.etcd.io/etcd/etcdctl/v3', 'go.etcd.io/etcd/etcdutl/v3'];
      return {
        component,
        version: v,
        requires: modules.map((path) => ({ path, version: `v${v}` })),
        targets: [
          { pkg: 'go.etcd.io/etcd/server/v3', out: 'bin/etcd', versionArgs: ['--version'] },
          { pkg: 'go.etcd.io/etcd/etcdctl/v3', out: 'bin/etcdctl', versionArgs: ['version'] },
          { pkg: 'go.etcd.io/etcd/etcdutl/v3', out: 'bin/etcdutl', versionArgs: ['version'] },
        ],
        cgo: false,
        tags: [],
        // The version itself is a constant in go.etcd.io/etcd/api/v3/version.
        ldflags: ['-X go.etcd.io/etcd/api/v3/version.GitSHA=module-v' + v],
        expectVersion: v,
      };
    }
    case 'containerd': {
      const v = versions.containerd;
      const base = 'github.com/containerd/containerd/v2';
      return {
        component,
        version: v,
        requires: [{ path: base, version: `v${v}` }],
        targets: ['containerd', 'containerd-shim-runc-v2', 'ctr'].map((name) => ({ pkg: `${base}/cmd/${name}`, out: `bin/${name}`, versionArgs: ['--version'] })),
        cgo: false,
        // As containerd's own static release build: no btrfs (needs cgo), no CRI-less variants.
        tags: ['no_btrfs', 'urfave_cli_no_docs'],
        ldflags: [`-X ${base}/version.Version=v${v}`, `-X ${base}/version.Revision=module-v${v}`, `-X ${base}/version.Package=${base}`],
        expectVersion: `v${v}`,
      };
    }
    case 'runc': {
      const v = versions.runc;
      return {
        component,
        version: v,
        requires: [{ path: 'github.com/opencontainers/runc', version: `v${v}` }],
        targets: [{ pkg: 'github.com/opencontainers/runc', out: 'bin/runc', versionArgs: ['--version'] }],
        // runc needs cgo (its nsenter runs before the Go runtime) and links libseccomp statically.
        // libpathrs (a Rust library Debian does not ship) is left out, as runc's Makefile allows
        // (RUNC_BUILDTAGS=-libpathrs): runc then resolves paths with filepath-securejoin.
        cgo: true,
        tags: ['seccomp', 'urfave_cli_no_docs', 'netgo', 'osusergo'],
        buildmode: 'pie',
        ldflags: [`-X main.version=${v}`, `-X main.gitCommit=module-v${v}`, '-linkmode external', '-extldflags -static-pie'],
        expectVersion: `runc version ${v}`,
        hostNeeds: [
          { file: '/usr/include/seccomp.h', debianPackage: 'libseccomp-dev' },
          { file: 'libseccomp.a', debianPackage: 'libseccomp-dev' },
        ],
      };
    }
    case 'cni-plugins': {
      const v = versions.cniPlugins;
      const base = 'github.com/containernetworking/plugins';
      return {
        component,
        version: v,
        requires: [{ path: base, version: `v${v}` }],
        targets: Object.entries(CNI_PLUGIN_PACKAGES).map(([name, pkg]) => ({ pkg: `${base}/${pkg}`, out: `cni/${name}`, versionArgs: [] })),
        cgo: false,
        tags: [],
        ldflags: [`-X ${base}/pkg/utils/buildversion.BuildVersion=v${v}`],
        expectVersion: `v${v}`,
      };
    }
    case 'coredns': {
      const v = versions.coredns;
      return {
        component,
        version: v,
        requires: [{ path: 'github.com/coredns/coredns', version: `v${v}` }],
        targets: [{ pkg: 'github.com/coredns/coredns', out: 'bin/coredns', versionArgs: ['-version'] }],
        cgo: false,
        tags: [],
        ldflags: ['-X github.com/coredns/coredns/coremain.GitCommit=module-v' + v],
        expectVersion: `CoreDNS-${v}`,
      };
    }
    case 'crictl': {
      const v = versions.crictl;
      return {
        component,
        version: v,
        requires: [{ path: 'sigs.k8s.io/cri-tools', version: `v${v}` }],
        targets: [{ pkg: 'sigs.k8s.io/cri-tools/cmd/crictl', out: 'bin/crictl', versionArgs: ['--version'] }],
        cgo: false,
        tags: [],
        ldflags: [`-X sigs.k8s.io/cri-tools/pkg/version.Version=v${v}`],
        expectVersion: v,
      };
    }
  }
}
