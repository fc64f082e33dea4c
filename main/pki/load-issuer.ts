// The lab CA as a signer: its certificate and private key read back from PEM, ready to issue.

import type { LabPaths } from '../lab/lab-dir.ts';
import { parseCertificate } from './certificate-facts.ts';
import type { Issuer } from './issue-certificate.ts';
import { importSigningKey, parsePrivateKey } from './key-pair.ts';
import { pkiFilePath, readPkiFile } from './pki-files.ts';

/** `sources` name the files in error messages. */
export async function issuerFromPem(certPem: string, keyPem: string, sources = { cert: 'ca.crt', key: 'ca.key' }): Promise<Issuer> {
  const certificate = parseCertificate(certPem, sources.cert);
  const { key, algorithm } = await importSigningKey(parsePrivateKey(keyPem, sources.key), sources.key);
  return { certificate, privateKey: key, algorithm };
}

/** The CA of a lab whose PKI exists (throws, saying to run `hardway-lab pki`, when it does not). */
export async function loadIssuer(paths: LabPaths, id = 'ca'): Promise<Issuer> {
  return issuerFromPem(readPkiFile(paths, id, 'crt'), readPkiFile(paths, id, 'key'), {
    cert: pkiFilePath(paths, id, 'crt'),
    key: pkiFilePath(paths, id, 'key'),
  });
}
