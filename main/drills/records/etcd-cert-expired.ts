import type { Drill } from '../drill-types.ts';
import { controller, WAIT_ETCD_HEALTHY } from '../lab-terms.ts';

const node = controller(2);

export const etcdCertExpired: Drill = {
  kind: 'drill',
  id: 'etcd-cert-expired',
  title: 'An expired certificate',
  teaches: 'a certificate\'s validity window: outside it every peer and client refuses it, however right its names are',
  story: (env) =>
    `The etcd member on ${node(env)} was restarted after maintenance and never became healthy again; its peers log ` +
    '"tls: failed to verify certificate: x509: certificate has expired or is not yet valid". Its certificate was "renewed" last month.',
  needs: { steps: ['certificates', 'etcd'], controllers: 3 },
  fault: [
    {
      kind: 'faulty-cert',
      node,
      cert: (env) => `etcd-${node(env)}`,
      fault: { clockDays: -400 },
      then: 'systemctl restart --no-block etcd',
      why: 'issued by a machine whose clock was 400 days behind: its validity ended weeks ago',
    },
  ],
  checks: [
    { step: 'certificates', node, probe: /etcd-server\.crt: not expired$/ },
    { step: 'etcd', node, probe: /^endpoint health over TLS$/ },
  ],
  symptoms: [
    {
      name: 'the member\'s certificate is outside its validity window',
      node,
      command: 'openssl x509 -in /etc/etcd/etcd-server.crt -noout -enddate -checkend 0; echo " rc=$?"',
      expected: 'openssl says it will expire (it did)',
      judge: (r) => ({ ok: /will expire/.test(r.stdout), seen: r.stdout.trim().replace(/\s+/g, ' ') }),
      hint: 'the certificate is still valid',
    },
  ],
  hints: [
    (env) => `Which certificate do the peers refuse? \`journalctl -u etcd -n 30\` on another controller, then \`openssl x509 -in /etc/etcd/etcd-server.crt -noout -dates\` on ${node(env)}. Compare notAfter with \`date -u\`.`,
    'A certificate outside notBefore..notAfter is refused by every TLS peer. Names and CA can be perfect: a clock that was wrong when it was issued is enough. The lab\'s CA issued a good one.',
    (env) => `Copy the lab's pki/etcd-${node(env)}.crt and .key to /etc/etcd/etcd-server.crt and etcd-server.key on ${node(env)}, then \`systemctl restart etcd\` (or \`hardway-lab up --step certificates\`).`,
  ],
  fix: [{ kind: 'lab-cert', node, cert: (env) => `etcd-${node(env)}`, then: `systemctl restart --no-block etcd && ${WAIT_ETCD_HEALTHY}` }],
  showsWithinSeconds: 120,
};
