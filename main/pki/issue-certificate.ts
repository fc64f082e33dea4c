// Issues one certificate of the plan: the self-signed lab CA, or a leaf signed by it, with the
// extensions Kubernetes components and openssl expect.

import { randomBytes } from 'node:crypto';
import type { CertificatePlan } from '../plan/certificate-plan.ts';
import type { KeyAlgorithm } from '../spec/cluster-spec.ts';
import { OID_BY_PURPOSE } from './certificate-facts.ts';
import { signingAlgorithm } from './key-pair.ts';
import { webCrypto, x509, type CryptoKey, type CryptoKeyPair } from './x509.ts';

export const LEAF_VALIDITY_DAYS = 365;
export const CA_VALIDITY_DAYS = 3650;
/** Certificates start a little in the past: a VM whose clock lags the host still accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The CA that signs leaves: its certificate, its private key and that key's algorithm. */
export interface Issuer {
  certificate: x509.X509Certificate;
  privateKey: CryptoKey;
  algorithm: KeyAlgorithm;
}

export interface IssueOptions {
  /** The algorithm of `keys` (decides keyEncipherment for RSA leaves). */
  algorithm: KeyAlgorithm;
  /** Required for leaves; the CA signs itself. */
  issuer?: Issuer;
  now?: Date;
}

export async function issueCertificate(plan: CertificatePlan, keys: CryptoKeyPair, options: IssueOptions): Promise<x509.X509Certificate> {
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const subjectKeyId = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webCrypto);

  if (plan.kind === 'ca') {
    return x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: randomSerial(),
        name: subjectName(plan),
        notBefore,
        notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
        keys,
        signingAlgorithm: signingAlgorithm(options.algorithm),
        extensions: [
          // pathlen 0: the lab CA signs leaves only, never another CA.
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          subjectKeyId,
          new x509.AuthorityKeyIdentifierExtension(subjectKeyId.keyId),
        ],
      },
      webCrypto,
    );
  }

  if (plan.kind !== 'leaf') throw new Error(`${plan.id} is a ${plan.kind}, not a certificate: it has no certificate to issue`);
  const issuer = options.issuer;
  if (!issuer) throw new Error(`internal: ${plan.id} is a leaf certificate and needs the CA to sign it`);

  const keyUsage =
    options.algorithm === 'rsa-2048'
      ? // RSA key exchange (TLS 1.2 without ECDHE) encrypts with the server's key.
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment
      : x509.KeyUsageFlags.digitalSignature;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsage, true),
  ];
  if (plan.usages.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension(plan.usages.map((u) => OID_BY_PURPOSE[u])));
  const altNames: x509.JsonGeneralName[] = [
    ...plan.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...plan.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
  extensions.push(subjectKeyId, new x509.AuthorityKeyIdentifierExtension(await authorityKeyId(issuer.certificate)));

  return x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: subjectName(plan),
      issuer: issuer.certificate.subjectName,
      notBefore,
      notAfter: new Date(now.getTime() + LEAF_VALIDITY_DAYS * DAY_MS),
      publicKey: keys.publicKey,
      signingKey: issuer.privateKey,
      signingAlgorithm: signingAlgorithm(issuer.algorithm),
      extensions,
    },
    webCrypto,
  );
}

/** O before CN, the usual order; Kubernetes reads the user from CN and the groups from O. */
function subjectName(plan: CertificatePlan): x509.JsonName {
  return plan.organization ? [{ O: [plan.organization] }, { CN: [plan.commonName] }] : [{ CN: [plan.commonName] }];
}

/** The CA's own subject key identifier, so chain builders find it; computed when it has none. */
async function authorityKeyId(ca: x509.X509Certificate): Promise<string> {
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return ski.keyId;
  return (await x509.SubjectKeyIdentifierExtension.create(ca.publicKey, false, webCrypto)).keyId;
}

/** 128 random bits, positive (top bit clear) and with no leading zero byte, as RFC 5280 asks. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}
