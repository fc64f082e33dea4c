import type { DrillProbe, Exercise } from '../drill-types.ts';
import { ADMIN_KUBECTL, controller, ETCDCTL, ipOf, WAIT_APISERVER_READY, WAIT_ETCD_HEALTHY } from '../lab-terms.ts';

const first = controller(0);
const SNAPSHOT = '/root/etcd-backup.db';
const NAMESPACE = 'hwl-backup';
const LOCAL_ETCDCTL = `${ETCDCTL} --endpoints=https://127.0.0.1:2379 --dial-timeout=5s --command-timeout=30s`;
const CLUSTER_ID = `${LOCAL_ETCDCTL} endpoint status -w json | grep -o '"cluster_id":[0-9]*' | head -n 1 | cut -d: -f2`;
const CONTROL_PLANE = 'kube-apiserver kube-controller-manager kube-scheduler';

const snapshotValid: DrillProbe = {
  name: `${SNAPSHOT} is a valid etcd snapshot`,
  node: first,
  command: `etcdutl snapshot status ${SNAPSHOT} -w table 2>&1`,
  expected: 'etcdutl reads its hash, revision and keys',
  judge: (r) => ({ ok: r.code === 0 && /REVISION|HASH/i.test(r.stdout), seen: r.stdout.trim().split('\n').slice(-2).join(' ').replace(/\s+/g, ' ').slice(0, 160) }),
  hint: `\`etcdctl --endpoints=https://127.0.0.1:2379 <TLS flags> snapshot save ${SNAPSHOT}\` on the first controller`,
};

export const etcdBackupRestore: Exercise = {
  kind: 'exercise',
  id: 'etcd-backup-restore',
  title: 'etcd snapshot and restore',
  teaches: 'backing up the whole cluster state with one etcd snapshot, and restoring every member of a 3-member cluster from it',
  story: `Someone is about to delete the namespace ${NAMESPACE} by mistake. Take an etcd snapshot first, let it happen, then bring the cluster back to the snapshot, on every member, with the namespace back.`,
  needs: { steps: ['etcd', 'control-plane'], controllers: 1 },
  setup: [
    { kind: 'kubectl', args: `create namespace ${NAMESPACE} --dry-run=client -o yaml | ADMIN apply -f -` },
    { kind: 'kubectl', args: `-n ${NAMESPACE} create configmap precious --from-literal=kept=yes --dry-run=client -o yaml | ADMIN apply -f -` },
  ],
  capture: [{ name: 'clusterId', node: first, command: CLUSTER_ID }],
  stages: [
    {
      title: 'Save a snapshot, then lose the namespace',
      task: (env) =>
        `On ${first(env)}: \`${LOCAL_ETCDCTL.replace(' --dial-timeout=5s --command-timeout=30s', '')} snapshot save ${SNAPSHOT}\`, look at it with \`etcdutl snapshot status ${SNAPSHOT} -w table\`, then \`kubectl delete namespace ${NAMESPACE}\`.`,
      probes: [
        snapshotValid,
        {
          name: `namespace ${NAMESPACE} deleted`,
          node: first,
          command: `${ADMIN_KUBECTL} get namespace ${NAMESPACE} -o name 2>&1`,
          expected: 'NotFound',
          judge: (r) => ({ ok: /NotFound|not found/.test(r.stdout + r.stderr), seen: (r.stdout + r.stderr).trim().slice(0, 120) }),
          hint: `\`kubectl delete namespace ${NAMESPACE}\` (after the snapshot)`,
        },
      ],
      reference: [
        { kind: 'run', node: first, command: `${LOCAL_ETCDCTL} snapshot save ${SNAPSHOT} >/dev/null && etcdutl snapshot status ${SNAPSHOT} -w table` },
        { kind: 'kubectl', args: `delete namespace ${NAMESPACE} --wait=true --timeout=600s` },
      ],
    },
    {
      title: 'Restore every member from the snapshot',
      task: (env) =>
        `Stop the API servers (\`systemctl stop ${CONTROL_PLANE}\`) and etcd on every controller. Copy ${SNAPSHOT} to each one, and on each: ` +
        `\`etcdutl snapshot restore ${SNAPSHOT} --name $(hostname) --initial-cluster <the --initial-cluster of /etc/systemd/system/etcd.service> --initial-cluster-token hwl-restored --initial-advertise-peer-urls https://<its address>:2380 --data-dir /var/lib/etcd-restored\`, ` +
        `then move /var/lib/etcd away and /var/lib/etcd-restored in its place. Start etcd on every controller (they need each other), then the API servers, the first one alone until it is ready. ` +
        `Done when the namespace is back (\`kubectl get configmap -n ${NAMESPACE} precious\`) and \`etcdctl endpoint status\` shows a new cluster id (e.g. on ${first(env)}).`,
      steps: ['etcd', 'control-plane'],
      probes: [
        {
          name: `namespace ${NAMESPACE} is back, with its configmap`,
          node: first,
          command: `${ADMIN_KUBECTL} -n ${NAMESPACE} get configmap precious -o jsonpath='{.data.kept}' 2>&1`,
          expected: 'yes',
          judge: (r) => ({ ok: r.code === 0 && r.stdout.trim() === 'yes', seen: (r.stdout + r.stderr).trim().slice(0, 120) || 'nothing' }),
          hint: `the restored state has no ${NAMESPACE}: was the snapshot taken after the namespace existed? \`etcdutl snapshot status\` shows its revision; take a new one only while the namespace is there`,
        },
        {
          name: 'etcd was restored (a new cluster id)',
          node: first,
          command: CLUSTER_ID,
          expected: 'a cluster id other than the one before the exercise',
          judge: (r, env) => ({ ok: r.code === 0 && r.stdout.trim() !== '' && r.stdout.trim() !== env.vars.clusterId, seen: `${r.stdout.trim() || r.stderr.trim()} (before: ${env.vars.clusterId})` }),
          hint: 'a restore makes a new cluster (`etcdutl snapshot restore` with --initial-cluster-token): the members still run on their old data',
        },
      ],
      reference: [
        { kind: 'copy', from: first, path: SNAPSHOT, to: { each: 'controller' }, why: 'every member restores from the same snapshot' },
        { kind: 'run', node: { each: 'controller' }, command: `systemctl stop ${CONTROL_PLANE}` },
        { kind: 'run', node: { each: 'controller' }, command: 'systemctl stop etcd' },
        {
          kind: 'run',
          node: { each: 'controller' },
          command: (env) =>
            [
              `CLUSTER=$(grep -o -- '--initial-cluster=[^ ]*' /etc/systemd/system/etcd.service | cut -d= -f2-)`,
              'ADDR=$(grep -o -- "--initial-advertise-peer-urls=[^ ]*" /etc/systemd/system/etcd.service | cut -d= -f2-)',
              'rm -rf /var/lib/etcd-restored',
              `etcdutl snapshot restore ${SNAPSHOT} --name $(hostname) --initial-cluster "$CLUSTER" --initial-cluster-token hwl-restored-${env.vars.clusterId ?? 'x'} --initial-advertise-peer-urls "$ADDR" --data-dir /var/lib/etcd-restored`,
              'rm -rf /var/lib/etcd.before-restore && mv /var/lib/etcd /var/lib/etcd.before-restore && mv /var/lib/etcd-restored /var/lib/etcd && chmod 700 /var/lib/etcd',
            ].join(' && '),
        },
        { kind: 'run', node: { each: 'controller' }, command: 'systemctl start --no-block etcd' },
        { kind: 'run', node: { each: 'controller' }, command: WAIT_ETCD_HEALTHY },
        // One API server first: it bootstraps the RBAC roles alone, which three starting at once on
        // a slow host do not manage in time (they crash-loop); then the others.
        { kind: 'run', node: first, command: `systemctl start ${CONTROL_PLANE} && ${WAIT_APISERVER_READY}` },
        { kind: 'run', node: { each: 'controller' }, command: `systemctl start ${CONTROL_PLANE} && ${WAIT_APISERVER_READY}` },
      ],
    },
  ],
  hints: [
    'etcdctl needs the same TLS flags as everywhere in the lab: --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key.',
    'A restore never goes into a running member: stop the API servers (they would write), then etcd everywhere; `etcdutl snapshot restore` writes a fresh data dir per member, each with its own --name and peer URL, all with the same --initial-cluster and a new --initial-cluster-token.',
    (env) => `The members' names and peer URLs are in /etc/systemd/system/etcd.service (--name, --initial-advertise-peer-urls, --initial-cluster); e.g. ${first(env)} is https://${ipOf(env, first(env))}:2380. Start etcd on all members before waiting for any of them: one alone has no quorum.`,
  ],
  cleanup: [{ kind: 'kubectl', args: `delete namespace ${NAMESPACE} --ignore-not-found --wait=false` }],
};
