import type { Drill } from '../drill-types.ts';
import { controller, WAIT_APISERVER_READY } from '../lab-terms.ts';

const node = controller(0);
const UNIT = '/etc/systemd/system/kube-apiserver.service';

export const encryptionConfigMissing: Drill = {
  kind: 'drill',
  id: 'encryption-config-missing',
  title: 'The encryption config missing on one controller',
  teaches:
    'encryption at rest is done by each API server with its own config: one started without it cannot read the encrypted secrets (and, with none yet, would write new ones in plain text)',
  story: (env) =>
    `After a configuration-management run this morning, the API server on ${node(env)} starts but never becomes ready, and the load balancer marks it DOWN; the other controllers are fine. ` +
    'Its log repeats "identity transformer tried to read encrypted data".',
  needs: { steps: ['encryption-config', 'control-plane', 'load-balancer'], controllers: 2 },
  fault: [
    {
      kind: 'kubectl',
      node: controller(1),
      args: 'create secret generic hardway-drill-encrypted --from-literal=password=kept --dry-run=client -o yaml | ADMIN apply -f -',
      why: 'a secret stored encrypted (written through a healthy API server)',
    },
    {
      kind: 'run',
      node,
      command: `sed -i '/--encryption-provider-config=/d' ${UNIT} && systemctl daemon-reload && systemctl restart kube-apiserver`,
      why: 'the unit as an older recipe wrote it, without the flag',
    },
  ],
  checks: [
    { step: 'control-plane', node, probe: /^kube-apiserver encrypts secrets$/ },
    { step: 'control-plane', node, probe: /^\/readyz$/ },
  ],
  symptoms: [
    {
      name: 'it cannot read the encrypted secrets',
      node,
      command: "journalctl -u kube-apiserver --since '-10min' --no-pager 2>/dev/null | grep -c 'identity transformer tried to read encrypted data'; true",
      expected: 'kube-apiserver logs "identity transformer tried to read encrypted data"',
      judge: (r) => ({ ok: Number(r.stdout.trim().split('\n').at(-1)) > 0, seen: `${r.stdout.trim().split('\n').at(-1)} such lines in the last 10 minutes` }),
      hint: 'the API server has not tried to read a secret yet; wait a little',
    },
  ],
  hints: [
    "Ask it what is not ready: `curl -s --cacert /var/lib/kubernetes/ca.crt 'https://127.0.0.1:6443/readyz?verbose' | grep -v '+'` on that controller. Which informer never syncs, and what can it not read?",
    'Secrets are encrypted at rest by the API server that writes them, and only an API server with the same key can read them back. Compare the running flags on each controller: `tr "\\0" "\\n" < /proc/$(pidof kube-apiserver)/cmdline | grep encryption`.',
    (env) =>
      `On ${node(env)}: put --encryption-provider-config=/var/lib/kubernetes/encryption-config.yaml back into ${UNIT} (the lab's rendered unit is nodes/${node(env)}${UNIT} in the lab directory, or \`hardway-lab up --step control-plane\`), then \`systemctl daemon-reload && systemctl restart kube-apiserver\`.`,
  ],
  fix: [{ kind: 'lab-file', node, path: UNIT, then: `systemctl daemon-reload && systemctl restart kube-apiserver && ${WAIT_APISERVER_READY}` }],
  cleanup: [{ kind: 'kubectl', node: controller(1), args: 'delete secret hardway-drill-encrypted --ignore-not-found' }],
  showsWithinSeconds: 120,
};
