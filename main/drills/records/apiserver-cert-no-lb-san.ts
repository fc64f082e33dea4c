import type { Drill } from '../drill-types.ts';
import { controller, ipOf } from '../lab-terms.ts';

const second = controller(1);

export const apiserverCertNoLbSan: Drill = {
  kind: 'drill',
  id: 'apiserver-cert-no-lb-san',
  title: 'An API server certificate without the load balancer\'s address',
  teaches: 'what a serving certificate\'s SANs are for, how a client checks them, and that the API server reloads its certificate from disk',
  story: (env) =>
    `Since last night's certificate renewal, kubectl through the load balancer (${env.plan.apiEndpoint.url}) fails now and then with ` +
    `"x509: certificate is valid for …, not ${env.plan.apiEndpoint.ip}", and works when you try again. Find the API server that serves the wrong certificate, and fix it without downtime.`,
  needs: { steps: ['certificates', 'control-plane', 'load-balancer'], controllers: 2 },
  fault: [{ kind: 'faulty-cert', node: second, cert: 'kube-apiserver', fault: { dropLbSan: true }, why: 're-issued without the LB address in its SANs; the API server picks it up from disk' }],
  checks: [{ step: 'certificates', node: second, probe: (env) => new RegExp(`kube-apiserver\\.crt: SAN IP:${env.plan.apiEndpoint.ip.replace(/\./g, '\\.')}$`) }],
  symptoms: [
    {
      name: 'behind the LB\'s address, it fails the TLS name check',
      node: controller(0),
      command: (env) => `curl -sS --max-time 10 --cacert /var/lib/kubernetes/ca.crt --connect-to ${env.plan.apiEndpoint.ip}:6443:${ipOf(env, second(env))}:6443 https://${env.plan.apiEndpoint.ip}:6443/healthz 2>&1; echo " rc=$?"`,
      expected: 'curl refuses the certificate (no SAN matches the LB address)',
      judge: (r) => ({ ok: /rc=60|no alternative certificate subject name|does not match/.test(r.stdout), seen: (/curl: \(\d+\).*/.exec(r.stdout)?.[0] ?? r.stdout.trim()).slice(0, 160) }),
      hint: 'the API server reloads its serving certificate from disk within a minute; wait and look again',
    },
  ],
  hints: [
    'Only some requests fail: haproxy spreads them over the API servers. Ask each one under the LB\'s name, e.g. from a controller: `curl --cacert /var/lib/kubernetes/ca.crt --connect-to LB_IP:6443:CONTROLLER_IP:6443 https://LB_IP:6443/healthz`.',
    (env) => `Read the SANs of the certificate on ${second(env)} and on another controller: \`openssl x509 -in /var/lib/kubernetes/kube-apiserver.crt -noout -ext subjectAltName\`. Which address is missing?`,
    (env) =>
      `Copy the lab's pki/kube-apiserver.crt and pki/kube-apiserver.key to /var/lib/kubernetes/ on ${second(env)} (or run \`hardway-lab up --step certificates\`). The API server reloads its serving certificate from disk within a minute: no restart, no downtime.`,
  ],
  fix: [{ kind: 'lab-cert', node: second, cert: 'kube-apiserver', why: 'the lab\'s certificate names every address clients use, the LB\'s included' }],
  showsWithinSeconds: 180,
};
