import type { Drill } from '../drill-types.ts';
import { worker } from '../lab-terms.ts';

const node = worker(0);

export const kubeletCertNoClientAuth: Drill = {
  kind: 'drill',
  id: 'kubelet-cert-no-client-auth',
  title: 'A kubelet certificate without clientAuth',
  teaches: 'extended key usages: a certificate is only good for the roles (server, client) it names',
  story: (env) =>
    `A colleague re-issued ${node(env)}'s kubelet certificate with their own openssl recipe. The node still looks fine, but the cluster's certificate audit ` +
    '(`hardway-lab check certificates`) now fails for it, and a kubelet that presents this certificate as its client identity would be refused by the API server. Find what the recipe left out, and put it right.',
  needs: { steps: ['certificates', 'workers'], workers: 1 },
  fault: [{ kind: 'faulty-cert', node, cert: (env) => `kubelet-${node(env)}`, fault: { dropUsage: 'clientAuth' }, then: 'systemctl restart kubelet', why: 'a certificate for TLS servers only' }],
  checks: [{ step: 'certificates', node, probe: /kubelet\.crt: usage clientAuth$/ }],
  symptoms: [
    {
      name: 'the certificate is not good for TLS clients',
      node,
      command: 'openssl x509 -in /var/lib/kubelet/kubelet.crt -noout -ext extendedKeyUsage',
      expected: 'extendedKeyUsage without "TLS Web Client Authentication"',
      judge: (r) => ({ ok: r.code === 0 && !/Client Authentication/.test(r.stdout), seen: r.stdout.trim().replace(/\s+/g, ' ') }),
      hint: 'the faulty certificate was not copied',
    },
  ],
  hints: [
    'Which certificate does the audit name, and which probe fails? `hardway-lab check certificates`.',
    (env) => `Read its usages: \`openssl x509 -in /var/lib/kubelet/kubelet.crt -noout -ext keyUsage,extendedKeyUsage\` on ${node(env)}; the hard way's kubelet certificate is both a server (its API on :10250) and a client (to the API server).`,
    (env) =>
      `Copy the lab's pki/kubelet-${node(env)}.crt and .key to /var/lib/kubelet/kubelet.crt and kubelet.key on ${node(env)}, then \`systemctl restart kubelet\` (or \`hardway-lab up --step certificates\`).`,
  ],
  fix: [{ kind: 'lab-cert', node, cert: (env) => `kubelet-${node(env)}`, then: 'systemctl restart kubelet' }],
};
