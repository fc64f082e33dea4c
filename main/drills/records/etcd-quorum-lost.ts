import type { Drill } from '../drill-types.ts';
import { controller, ETCDCTL, WAIT_APISERVER_READY, WAIT_ETCD_HEALTHY } from '../lab-terms.ts';

const LOCAL = `${ETCDCTL} --endpoints=https://127.0.0.1:2379 --dial-timeout=3s`;

export const etcdQuorumLost: Drill = {
  kind: 'drill',
  id: 'etcd-quorum-lost',
  title: 'Two etcd members down: quorum lost',
  teaches: 'what losing quorum means: no leader, no writes, no linearizable reads, while a serializable read still answers (possibly stale)',
  story: (env) =>
    `kubectl hangs and times out on every controller. Yet on ${controller(0)(env)}, \`etcdctl get\` of an old key still answers when asked with --consistency=s. ` +
    'Why can it read but not write, and what brings the cluster back?',
  needs: { steps: ['etcd', 'control-plane'], controllers: 3 },
  fault: [
    { kind: 'run', node: controller(1), command: 'systemctl stop etcd' },
    { kind: 'run', node: controller(2), command: 'systemctl stop etcd' },
  ],
  checks: [
    { step: 'etcd', node: controller(1), probe: /^etcd unit active$/ },
    { step: 'etcd', node: controller(2), probe: /^etcd unit active$/ },
  ],
  symptoms: [
    {
      name: 'writes fail: no quorum, no leader',
      node: controller(0),
      command: `timeout 40 ${LOCAL} --command-timeout=10s put /hardway-drill/no-quorum "never written" 2>&1; echo " rc=$?"`,
      expected: 'the put fails (context deadline exceeded)',
      judge: (r) => ({ ok: !/rc=0\b/.test(r.stdout), seen: (/Error: .*/.exec(r.stdout)?.[0] ?? r.stdout.trim()).slice(0, 160) }),
      hint: 'with one member of three there is no majority: a write cannot be committed',
    },
    {
      name: 'a serializable read still answers from the local copy',
      node: controller(0),
      command: `timeout 40 ${LOCAL} --command-timeout=10s get /registry/namespaces/default --keys-only --consistency=s 2>&1; echo " rc=$?"`,
      expected: '/registry/namespaces/default (read without asking the leader; it may be stale)',
      judge: (r) => ({ ok: /\/registry\/namespaces\/default/.test(r.stdout) && /rc=0\b/.test(r.stdout), seen: r.stdout.trim().slice(-160) }),
      hint: 'a serializable read is served by the member itself, quorum or not',
    },
  ],
  hints: [
    (env) => `Ask etcd, not kubectl: \`etcdctl ... endpoint health\` and \`endpoint status -w table\` against every member from ${controller(0)(env)}. How many answer? Is there a leader?`,
    'One member of three is no majority: without a leader nothing can be written and linearizable reads (the default) wait for one. `--consistency=s` reads the local copy without the leader, and may be stale. This is also why 2 members are worse than 1: with 2, losing either one stops the cluster.',
    (env) => `Start etcd on ${controller(1)(env)} and ${controller(2)(env)} (\`systemctl start etcd\`): as soon as two members talk they elect a leader, and the API servers recover on their own.`,
  ],
  fix: [
    { kind: 'run', node: controller(1), command: 'systemctl start --no-block etcd' },
    { kind: 'run', node: controller(2), command: 'systemctl start --no-block etcd' },
    { kind: 'run', node: controller(1), command: WAIT_ETCD_HEALTHY },
    { kind: 'run', node: controller(2), command: WAIT_ETCD_HEALTHY },
    { kind: 'run', node: controller(0), command: WAIT_APISERVER_READY },
  ],
  showsWithinSeconds: 60,
};
