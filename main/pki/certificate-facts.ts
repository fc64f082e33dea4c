// What a certificate says, in the plan's terms: names, groups, SANs, usages, CA-ness, validity,
// public key. Both the keep-or-reissue decision and the checkers read certificates through this.

import { createPublicKey } from 'node:crypto';
import type { KeyUsagePurpose } from '../plan/certificate-plan.ts';
import { x509 } from './x509.ts';

export interface CertificateFacts {
  commonNames: string[];
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Extended key usages: `serverAuth`/`clientAuth`, other OIDs as dotted numbers. */
  usages: string[];
  isCa: boolean;
  canSignCertificates: boolean;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo, normalised by node:crypto so it compares byte for byte with a key's. */
  publicKeyInfo: Uint8Array;
}

const PURPOSE_BY_OID: Record<string, KeyUsagePurpose> = {
  [x509.ExtendedKeyUsage.serverAuth]: 'serverAuth',
  [x509.ExtendedKeyUsage.clientAuth]: 'clientAuth',
};

export const OID_BY_PURPOSE: Record<KeyUsagePurpose, string> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
};

/** Parses a PEM certificate; throws naming the source when it is not one. */
export function parseCertificate(pem: string, source: string): x509.X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`${source}: no "BEGIN CERTIFICATE" block (${pem.trim() === '' ? 'the text is empty' : 'is it a key?'})`);
  }
  try {
    return new x509.X509Certificate(pem);
  } catch (error) {
    throw new Error(`${source}: not a readable certificate (${(error as Error).message})`);
  }
}

export function certificateFacts(cert: x509.X509Certificate): CertificateFacts {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san ? san.names.items : [];
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  const spki = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' });
  return {
    commonNames: cert.subjectName.getField('CN'),
    organizations: cert.subjectName.getField('O'),
    dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
    usages: (eku?.usages ?? []).map((oid) => PURPOSE_BY_OID[String(oid)] ?? String(oid)),
    isCa: basic?.ca === true,
    canSignCertificates: keyUsage ? (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) !== 0 : false,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    publicKeyInfo: new Uint8Array(spki.export({ type: 'spki', format: 'der' })),
  };
}

/** Whether `cert` carries a valid signature by `ca`'s key and names it as issuer. */
export async function isSignedBy(cert: x509.X509Certificate, ca: x509.X509Certificate): Promise<boolean> {
  if (cert.issuer !== ca.subject) return false;
  try {
    return await cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    // A key of another algorithm than the signature's: certainly not this CA's signature.
    return false;
  }
}
