// Which files land on which node, where, with what mode, and where each comes from.
// The renderer produces exactly these; the distribution steps copy exactly these.

import type { Plan, PlannedNode } from './address-plan.ts';

export type FileOrigin =
  /** A certificate (`crt`), private key (`key`) or public key (`pub`) from the lab's pki/. */
  | { kind: 'pki'; id: string; part: 'crt' | 'key' | 'pub' }
  /** A template under provision/, filled from the plan. */
  | { kind: 'template'; template: string }
  /** A kubeconfig embedding the CA and the identity's certificate and key. */
  | { kind: 'kubeconfig'; identity: string; user: string; server: 'api-endpoint' | 'localhost' }
  /** The encryption-at-rest config with the lab's secret key. */
  | { kind: 'encryption-config' };

export interface PlannedFile {
  /** Absolute path on the node. */
  path: string;
  mode: number;
  origin: FileOrigin;
}

const PUBLIC = 0o644;
const SECRET = 0o600;
const EXECUTABLE = 0o755;

export function originLabel(origin: FileOrigin): string {
  switch (origin.kind) {
    case 'pki':
      return `pki/${origin.id}.${origin.part}`;
    case 'template':
      return `provision/${origin.template}`;
    case 'kubeconfig':
      return `kubeconfig ${origin.user} → ${origin.server}`;
    case 'encryption-config':
      return 'encryption config (aescbc key1)';
  }
}

export function planNodeFiles(plan: Plan, node: PlannedNode): PlannedFile[] {
  const pki = (id: string, part: 'crt' | 'key' | 'pub', path: string): PlannedFile => ({
    path,
    mode: part === 'key' ? SECRET : PUBLIC,
    origin: { kind: 'pki', id, part },
  });
  const template = (name: string, path: string, mode = PUBLIC): PlannedFile => ({ path, mode, origin: { kind: 'template', template: name } });
  const kubeconfig = (identity: string, user: string, server: 'api-endpoint' | 'localhost', path: string): PlannedFile => ({
    path,
    mode: SECRET,
    origin: { kind: 'kubeconfig', identity, user, server },
  });

  const files: PlannedFile[] = [
    template('common/hosts', '/etc/hosts'),
    template('common/pod-routes', '/etc/hardway/pod-routes'),
    template('common/hardway-pod-routes.sh', '/usr/local/sbin/hardway-pod-routes', EXECUTABLE),
    template('systemd/hardway-pod-routes.service', '/etc/systemd/system/hardway-pod-routes.service'),
  ];

  if (node.role === 'lb') {
    files.push(template('lb/haproxy.cfg', '/etc/haproxy/haproxy.cfg'));
  }

  if (node.role === 'controller') {
    const k8s = '/var/lib/kubernetes';
    files.push(
      pki('ca', 'crt', '/etc/etcd/ca.crt'),
      pki(`etcd-${node.name}`, 'crt', '/etc/etcd/etcd-server.crt'),
      pki(`etcd-${node.name}`, 'key', '/etc/etcd/etcd-server.key'),
      pki('ca', 'crt', `${k8s}/ca.crt`),
      // The controller-manager signs CSRs (kubelet serving certs, etc.) with the CA key.
      pki('ca', 'key', `${k8s}/ca.key`),
      pki('kube-apiserver', 'crt', `${k8s}/kube-apiserver.crt`),
      pki('kube-apiserver', 'key', `${k8s}/kube-apiserver.key`),
      pki('apiserver-etcd-client', 'crt', `${k8s}/apiserver-etcd-client.crt`),
      pki('apiserver-etcd-client', 'key', `${k8s}/apiserver-etcd-client.key`),
      pki('apiserver-kubelet-client', 'crt', `${k8s}/apiserver-kubelet-client.crt`),
      pki('apiserver-kubelet-client', 'key', `${k8s}/apiserver-kubelet-client.key`),
      pki('service-accounts', 'key', `${k8s}/service-accounts.key`),
      pki('service-accounts', 'pub', `${k8s}/service-accounts.pub`),
      { path: `${k8s}/encryption-config.yaml`, mode: SECRET, origin: { kind: 'encryption-config' } },
      kubeconfig('kube-controller-manager', 'system:kube-controller-manager', 'localhost', `${k8s}/kube-controller-manager.kubeconfig`),
      kubeconfig('kube-scheduler', 'system:kube-scheduler', 'localhost', `${k8s}/kube-scheduler.kubeconfig`),
      kubeconfig('admin', 'admin', 'localhost', '/root/admin.kubeconfig'),
      template('controller/kube-scheduler.yaml', '/etc/kubernetes/config/kube-scheduler.yaml'),
      template('systemd/etcd.service', '/etc/systemd/system/etcd.service'),
      template('systemd/kube-apiserver.service', '/etc/systemd/system/kube-apiserver.service'),
      template('systemd/kube-controller-manager.service', '/etc/systemd/system/kube-controller-manager.service'),
      template('systemd/kube-scheduler.service', '/etc/systemd/system/kube-scheduler.service'),
    );
  }

  if (node.role === 'worker') {
    files.push(
      pki('ca', 'crt', '/var/lib/kubernetes/ca.crt'),
      pki(`kubelet-${node.name}`, 'crt', '/var/lib/kubelet/kubelet.crt'),
      pki(`kubelet-${node.name}`, 'key', '/var/lib/kubelet/kubelet.key'),
      kubeconfig(`kubelet-${node.name}`, `system:node:${node.name}`, 'api-endpoint', '/var/lib/kubelet/kubeconfig'),
      kubeconfig('kube-proxy', 'system:kube-proxy', 'api-endpoint', '/var/lib/kube-proxy/kubeconfig'),
      template('worker/kubelet-config.yaml', '/var/lib/kubelet/kubelet-config.yaml'),
      template('worker/kube-proxy-config.yaml', '/var/lib/kube-proxy/kube-proxy-config.yaml'),
      template('worker/10-bridge.conf', '/etc/cni/net.d/10-bridge.conf'),
      template('worker/99-loopback.conf', '/etc/cni/net.d/99-loopback.conf'),
      template('worker/containerd-config.toml', '/etc/containerd/config.toml'),
      template('worker/crictl.yaml', '/etc/crictl.yaml'),
      template('worker/modules-load-kubernetes.conf', '/etc/modules-load.d/kubernetes.conf'),
      template('worker/sysctl-kubernetes.conf', '/etc/sysctl.d/kubernetes.conf'),
      template('systemd/containerd.service', '/etc/systemd/system/containerd.service'),
      template('systemd/kubelet.service', '/etc/systemd/system/kubelet.service'),
      template('systemd/kube-proxy.service', '/etc/systemd/system/kube-proxy.service'),
    );
  }
  return files;
}

/** Files kept on the host side of the lab (not on any node). */
export function planHostFiles(): PlannedFile[] {
  return [
    { path: 'kubeconfigs/admin.kubeconfig', mode: SECRET, origin: { kind: 'kubeconfig', identity: 'admin', user: 'admin', server: 'api-endpoint' } },
  ];
}
