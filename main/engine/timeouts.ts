// Every wait of the steps and their checkers, in one table, at KVM speed. Under software emulation
// the guests run several times slower, so each is stretched by the lab's measured timing scale
// (guest-speed.ts; the compute step measures it): `timeout(ctx.timing, 'unitStart')`.

export const TIMEOUTS = {
  /** A node boots to SSH. */
  sshUp: 300_000,
  /** A checker's facts script on a node (one SSH command gathering a step's facts). */
  factsScript: 120_000,
  /** A short command or facts script: a kubectl call, the API server's /readyz, the pod netns probe. */
  shortCommand: 60_000,
  /** etcd's facts asked of the whole cluster (each member is asked in turn). */
  etcdClusterFacts: 180_000,
  /** Units (re)started until systemd says active. */
  unitStart: 180_000,
  /** etcd started on a member: it waits for its peers. */
  etcdStart: 300_000,
  /** The etcd cluster healthy once every member runs. */
  etcdHealthy: 60_000,
  /**
   * The first API server on fresh etcd becomes ready. Under TCG on a 2-core host the first took
   * 179-340 s, the later ones ~80-90 s each.
   */
  apiserverReady: 90_000,
  /** The controller-manager and scheduler take their leases (~10-15 s after start under TCG). */
  leasesTaken: 30_000,
  /** Every worker Ready in the API. */
  nodesReady: 120_000,
  /** `kubectl port-forward` says it forwards. */
  portForwardStarts: 30_000,
  /** haproxy's .deb files installed with dpkg. */
  debsInstalled: 300_000,
  /** haproxy installed with apt-get from a package source. */
  aptInstall: 600_000,
  /** An image archive imported into containerd. */
  imageImport: 600_000,
} as const;

export type TimeoutName = keyof typeof TIMEOUTS;

/** The wait `name`, stretched by the lab's measured guest speed. */
export function timeout(timing: { scale: number }, name: TimeoutName): number {
  return TIMEOUTS[name] * timing.scale;
}
