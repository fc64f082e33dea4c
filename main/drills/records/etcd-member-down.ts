import type { Drill } from '../drill-types.ts';
import { controller, ETCDCTL, etcdEndpoints, WAIT_ETCD_HEALTHY } from '../lab-terms.ts';

const down = controller(2);

export const etcdMemberDown: Drill = {
  kind: 'drill',
  id: 'etcd-member-down',
  title: 'One etcd member down',
  teaches: 'quorum: a 3-member etcd keeps taking writes with one member gone (and why 2 members would not)',
  story: (env) =>
    `The monitoring says the etcd member on ${down(env)} is down. Before you touch it: does the cluster still take writes? ` +
    'Prove it with etcdctl (a put and a get against the other members), then bring the member back.',
  needs: { steps: ['etcd'], controllers: 3 },
  fault: [{ kind: 'run', node: down, command: 'systemctl stop etcd' }],
  checks: [{ step: 'etcd', node: down, probe: /^etcd unit active$/ }],
  symptoms: [
    {
      name: 'quorum holds: a write through the other members succeeds',
      node: controller(0),
      command: (env) => `${ETCDCTL} --endpoints=${etcdEndpoints(env)} --dial-timeout=3s --command-timeout=15s put /hardway-drill/quorum "written with one member down" 2>&1`,
      expected: 'OK',
      judge: (r) => ({ ok: r.code === 0 && /OK/.test(r.stdout), seen: r.stdout.trim().slice(-160) }),
      hint: 'two members of three are a majority: the write must succeed',
    },
  ],
  hints: [
    (env) => `Count the members that answer: \`etcdctl --endpoints=${etcdEndpoints(env)} ... endpoint health\` (the TLS flags are in the etcd step). How many of the three are healthy, and how many does a quorum need?`,
    'Prove the cluster still writes: `etcdctl ... put /hardway-drill/quorum ok`, then `etcdctl ... get /hardway-drill/quorum`. With 2 of 3 members a majority remains; with a 2-member cluster one failure would already stop all writes.',
    (env) => `On ${down(env)}: \`systemctl status etcd\` says why it is down; \`systemctl start etcd\` brings it back, and it catches up from the leader.`,
  ],
  fix: [{ kind: 'run', node: down, command: `systemctl start etcd && ${WAIT_ETCD_HEALTHY}` }],
  cleanup: [{ kind: 'run', node: controller(0), command: (env) => `${ETCDCTL} --endpoints=${etcdEndpoints(env)} del /hardway-drill/quorum >/dev/null` }],
};
