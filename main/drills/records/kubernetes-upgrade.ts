import type { DrillAction, DrillEnv, DrillProbe, Exercise } from '../drill-types.ts';
import { kubernetesUpgradeTarget } from '../../spec/cluster-spec.ts';
import { ADMIN_KUBECTL, controller, controllers, kubernetesDir, WAIT_APISERVER_READY, worker, workers } from '../lab-terms.ts';

const CONTROL_PLANE_UNITS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
const WORKER_UNITS = ['kubelet', 'kube-proxy'];
/** Where the LB writes one line per request it sends the API: "<epoch seconds> <HTTP status>". */
const AVAILABILITY_LOG = '/var/log/hardway-api-availability.log';
const AVAILABILITY_UNIT = 'hardway-api-availability';
const HAPROXY = (command: string) => `echo '${command}' | socat stdio /run/haproxy/admin.sock`;

const LB = (env: DrillEnv) => env.plan.nodes.find((n) => n.role === 'lb')!.name;
const first = controller(0);
const turn = (env: DrillEnv) => env.vars.node!;
const to = (env: DrillEnv) => env.vars.to!;
const from = (env: DrillEnv) => env.vars.from!;

/**
 * What a node runs, one line per unit: "<unit> <version of the binary on disk> <the running
 * process's executable>". A binary replaced under a running process shows as "... (deleted)".
 */
const RUNNING = (units: string[]) =>
  `for u in ${units.join(' ')}; do pid=$(systemctl show -p MainPID --value $u); exe=$(readlink /proc/$pid/exe 2>/dev/null | tr ' ' '_'); v=$(/usr/local/bin/$u --version 2>/dev/null | awk '{print $2}'); echo "$u \${v:-none} \${exe:-not-running}"; done`;

/** Also reported by the controllers: kubectl's client version, and what their API server says it runs. */
const CONTROLLER_EXTRAS =
  `; echo "kubectl $(kubectl version --client 2>/dev/null | awk '/Client Version/ {print $3}') -"` +
  `; echo "api-version $(curl -s --max-time 20 --cacert /var/lib/kubernetes/ca.crt https://127.0.0.1:6443/version | grep -o '"gitVersion": *"[^"]*"' | cut -d'"' -f4) -"`;

function runsRelease(env: DrillEnv, node: string, units: string[], extras: { names: string[]; command: string } = { names: [], command: '' }): DrillProbe {
  return {
    name: `runs ${units.join(', ')} v${to(env)}`,
    node,
    command: `${RUNNING(units)}${extras.command}`,
    expected: `each unit started from /usr/local/bin/<unit>, which reports v${to(env)}`,
    judge: (r) => {
      const lines = r.stdout.trim().split('\n').filter(Boolean);
      const named = (name: string) => lines.find((l) => l.split(' ')[0] === name) ?? `${name} none not-running`;
      const wrong = [...units, ...extras.names].map(named).filter((l) => {
        const [unit, version, exe] = l.split(' ');
        return version !== `v${to(env)}` || (units.includes(unit!) && exe !== `/usr/local/bin/${unit}`);
      });
      const seen = wrong.map((l) => {
        const [unit, version, exe] = l.split(' ');
        if (exe === 'not-running') return units.includes(unit!) ? `${unit} is not running` : `no ${unit}`;
        if (exe?.endsWith('_(deleted)')) return `${unit} still runs the binary that was replaced on disk (not restarted)`;
        return `${unit} ${version}`;
      });
      return { ok: r.code === 0 && wrong.length === 0, seen: seen.length ? seen.join('; ') : `all at v${to(env)}` };
    },
    hint: `install the binaries from ${kubernetesDir(to(env))}/ into /usr/local/bin/ and restart the units: a replaced binary only runs once its unit restarts`,
  };
}

const controlPlaneProbes = (env: DrillEnv): DrillProbe[] =>
  controllers(env).map((c) => runsRelease(env, c, CONTROL_PLANE_UNITS, { names: ['kubectl', 'api-version'], command: CONTROLLER_EXTRAS }));

const nodesProbe: DrillProbe = {
  name: 'every node is Ready, schedulable and at the new kubelet version',
  node: first,
  command: `${ADMIN_KUBECTL} get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.spec.unschedulable} {.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}' 2>&1`,
  expected: 'each worker: v<new> Ready, not cordoned',
  judge: (r, env) => {
    const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' '));
    const wrong = rows.filter(([, version, unschedulable, ready]) => version !== `v${to(env)}` || unschedulable === 'true' || ready !== 'True');
    const missing = workers(env).filter((w) => !rows.some(([name]) => name === w));
    const ok = r.code === 0 && missing.length === 0 && wrong.length === 0;
    return { ok, seen: ok ? `${rows.length} nodes at v${to(env)}, Ready` : [...missing.map((m) => `${m} missing`), ...wrong.map((w) => w.join(' '))].join('; ') || r.stdout.trim().slice(0, 160) };
  },
  hint: 'drain the worker, install kubelet and kube-proxy, restart both, wait for Ready, uncordon: then the next worker',
};

/** Requests the LB sent, how many failed and the longest stretch without an answer, from its log. */
export function availabilityReport(log: string): { requests: number; failed: number; percent: number; longestOutageSeconds: number; minutes: number } {
  const samples = log
    .trim()
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter((p) => p.length === 2 && /^\d+$/.test(p[0]!))
    .map(([t, code]) => ({ t: Number(t), ok: code === '200' }));
  let failed = 0;
  let longest = 0;
  let lastOk = samples[0]?.t ?? 0;
  let inOutage = false;
  for (const s of samples) {
    if (s.ok) {
      if (inOutage) longest = Math.max(longest, s.t - lastOk);
      lastOk = s.t;
      inOutage = false;
    } else {
      failed++;
      inOutage = true;
    }
  }
  if (inOutage) longest = Math.max(longest, (samples.at(-1)?.t ?? lastOk) - lastOk);
  const requests = samples.length;
  const minutes = requests ? (samples.at(-1)!.t - samples[0]!.t) / 60 : 0;
  return { requests, failed, percent: requests ? (100 * (requests - failed)) / requests : 0, longestOutageSeconds: longest, minutes };
}

const availabilityProbe: DrillProbe = {
  name: 'the API answered through the load balancer all along',
  node: LB,
  command: `systemctl is-active ${AVAILABILITY_UNIT} >/dev/null || echo "not-measuring 0"; cat ${AVAILABILITY_LOG}`,
  expected: 'every request the LB sent the API since the start answered 200',
  judge: (r) => {
    if (r.stdout.includes('not-measuring')) return { ok: false, seen: `the measurement (${AVAILABILITY_UNIT} on the LB) stopped` };
    const a = availabilityReport(r.stdout);
    const ok = a.requests > 0 && a.failed === 0;
    return { ok, seen: `${a.requests} requests over ${a.minutes.toFixed(1)} min: ${a.failed} failed (${a.percent.toFixed(2)}% available, longest outage ${a.longestOutageSeconds} s)` };
  },
  hint: 'an API server that restarts while the LB still sends it requests drops them until its health check fails (up to 20 s): put it in maintenance on the LB first (`set server kube-apiservers/NODE state maint` on the admin socket) and back to ready once /readyz says ok',
};

/** One controller's turn: out of the LB, the new binaries, restarted, ready, back in the LB. */
const upgradeController = (version: (env: DrillEnv) => string): DrillAction[] => [
  { kind: 'run', node: LB, command: (env) => HAPROXY(`set server kube-apiservers/${turn(env)} state maint`), why: 'no new requests go to it while it restarts' },
  {
    kind: 'run',
    node: turn,
    command: (env) =>
      `cd ${kubernetesDir(version(env))} && install -m 0755 kube-apiserver kube-controller-manager kube-scheduler kubectl /usr/local/bin/ && systemctl restart kube-apiserver && (${WAIT_APISERVER_READY}) && systemctl restart kube-controller-manager kube-scheduler`,
    why: 'the API server first; the controller manager and scheduler once it is ready',
  },
  {
    kind: 'run',
    node: LB,
    command: (env) =>
      `${HAPROXY(`set server kube-apiservers/${turn(env)} state ready`)} && for i in $(seq 1 60); do ${HAPROXY('show stat')} | awk -F, '$1=="kube-apiservers" && $2=="${turn(env)}" {print $18}' | grep -qx UP && exit 0; sleep 2; done; echo "${turn(env)} is not UP on the LB after 2 minutes" >&2; exit 1`,
    why: 'back in the pool once its health check passes, before the next one goes out',
  },
];

/** One worker's turn: drained, the new kubelet and kube-proxy, Ready at the new version, uncordoned. */
const upgradeWorker = (version: (env: DrillEnv) => string): DrillAction[] => [
  { kind: 'kubectl', args: (env) => `drain ${turn(env)} --ignore-daemonsets --delete-emptydir-data --force --timeout=600s`, why: 'its pods move to the other nodes (the bare dns-probe pod is deleted)' },
  { kind: 'run', node: turn, command: (env) => `cd ${kubernetesDir(version(env))} && install -m 0755 kubelet kube-proxy /usr/local/bin/ && systemctl restart kubelet kube-proxy` },
  {
    kind: 'kubectl',
    args: (env) =>
      `get node ${turn(env)} >/dev/null && for i in $(seq 1 120); do [ "$(ADMIN get node ${turn(env)} -o jsonpath='{.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}')" = "v${version(env)} True" ] && ADMIN uncordon ${turn(env)} && exit 0; sleep 5; done; exit 1`,
    why: 'Ready at the new version, then it takes pods again',
  },
];

export const kubernetesUpgrade: Exercise = {
  kind: 'exercise',
  id: 'kubernetes-upgrade',
  title: 'Upgrade Kubernetes to the next minor release',
  teaches: 'the upgrade order (the control plane first, then the kubelets: never newer than the API server), one node at a time, and keeping the API up behind the load balancer while each API server restarts',
  story: (env) =>
    `Kubernetes ${from(env)} is getting old: take this cluster to ${to(env)}. Users keep working through the load balancer the whole time, and the lab measures whether the API ever stopped answering. The ${to(env)} binaries are waiting in ${kubernetesDir(to(env))}/ on every node.`,
  needs: { steps: ['load-balancer', 'control-plane', 'workers', 'coredns', 'smoke-test'], lb: true, controllers: 2, workers: 1 },
  values: (env) => {
    const target = kubernetesUpgradeTarget(env.spec.versions.kubernetes);
    if (!target) throw new Error(`the lab runs Kubernetes ${env.spec.versions.kubernetes}, which has no upgrade target in this version of Hardway Lab\n  what to do: use a lab at one of the releases in KUBERNETES_UPGRADES (main/spec/cluster-spec.ts)`);
    return { from: env.spec.versions.kubernetes, to: target };
  },
  setup: [
    { kind: 'stage-kubernetes', version: to },
    {
      kind: 'run',
      node: LB,
      command: (env) =>
        `systemctl stop ${AVAILABILITY_UNIT} 2>/dev/null; rm -f ${AVAILABILITY_LOG}; systemd-run --unit=${AVAILABILITY_UNIT} --collect /bin/sh -c 'while :; do c=$(curl -sk -o /dev/null -w "%{http_code}" --max-time 10 ${env.plan.apiEndpoint.url}/readyz); echo "$(date +%s) $c" >> ${AVAILABILITY_LOG}; sleep 1; done' >/dev/null`,
      why: 'asks the API through the LB every second until the exercise ends (-k: it only measures whether the API answers)',
    },
  ],
  stages: [
    {
      title: 'Upgrade the control plane, one controller at a time',
      task: (env) =>
        `On ${controllers(env).join(', then ')}: install kube-apiserver, kube-controller-manager, kube-scheduler and kubectl from ${kubernetesDir(to(env))}/ into /usr/local/bin/, restart the API server, and when its /readyz says ok restart the other two. ` +
        'Take each API server out of the load balancer while it restarts (the admin socket on the LB), and put it back before the next one.',
      probes: controlPlaneProbes,
      reference: [{ kind: 'one-at-a-time', each: 'controller', actions: upgradeController(to) }],
    },
    {
      title: 'Upgrade the workers, one at a time',
      task: (env) =>
        `The API servers run ${to(env)}; now the kubelets may follow. For ${workers(env).join(', then ')}: \`kubectl drain\`, install kubelet and kube-proxy from ${kubernetesDir(to(env))}/, restart both, wait until the node is Ready at v${to(env)}, \`kubectl uncordon\`.`,
      probes: (env) => [...workers(env).map((w) => runsRelease(env, w, WORKER_UNITS)), nodesProbe],
      reference: [{ kind: 'one-at-a-time', each: 'worker', actions: upgradeWorker(to) }],
    },
    {
      title: 'Record the new version and check the whole cluster',
      task: (env) =>
        `Set \`versions.kubernetes: ${to(env)}\` in the lab's hardway-lab.yaml: the checkers expect the spec's version, and the lab's files follow it (containerd's sandbox image is the new release's pause). ` +
        'Then `hardway-lab up`: it re-runs the steps whose checkers now fail (the workers get the new containerd config and images; the dns-probe pod that a drain deleted comes back), and every checker must pass.',
      steps: ['control-plane', 'workers', 'admin-access', 'coredns', 'smoke-test'],
      probes: [availabilityProbe],
      reference: [
        { kind: 'spec-version', kubernetes: to },
        { kind: 'step', step: 'workers', why: 'containerd\'s config with the new pause image, and the images of the new release' },
        { kind: 'step', step: 'coredns', why: 'the bare dns-probe pod that a drain deleted, applied again' },
      ],
    },
  ],
  hints: [
    (env) => `Version skew: a kubelet may be older than the API server, never newer. So the controllers go first, all of them, then the workers. \`kube-apiserver --version\` on ${first(env)} shows what is on disk; \`curl -sk https://127.0.0.1:6443/version\` what runs.`,
    (env) => `On ${LB(env)}: \`echo 'set server kube-apiservers/${first(env)} state maint' | socat stdio /run/haproxy/admin.sock\` takes it out of the pool; \`state ready\` puts it back, and \`show stat\` says when it is UP again. Restart only one API server at a time.`,
    (env) =>
      `For each controller: maint on the LB, \`cd ${kubernetesDir(to(env))} && install -m 0755 kube-apiserver kube-controller-manager kube-scheduler kubectl /usr/local/bin/ && systemctl restart kube-apiserver\`, wait for /readyz, restart the other two, ready on the LB. For each worker: \`kubectl drain ${worker(0)(env)} --ignore-daemonsets --delete-emptydir-data --force\`, install kubelet and kube-proxy, restart them, \`kubectl uncordon\`.`,
  ],
  undo: [
    { kind: 'stage-kubernetes', version: from, why: 'Kubernetes does not support downgrades in general; a snapshot (drill start without --no-snapshot) is the safe way back' },
    { kind: 'one-at-a-time', each: 'controller', actions: upgradeController(from) },
    { kind: 'one-at-a-time', each: 'worker', actions: upgradeWorker(from) },
    { kind: 'spec-version', kubernetes: from },
    { kind: 'step', step: 'workers' },
    { kind: 'step', step: 'coredns' },
  ],
  cleanup: [{ kind: 'run', node: LB, command: `systemctl stop ${AVAILABILITY_UNIT} 2>/dev/null; true`, why: 'the measurement ends with the exercise' }],
};
