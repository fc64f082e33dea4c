// The container images every lab needs, by reference. The lab makes them itself (no registry is
// reachable from the VMs), so they live under a name of ours: containerd's sandbox setting, the
// CoreDNS manifest and the smoke test name exactly these, and the workers import exactly these.

import type { VersionsSpec } from '../spec/cluster-spec.ts';

export const LAB_IMAGE_REGISTRY = 'hardway-lab.local';

export interface LabImages {
  /** The pod sandbox, built from Kubernetes' build/pause/linux/pause.c of the pinned release. */
  pause: string;
  /** The CoreDNS binary built for the lab. */
  coredns: string;
  /** The smoke test's web server, from the host's Debian nginx package. */
  nginx: string;
  /** The DNS probe's client, from Debian's busybox-static. */
  busybox: string;
}

export function labImages(versions: VersionsSpec): LabImages {
  return {
    pause: `${LAB_IMAGE_REGISTRY}/pause:v${versions.kubernetes}`,
    coredns: `${LAB_IMAGE_REGISTRY}/coredns:v${versions.coredns}`,
    nginx: `${LAB_IMAGE_REGISTRY}/nginx:debian`,
    busybox: `${LAB_IMAGE_REGISTRY}/busybox:debian`,
  };
}
