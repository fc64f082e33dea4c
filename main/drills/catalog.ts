// Every drill and exercise, in the order the list shows them: the control plane first, then the
// nodes, then the operations.

import type { Drill, Exercise, Lesson } from './drill-types.ts';
import { apiserverCertNoLbSan } from './records/apiserver-cert-no-lb-san.ts';
import { etcdCertExpired } from './records/etcd-cert-expired.ts';
import { etcdMemberDown } from './records/etcd-member-down.ts';
import { etcdQuorumLost } from './records/etcd-quorum-lost.ts';
import { encryptionConfigMissing } from './records/encryption-config-missing.ts';
import { schedulerStopped } from './records/scheduler-stopped.ts';
import { kubeletCertNoClientAuth } from './records/kubelet-cert-no-client-auth.ts';
import { podRouteLost } from './records/pod-route-lost.ts';
import { kubeProxyStopped } from './records/kube-proxy-stopped.ts';
import { corednsCorefileBroken } from './records/coredns-corefile-broken.ts';
import { kubeletWrongClusterDns } from './records/kubelet-wrong-cluster-dns.ts';
import { apiserverKubeletRbacRemoved } from './records/apiserver-kubelet-rbac-removed.ts';
import { workersCordoned } from './records/workers-cordoned.ts';
import { etcdBackupRestore } from './records/etcd-backup-restore.ts';
import { drainAndUncordon } from './records/drain-and-uncordon.ts';
import { certificateRotation } from './records/certificate-rotation.ts';
import { kubernetesUpgrade } from './records/kubernetes-upgrade.ts';

export const DRILLS: readonly Drill[] = [
  apiserverCertNoLbSan,
  etcdCertExpired,
  etcdMemberDown,
  etcdQuorumLost,
  encryptionConfigMissing,
  schedulerStopped,
  kubeletCertNoClientAuth,
  podRouteLost,
  kubeProxyStopped,
  corednsCorefileBroken,
  kubeletWrongClusterDns,
  apiserverKubeletRbacRemoved,
  workersCordoned,
];

export const EXERCISES: readonly Exercise[] = [etcdBackupRestore, drainAndUncordon, certificateRotation, kubernetesUpgrade];

export const LESSONS: readonly Lesson[] = [...DRILLS, ...EXERCISES];

export function findLesson(id: string, kind?: Lesson['kind']): Lesson {
  const pool = kind === 'drill' ? DRILLS : kind === 'exercise' ? EXERCISES : LESSONS;
  const found = pool.find((l) => l.id === id);
  if (!found) throw new Error(`there is no ${kind ?? 'drill or exercise'} "${id}"\n  what to do: use one of: ${pool.map((l) => l.id).join(', ')}`);
  return found;
}
