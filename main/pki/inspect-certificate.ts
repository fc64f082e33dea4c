// A pure certificate checker: given a certificate (and optionally its key), the CA and what the
// plan says, it returns one probe per fact with what was expected, what was seen and how to fix
// it. Unit tests use it today; the cluster checkers run it on files read back from the nodes.

import type { CertificatePlan, KeyUsagePurpose } from '../plan/certificate-plan.ts';
import { certificateFacts, isSignedBy, parseCertificate, type CertificateFacts } from './certificate-facts.ts';
import { parsePrivateKey, publicKeyInfoOf } from './key-pair.ts';
import type { x509 } from './x509.ts';

export interface CertificateProbe {
  name: string;
  ok: boolean;
  expected: string;
  seen: string;
  hint: string;
}

export interface InspectInput {
  certPem: string;
  keyPem?: string;
  caPem: string;
  plan: CertificatePlan;
  /** The moment to judge validity at; defaults to now. */
  now?: Date;
}

/** The scheduler's O is not checked: one published guide has a typo there (`system:system:...`). */
const CN_ONLY = new Set(['system:kube-scheduler']);

const REISSUE = 'run `hardway-lab pki` (it re-issues every certificate that no longer matches the plan) and copy the files to the node again';
const ROTATE = 're-issue with `hardway-lab pki --rotate` and copy the files to every node again';

export async function inspectCertificate(input: InspectInput): Promise<CertificateProbe[]> {
  const { plan } = input;
  const label = `${plan.id}.crt`;
  if (plan.kind === 'keypair') {
    throw new Error(`${plan.id} is a key pair (no certificate): compare ${plan.id}.pub with the public half of ${plan.id}.key instead`);
  }

  let cert: x509.X509Certificate;
  let ca: x509.X509Certificate;
  try {
    cert = parseCertificate(input.certPem, label);
  } catch (error) {
    return [unreadable('certificate is readable', (error as Error).message, `${label} must be a PEM certificate: ${REISSUE}`)];
  }
  try {
    ca = parseCertificate(input.caPem, 'ca.crt');
  } catch (error) {
    return [unreadable('CA certificate is readable', (error as Error).message, `ca.crt must be the lab CA's PEM certificate: ${REISSUE}`)];
  }

  const facts = certificateFacts(cert);
  const probes: CertificateProbe[] = [
    await signedByCa(cert, ca, plan),
    validity(facts, input.now ?? new Date(), plan),
    commonName(facts, plan),
  ];
  if (plan.organization && !CN_ONLY.has(plan.commonName)) probes.push(organization(facts, plan));
  if (plan.kind === 'ca') probes.push(isCa(facts));
  for (const dns of plan.dnsNames) probes.push(subjectAltName('DNS', dns, facts.dnsNames, facts, plan));
  for (const ip of plan.ipAddresses) probes.push(subjectAltName('IP', ip, facts.ipAddresses, facts, plan));
  for (const usage of plan.usages) probes.push(extendedKeyUsage(usage, facts, plan));
  if (input.keyPem !== undefined) probes.push(keyMatches(facts, input.keyPem, plan));
  return probes;
}

function unreadable(name: string, seen: string, hint: string): CertificateProbe {
  return { name, ok: false, expected: 'a PEM certificate', seen, hint };
}

async function signedByCa(cert: x509.X509Certificate, ca: x509.X509Certificate, plan: CertificatePlan): Promise<CertificateProbe> {
  const ok = await isSignedBy(cert, ca);
  return {
    name: plan.kind === 'ca' ? 'self-signed lab CA' : 'signed by the lab CA',
    ok,
    expected: `issued and signed by "${ca.subject}"`,
    seen: ok ? `signed by "${cert.issuer}"` : `issuer "${cert.issuer}"${cert.issuer === ca.subject ? ', but the signature does not verify with the CA key' : ''}`,
    hint: ok
      ? ''
      : plan.kind === 'ca'
        ? `this is not the lab's CA certificate: copy pki/ca.crt again, or ${ROTATE}`
        : `${plan.id} comes from another CA (an earlier run?); ${REISSUE}, or ${ROTATE}`,
  };
}

function validity(facts: CertificateFacts, now: Date, plan: CertificatePlan): CertificateProbe {
  const period = `${facts.notBefore.toISOString()} .. ${facts.notAfter.toISOString()}`;
  const early = now < facts.notBefore;
  const expired = now > facts.notAfter;
  return {
    name: 'not expired',
    ok: !early && !expired,
    expected: `valid at ${now.toISOString()}`,
    seen: `valid ${period}`,
    hint: early
      ? `the certificate is not valid yet: this machine's clock is behind (${now.toISOString()}); set the clock (e.g. \`chronyc makestep\` or \`date -s\`)`
      : expired
        ? `${plan.id} expired on ${facts.notAfter.toISOString()}: ${plan.kind === 'ca' ? ROTATE : REISSUE}`
        : '',
  };
}

function commonName(facts: CertificateFacts, plan: CertificatePlan): CertificateProbe {
  const ok = facts.commonNames.length === 1 && facts.commonNames[0] === plan.commonName;
  return {
    name: 'common name',
    ok,
    expected: `CN ${plan.commonName}`,
    seen: facts.commonNames.length ? `CN ${facts.commonNames.join(', ')}` : 'no CN',
    hint: ok ? '' : `${cnMeaning(plan)}; ${REISSUE}`,
  };
}

function cnMeaning(plan: CertificatePlan): string {
  if (plan.commonName.startsWith('system:node:')) return `the Node authorizer admits a kubelet only as "${plan.commonName}" (CN system:node:<node name>)`;
  if (plan.kind === 'ca') return 'the CA name must match the issuer of every lab certificate';
  return `Kubernetes takes the user name from the CN: RBAC must see "${plan.commonName}"`;
}

function organization(facts: CertificateFacts, plan: CertificatePlan): CertificateProbe {
  const ok = facts.organizations.includes(plan.organization!);
  return {
    name: 'organization',
    ok,
    expected: `O ${plan.organization}`,
    seen: facts.organizations.length ? `O ${facts.organizations.join(', ')}` : 'no O',
    hint: ok ? '' : `Kubernetes takes groups from O: without "${plan.organization}" ${plan.commonName} loses the rights bound to that group; ${REISSUE}`,
  };
}

function isCa(facts: CertificateFacts): CertificateProbe {
  const ok = facts.isCa && facts.canSignCertificates;
  return {
    name: 'is a CA',
    ok,
    expected: 'basicConstraints CA:TRUE, keyUsage keyCertSign',
    seen: `CA:${facts.isCa ? 'TRUE' : 'FALSE'}${facts.canSignCertificates ? ', keyCertSign' : ', no keyCertSign'}`,
    hint: ok ? '' : `TLS clients refuse certificates signed by a certificate that is not a CA; ${ROTATE}`,
  };
}

function subjectAltName(kind: 'DNS' | 'IP', value: string, present: string[], facts: CertificateFacts, plan: CertificatePlan): CertificateProbe {
  const ok = present.includes(value);
  const all = [...facts.dnsNames.map((d) => `DNS:${d}`), ...facts.ipAddresses.map((i) => `IP:${i}`)];
  return {
    name: `SAN ${kind}:${value}`,
    ok,
    expected: `${kind}:${value} among the subject alternative names`,
    seen: all.length ? all.join(', ') : 'no subject alternative names',
    hint: ok
      ? ''
      : `clients reaching ${plan.id} as ${value} fail with "x509: certificate is valid for ${all.join(', ') || '(nothing)'}, not ${value}"; ${REISSUE}`,
  };
}

function extendedKeyUsage(usage: KeyUsagePurpose, facts: CertificateFacts, plan: CertificatePlan): CertificateProbe {
  const ok = facts.usages.includes(usage);
  return {
    name: `usage ${usage}`,
    ok,
    expected: `extendedKeyUsage ${usage}`,
    seen: facts.usages.length ? `extendedKeyUsage ${facts.usages.join(', ')}` : 'no extendedKeyUsage',
    hint: ok ? '' : `${usageMeaning(usage, plan)}; ${REISSUE}`,
  };
}

function usageMeaning(usage: KeyUsagePurpose, plan: CertificatePlan): string {
  if (plan.id.startsWith('etcd-') && usage === 'clientAuth') {
    return 'etcd peers need clientAuth: each member presents this certificate as a client to the others, and without it they fail with "context deadline exceeded" and the cluster never forms';
  }
  if (usage === 'clientAuth') return `${plan.commonName} logs in with this certificate as a client; servers reject it ("bad certificate") without clientAuth`;
  return `clients refuse a server certificate without serverAuth ("x509: certificate specifies an incompatible key usage")`;
}

function keyMatches(facts: CertificateFacts, keyPem: string, plan: CertificatePlan): CertificateProbe {
  const name = 'key matches certificate';
  const expected = 'the private key is the one the certificate was issued for (same public key)';
  let keyInfo: Uint8Array;
  try {
    keyInfo = publicKeyInfoOf(parsePrivateKey(keyPem, `${plan.id}.key`));
  } catch (error) {
    return { name, ok: false, expected, seen: (error as Error).message, hint: `${plan.id}.key must be its PEM private key; ${REISSUE}` };
  }
  // Never conclude "match" from two empty values: that is how a published checker always passed.
  const comparable = keyInfo.length > 0 && facts.publicKeyInfo.length > 0;
  const ok = comparable && Buffer.from(keyInfo).equals(Buffer.from(facts.publicKeyInfo));
  return {
    name,
    ok,
    expected,
    seen: ok ? 'same public key' : comparable ? 'the key belongs to another certificate' : 'a public key could not be extracted',
    hint: ok
      ? ''
      : `${plan.id}.crt and ${plan.id}.key come from different issuances (files mixed up between runs?): copy both from the lab's pki/ directory together, or ${ROTATE}`,
  };
}
