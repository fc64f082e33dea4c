// The lab's names, addresses and shell idioms as the drill records use them, so that each record
// reads like the commands a person would type.

import type { DrillEnv } from './drill-types.ts';

export const ADMIN_KUBECTL = 'kubectl --kubeconfig /root/admin.kubeconfig --request-timeout=60s';
export const ETCDCTL = 'etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key';

export function controllers(env: DrillEnv): string[] {
  return env.plan.nodes.filter((n) => n.role === 'controller').map((n) => n.name);
}

export function workers(env: DrillEnv): string[] {
  return env.plan.nodes.filter((n) => n.role === 'worker').map((n) => n.name);
}

/** The n-th controller (the last one when there are fewer). */
export function controller(n: number): (env: DrillEnv) => string {
  return (env) => {
    const all = controllers(env);
    return all[Math.min(n, all.length - 1)]!;
  };
}

export function worker(n: number): (env: DrillEnv) => string {
  return (env) => {
    const all = workers(env);
    return all[Math.min(n, all.length - 1)]!;
  };
}

export function ipOf(env: DrillEnv, node: string): string {
  return env.plan.nodes.find((n) => n.name === node)!.ip;
}

export function etcdEndpoints(env: DrillEnv): string {
  return controllers(env)
    .map((c) => `https://${ipOf(env, c)}:2379`)
    .join(',');
}

/** Where the upgrade exercise puts a release's binaries on a node before they are installed. */
export function kubernetesDir(version: string): string {
  return `/opt/hardway/kubernetes/v${version}`;
}

/** Waits (up to 15 minutes) until the local API server says ready; fails after that. */
export const WAIT_APISERVER_READY =
  'for i in $(seq 1 180); do [ "$(curl -s --max-time 10 --cacert /var/lib/kubernetes/ca.crt https://127.0.0.1:6443/readyz)" = ok ] && exit 0; sleep 5; done; echo "kube-apiserver not ready after 15 minutes" >&2; exit 1';

/** Waits (up to 5 minutes) until the local etcd member answers over TLS. */
export const WAIT_ETCD_HEALTHY = `for i in $(seq 1 60); do ${ETCDCTL} --endpoints=https://127.0.0.1:2379 --dial-timeout=3s --command-timeout=5s endpoint health >/dev/null 2>&1 && exit 0; sleep 5; done; echo "etcd not healthy after 5 minutes" >&2; exit 1`;
