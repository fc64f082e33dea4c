import type { Drill } from '../drill-types.ts';
import { worker } from '../lab-terms.ts';

const node = worker(0);

export const kubeProxyStopped: Drill = {
  kind: 'drill',
  id: 'kube-proxy-stopped',
  title: 'kube-proxy stopped, its rules gone',
  teaches: 'what kube-proxy does: it writes the iptables rules that turn a service or NodePort address into a pod\'s',
  story: (env) => `After maintenance on ${node(env)}, the nginx NodePort (:30080) there stopped answering. The nginx pod is Running and answers on its pod IP.`,
  needs: { steps: ['workers', 'smoke-test'], workers: 1 },
  fault: [{ kind: 'run', node, command: 'systemctl stop kube-proxy; kube-proxy --cleanup >/dev/null 2>&1; true', why: 'what a reboot with kube-proxy disabled leaves: no service rules at all' }],
  checks: [
    { step: 'smoke-test', node, probe: /^NodePort reachable$/ },
    { step: 'workers', node, probe: /^kube-proxy active$/ },
  ],
  symptoms: [
    {
      name: 'no NodePort rules in the nat table',
      node,
      command: 'iptables -t nat -S KUBE-NODEPORTS 2>&1 | grep -c -- "-A KUBE-NODEPORTS" ; true',
      expected: '0 rules in KUBE-NODEPORTS',
      judge: (r) => ({ ok: r.stdout.trim().split('\n').at(-1) === '0', seen: `${r.stdout.trim().split('\n').at(-1)} rules` }),
      hint: 'kube-proxy still writes its rules',
    },
  ],
  hints: [
    (env) => `What turns :30080 into the pod's address? \`iptables -t nat -S KUBE-NODEPORTS\` and \`iptables -t nat -S KUBE-SERVICES\` on ${node(env)}.`,
    (env) => `Those chains are written, and kept up to date, by kube-proxy: \`systemctl status kube-proxy\` on ${node(env)}.`,
    (env) => `\`systemctl start kube-proxy\` on ${node(env)} (and \`systemctl enable kube-proxy\` if it is disabled): it writes every service's rules again within seconds.`,
  ],
  fix: [{ kind: 'run', node, command: 'systemctl start kube-proxy && sleep 10' }],
};
