// The cluster spec: what a user writes in hardway-lab.yaml, and the fully resolved form the rest of
// the engine works from. Parsing and validation live in parse-spec.ts.

import { ROLES, type Role } from '../shared/roles.ts';

export { ROLES, type Role };

export const PROVIDERS = ['qemu', 'libvirt', 'vagrant'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const PRESETS = ['ha', 'minimal', 'classic'] as const;
export type PresetName = (typeof PRESETS)[number];

export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-2048'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export interface RoleSpec {
  count: number;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  /** Explicit node names; when absent, names are `lb`, `controller-N`, `worker-N`. */
  names?: string[];
}

export interface ImageSpec {
  /**
   * `builder`: the Debian image made by `hardway-lab image build` (default, offline).
   * `file`: a qcow2 image plus kernel and initrd (or a cloud image) at the given paths.
   * `box`: a Vagrant box by name (vagrant provider).
   */
  source: 'builder' | 'file' | 'box';
  path?: string;
  kernel?: string;
  initrd?: string;
  box?: string;
}

export interface NetworkSpec {
  nodeSubnet: string;
  podCidr: string;
  serviceCidr: string;
  clusterDomain: string;
  /**
   * Let the VMs reach the outside through the host (masquerading), e.g. to pull images or
   * packages. Off by default: the lab needs nothing from outside, and nothing leaks onto the LAN.
   */
  nat: boolean;
  /** With nat: the resolvers the nodes use; default the host's own (from its resolv.conf). */
  dns?: string[];
}

export interface VersionsSpec {
  kubernetes: string;
  etcd: string;
  containerd: string;
  runc: string;
  cniPlugins: string;
  coredns: string;
  crictl: string;
}

export const ARTIFACT_SOURCES = ['auto', 'release', 'go-build', 'directory'] as const;
export type ArtifactSourceName = (typeof ARTIFACT_SOURCES)[number];

/**
 * Where the binaries and images a lab installs come from:
 * - `release`: the official release downloads (dl.k8s.io, the projects' GitHub releases), verified;
 * - `go-build`: built here from the upstream Go modules (the Go module proxy, GOPROXY), at the
 *   pinned versions, with the lab's own images made alongside;
 * - `directory`: a local artifacts directory (`dir`), for air-gapped labs;
 * - `auto` (default): a directory given with --artifacts/HARDWAY_ARTIFACTS_DIR, else a complete
 *   set already in the cache, else the release downloads when their site answers, else go-build.
 */
export interface ArtifactsSpec {
  source: ArtifactSourceName;
  dir?: string;
}

export const SNAPSHOT_SETTINGS = ['auto', 'on', 'off'] as const;
export type SnapshotSetting = (typeof SNAPSHOT_SETTINGS)[number];

/**
 * `afterEachStep`: take a snapshot of every node after each step (`after-<step>`, what `rewind`
 * goes back to). `auto` (default): on when the lab's disk has room (3 GiB free per node).
 */
export interface SnapshotsSpec {
  afterEachStep: SnapshotSetting;
}

export interface ClusterSpec {
  name: string;
  preset: PresetName;
  provider: ProviderName;
  image: ImageSpec;
  nodes: Record<Role, RoleSpec>;
  network: NetworkSpec;
  versions: VersionsSpec;
  artifacts: ArtifactsSpec;
  snapshots: SnapshotsSpec;
  pki: { keyAlgorithm: KeyAlgorithm };
}

const LB: RoleSpec = { count: 1, cpus: 1, memoryMiB: 512, diskGiB: 10 };
const CONTROLLER: RoleSpec = { count: 3, cpus: 2, memoryMiB: 2048, diskGiB: 20 };
const WORKER: RoleSpec = { count: 2, cpus: 2, memoryMiB: 2048, diskGiB: 20 };

/** Node counts per preset; everything else comes from the defaults below. */
export const PRESET_COUNTS: Record<PresetName, Record<Role, number>> = {
  ha: { lb: 1, controller: 3, worker: 2 },
  minimal: { lb: 0, controller: 1, worker: 1 },
  classic: { lb: 1, controller: 2, worker: 2 },
};

export const DEFAULT_NETWORK: NetworkSpec = {
  nodeSubnet: '10.240.0.0/24',
  podCidr: '10.200.0.0/16',
  serviceCidr: '10.32.0.0/24',
  clusterDomain: 'cluster.local',
  nat: false,
};

/**
 * The newest releases that build with Go 1.26 from the Go module proxy and exist as official
 * releases too. Kubernetes stays one minor below the newest (1.37) so that the upgrade exercise has
 * a released next minor to go to; runc 1.5 because containerd 2.4 is tested against runc >= 1.5.2.
 * gobuild/<component>/v<version>/ holds the wrapper module that pins each one.
 */
export const DEFAULT_VERSIONS: VersionsSpec = {
  kubernetes: '1.36.3',
  etcd: '3.6.16',
  containerd: '2.4.2',
  runc: '1.5.3',
  cniPlugins: '1.10.0',
  coredns: '1.15.0',
  crictl: '1.37.0',
};

/**
 * The release each Kubernetes minor goes to in the upgrade exercise (the next minor's newest patch
 * that the Go module proxy serves; its wrapper module is committed in gobuild/kubernetes/).
 */
export const KUBERNETES_UPGRADES: Readonly<Record<string, string>> = {
  '1.36': '1.37.2',
};

/** The version the upgrade exercise takes a lab at `version` to, or undefined when there is none. */
export function kubernetesUpgradeTarget(version: string): string | undefined {
  const minor = /^(\d+\.\d+)\./.exec(version)?.[1];
  return minor ? KUBERNETES_UPGRADES[minor] : undefined;
}

export function presetSpec(preset: PresetName, name = 'hardway'): ClusterSpec {
  const counts = PRESET_COUNTS[preset];
  return {
    name,
    preset,
    provider: 'qemu',
    image: { source: 'builder' },
    nodes: {
      lb: { ...LB, count: counts.lb },
      controller: { ...CONTROLLER, count: counts.controller },
      worker: { ...WORKER, count: counts.worker },
    },
    network: { ...DEFAULT_NETWORK },
    versions: { ...DEFAULT_VERSIONS },
    artifacts: { source: 'auto' },
    snapshots: { afterEachStep: 'auto' },
    pki: { keyAlgorithm: 'ecdsa-p256' },
  };
}

export const SPEC_FILE_NAME = 'hardway-lab.yaml';
