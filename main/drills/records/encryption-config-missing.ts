import type { Drill } from '../drill-types.ts';
import { controller, ETCDCTL, WAIT_APISERVER_READY } from '../lab-terms.ts';

const node = controller(0);
const UNIT = '/etc/systemd/system/kube-apiserver.service';

export const encryptionConfigMissing: Drill = {
  kind: 'drill',
  id: 'encryption-config-missing',
  title: 'The encryption config missing on one controller',
  teaches: 'encryption at rest is done by whichever API server handles the write: one server without its config writes plain text into etcd',
  story: 'An auditor read etcd directly and found a secret written today in plain text, while older secrets start with k8s:enc:aescbc:v1:key1. Which API server wrote it, why, and how do you get every secret encrypted again?',
  needs: { steps: ['encryption-config', 'control-plane'], controllers: 1 },
  fault: [
    {
      kind: 'run',
      node,
      command: `sed -i '/--encryption-provider-config=/d' ${UNIT} && systemctl daemon-reload && systemctl restart kube-apiserver && ${WAIT_APISERVER_READY}`,
      why: 'the unit written by an older recipe that did not know the flag',
    },
    { kind: 'kubectl', node, args: 'create secret generic hardway-drill-plain --from-literal=password=plain --dry-run=client -o yaml | ADMIN apply -f -', why: 'a secret written through that API server' },
  ],
  checks: [{ step: 'control-plane', node, probe: /^kube-apiserver encrypts secrets$/ }],
  symptoms: [
    {
      name: 'the new secret is plain text in etcd',
      node,
      command: `${ETCDCTL} --endpoints=https://127.0.0.1:2379 get /registry/secrets/default/hardway-drill-plain --print-value-only | head -c 24 | od -c | head -n 2`,
      expected: 'a value that does not start with k8s:enc:aescbc:v1:key1',
      judge: (r) => ({ ok: r.code === 0 && r.stdout.trim() !== '' && !/k\s+8\s+s\s+:\s+e\s+n\s+c/.test(r.stdout), seen: r.stdout.trim().split('\n')[0]!.replace(/\s+/g, ' ').slice(0, 100) }),
      hint: 'the secret was written encrypted',
    },
  ],
  hints: [
    'Secrets are encrypted by the API server that handles the write. Compare each controller\'s running flags: `tr "\\0" "\\n" < /proc/$(pidof kube-apiserver)/cmdline | grep encryption`.',
    `The flag --encryption-provider-config=/var/lib/kubernetes/encryption-config.yaml comes from ${UNIT}; the file it names is there on every controller.`,
    (env) =>
      `On ${node(env)}: put the flag back (the lab's rendered unit is nodes/${node(env)}${UNIT} in the lab directory, or \`hardway-lab up --step control-plane\`), \`systemctl daemon-reload && systemctl restart kube-apiserver\`; then re-write every secret so it is stored encrypted: \`kubectl get secrets -A -o json | kubectl replace -f -\`.`,
  ],
  fix: [
    { kind: 'lab-file', node, path: UNIT, then: `systemctl daemon-reload && systemctl restart kube-apiserver && ${WAIT_APISERVER_READY}` },
    { kind: 'kubectl', node, args: 'get secrets -A -o json | ADMIN replace -f - >/dev/null' },
  ],
  cleanup: [{ kind: 'kubectl', node, args: 'delete secret hardway-drill-plain --ignore-not-found' }],
};
