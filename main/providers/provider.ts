// One interface for every way the lab gets its machines (QEMU directly, libvirt, Vagrant).
// The engine only talks to this; a factory picks the implementation from the spec.

import type { ProviderName } from '../spec/cluster-spec.ts';
import { LabError } from '../shared/lab-error.ts';

export type VmState = 'absent' | 'stopped' | 'starting' | 'running' | 'failed';

export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
}

export interface ProviderProgress {
  node?: string;
  /** Short machine-readable phase, e.g. `probe-kvm`, `create-overlay`, `boot`, `destroy`. */
  phase: string;
  message: string;
  /** 0..1 when known. */
  fraction?: number;
}

export interface NodeStatus {
  node: string;
  state: VmState;
  pid?: number;
  detail?: string;
}

export interface PreflightReport {
  /** The acceleration the provider will use, e.g. `kvm` or `tcg`. */
  acceleration?: string;
  warnings: string[];
}

/** A failure of a provider a person can act on: what failed, on which node, the command and the end of its output. */
export class ProviderError extends LabError {
  override name = 'ProviderError';
}

export interface Provider {
  readonly name: ProviderName;
  /** Checks the host can run this provider; throws ProviderError with a hint when it cannot. */
  preflight(): Promise<PreflightReport>;
  /** Creates (if needed) and starts the given nodes, or all nodes of the plan. Idempotent. */
  create(nodes?: string[]): Promise<void>;
  start(nodes?: string[]): Promise<void>;
  stop(nodes?: string[]): Promise<void>;
  /** Removes every VM, disk, network device and process of the lab. Idempotent. */
  destroy(): Promise<void>;
  status(): Promise<NodeStatus[]>;
  sshEndpoint(node: string): SshEndpoint;
  /** The last lines of the node's serial console, for errors about nodes that never came up. */
  consoleTail(node: string, lines?: number): Promise<string>;
  onProgress(listener: (event: ProviderProgress) => void): () => void;
  /**
   * Snapshots of the nodes' disks, by name, taken at one moment for all given nodes (all when
   * omitted); a snapshot of the same name is replaced. The lab-level bookkeeping (which step, the
   * host's state) lives in lab/lab-snapshots.ts.
   */
  snapshotSave(name: string, nodes?: string[]): Promise<void>;
  /** Brings the nodes' disks back to the snapshot; the nodes may be left stopped (start() boots them). */
  snapshotRestore(name: string, nodes?: string[]): Promise<void>;
  /** A no-op on nodes that do not have it. */
  snapshotDelete(name: string, nodes?: string[]): Promise<void>;
  /** The snapshot names a node has (none when its VM does not exist). */
  snapshotList(node: string): Promise<string[]>;
}
