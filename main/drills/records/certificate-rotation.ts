import { X509Certificate } from 'node:crypto';
import type { DrillEnv, DrillProbe, Exercise } from '../drill-types.ts';
import { readPkiFile } from '../../pki/pki-files.ts';
import { controller, controllers, ipOf, worker, workers } from '../lab-terms.ts';

const LB = (env: DrillEnv) => env.plan.nodes.find((n) => n.role === 'lb')!.name;
/** The serial each address serves on a port, one "IP SERIAL" line each (asked from the LB, which reaches every node). */
const servedSerials = (port: number, nodes: (env: DrillEnv) => string[]) => (env: DrillEnv) =>
  nodes(env)
    .map((n) => ipOf(env, n))
    .map((ip) => `echo "${ip} $(timeout 20 openssl s_client -connect ${ip}:${port} </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null | cut -d= -f2)"`)
    .join('; ');
/** UP→DOWN transitions (haproxy's chkdown) summed over the API servers, and their states. */
const LB_STATS = `echo 'show stat' | socat stdio /run/haproxy/admin.sock | awk -F, '$1=="kube-apiservers" && $2!="BACKEND" && $2!="FRONTEND" {downs+=$23; states=states" "$2"="$18} END {print downs+0 states}'`;
const CERT_SERIAL = (path: string) => `openssl x509 -in ${path} -noout -serial | cut -d= -f2`;

const normal = (serial: string) => serial.trim().toUpperCase().replace(/^0+/, '');

function labSerial(env: DrillEnv, id: string): string {
  return normal(new X509Certificate(readPkiFile(env.paths, id, 'crt')).serialNumber);
}

/** Every node serves the lab's current certificate, and none the one it had when the exercise started. */
function servesRenewed(name: string, port: number, nodes: (env: DrillEnv) => string[], id: (node: string) => string, before: (env: DrillEnv, node: string) => string | undefined): DrillProbe {
  return {
    name,
    node: LB,
    command: servedSerials(port, nodes),
    expected: 'each node serves the certificate now in the lab\'s pki/, not the one it had at the start',
    judge: (r, env) => {
      const served = new Map(r.stdout.trim().split('\n').map((l) => l.trim().split(' ') as [string, string | undefined]));
      const wrong = nodes(env).filter((n) => {
        const serial = normal(served.get(ipOf(env, n)) ?? '');
        return !serial || serial !== labSerial(env, id(n)) || serial === normal(before(env, n) ?? '');
      });
      return { ok: wrong.length === 0, seen: wrong.length ? `not yet on ${wrong.join(', ')}` : `renewed on ${nodes(env).join(', ')}` };
    },
    hint: 'renew first (`hardway-lab pki --renew ...`), then copy the new files to each node; `openssl s_client -connect IP:PORT </dev/null | openssl x509 -noout -serial` shows what a node serves',
  };
}

const noDowntime: DrillProbe = {
  name: 'no API server left the load balancer',
  node: LB,
  command: LB_STATS,
  expected: 'haproxy counted no UP→DOWN transition since the start, every API server UP',
  judge: (r, env) => {
    const [downs, ...states] = r.stdout.trim().split(/\s+/);
    const ok = Number(downs) === Number(env.vars.lbDowns) && states.length > 0 && states.every((s) => s.endsWith('=UP'));
    return { ok, seen: `${Number(downs) - Number(env.vars.lbDowns)} transitions to DOWN since the start; ${states.join(', ')}` };
  },
  hint: 'an API server was taken out of the pool (restarted, or its new files did not match): rotate one node at a time, and the API server needs no restart at all (it reloads its serving certificate from disk)',
};

export const certificateRotation: Exercise = {
  kind: 'exercise',
  id: 'certificate-rotation',
  title: 'Certificate rotation without downtime',
  teaches: 'renewing the serving certificates of the API servers and the kubelets, one node at a time, while the API stays up behind the load balancer',
  story: 'The API server and kubelet certificates are due for renewal. Renew them with the lab\'s CA and put them in place so that no client notices: the load balancer must never lose an API server.',
  needs: { steps: ['certificates', 'control-plane', 'load-balancer', 'workers'], controllers: 1, workers: 1 },
  setup: [],
  capture: [
    { name: 'apiserverSerials', node: LB, command: servedSerials(6443, controllers) },
    { name: 'kubeletSerials', node: LB, command: servedSerials(10250, workers) },
    { name: 'lbDowns', node: LB, command: `${LB_STATS} | cut -d' ' -f1` },
  ],
  stages: [
    {
      title: 'Renew the API servers\' certificate',
      task: (env) =>
        `\`hardway-lab pki --renew kube-apiserver\` (new key, same CA), then copy pki/kube-apiserver.crt and .key to /var/lib/kubernetes/ on ${controllers(env).join(', then ')}, one at a time. ` +
        'Do not restart anything: watch each API server pick the new certificate up (`openssl s_client -connect IP:6443 </dev/null | openssl x509 -noout -serial`).',
      steps: ['certificates'],
      probes: [
        servesRenewed('every API server serves the renewed certificate', 6443, controllers, () => 'kube-apiserver', (env, node) => serialOf(env.vars.apiserverSerials, ipOf(env, node))),
        noDowntime,
      ],
      reference: [
        { kind: 'renew-cert', cert: 'kube-apiserver' },
        {
          kind: 'lab-cert',
          node: { each: 'controller' },
          cert: 'kube-apiserver',
          then: 'for i in $(seq 1 36); do [ "$(openssl s_client -connect 127.0.0.1:6443 </dev/null 2>/dev/null | openssl x509 -noout -serial)" = "$(openssl x509 -in /var/lib/kubernetes/kube-apiserver.crt -noout -serial)" ] && exit 0; sleep 5; done; echo "the API server still serves its old certificate after 3 minutes" >&2; exit 1',
          why: 'the API server reloads its serving certificate from disk: no restart',
        },
      ],
    },
    {
      title: 'Renew the kubelets\' certificates',
      task: (env) =>
        `\`hardway-lab pki --renew ${workers(env).map((w) => `kubelet-${w}`).join(',')} && hardway-lab render\`: a kubelet's certificate is also its client identity, embedded in /var/lib/kubelet/kubeconfig. ` +
        `On ${workers(env).join(', then on ')}: copy its new kubelet.crt and .key to /var/lib/kubelet/ and its kubeconfig (nodes/NODE/var/lib/kubelet/kubeconfig), \`systemctl restart kubelet\` (it reads them at start), and wait for the node to be Ready before the next; \`hardway-lab up --step certificates\` and \`--step kubeconfigs\` do the copying.`,
      steps: ['certificates', 'kubeconfigs', 'admin-access'],
      probes: [
        servesRenewed('every kubelet serves its renewed certificate', 10250, workers, (node) => `kubelet-${node}`, (env, node) => serialOf(env.vars.kubeletSerials, ipOf(env, node))),
        noDowntime,
      ],
      reference: [
        { kind: 'renew-cert', cert: '{each-worker}' },
        { kind: 'step', step: 'certificates', why: 'copies each worker\'s new kubelet.crt and .key, restarts its kubelet' },
        { kind: 'step', step: 'kubeconfigs', why: 'copies each kubelet\'s kubeconfig with its new client certificate' },
        {
          kind: 'run',
          node: { each: 'worker' },
          command: 'systemctl restart kubelet && for i in $(seq 1 36); do [ "$(timeout 10 openssl s_client -connect 127.0.0.1:10250 </dev/null 2>/dev/null | openssl x509 -noout -serial)" = "$(openssl x509 -in /var/lib/kubelet/kubelet.crt -noout -serial)" ] && exit 0; sleep 5; done; exit 1',
          why: 'the kubelet reads both at start',
        },
      ],
    },
  ],
  hints: [
    (env) => `Look before you change: \`${CERT_SERIAL('/var/lib/kubernetes/kube-apiserver.crt')}\` on ${controller(0)(env)}, and what it serves: \`openssl s_client -connect ${ipOf(env, controller(0)(env))}:6443 </dev/null | openssl x509 -noout -serial\`.`,
    'The API server watches its --tls-cert-file and --tls-private-key-file and reloads them within a minute: copying the files is the whole rotation, one controller at a time. A restart would take it out of the load balancer until /readyz answers again.',
    (env) =>
      `The kubelet reads its serving certificate at start: copy, \`systemctl restart kubelet\`, wait for \`kubectl get node ${worker(0)(env)}\` to say Ready, then the next worker. \`echo 'show stat' | socat stdio /run/haproxy/admin.sock\` on the LB shows whether an API server ever went DOWN (column chkdown).`,
  ],
};

function serialOf(lines: string | undefined, ip: string): string | undefined {
  return (lines ?? '').split('\n').map((l) => l.trim().split(' ')).find(([a]) => a === ip)?.[1];
}
