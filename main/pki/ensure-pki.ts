// Creates the lab's PKI from the plan, or brings an existing one up to date: material that still
// matches its plan is kept byte for byte, anything else is re-issued (and reported as created,
// with the reason in `reissued`). `rotate` starts over with a new CA and new keys everywhere.
//
// Files: pki/<id>.crt (PEM, 0644) and pki/<id>.key (PKCS#8 PEM, 0600) per certificate;
// pki/<id>.key and pki/<id>.pub (SPKI PEM, 0644) per key pair; pki/ itself is 0700.
// Each file is written atomically, the key before its certificate: after a crash the pair may
// disagree, and the next run sees that and re-issues it.

import { chmodSync } from 'node:fs';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { Plan } from '../plan/address-plan.ts';
import type { CertificatePlan } from '../plan/certificate-plan.ts';
import type { KeyAlgorithm } from '../spec/cluster-spec.ts';
import { issueCertificate, type Issuer } from './issue-certificate.ts';
import { generateKeyPair, privateKeyPem, publicKeyPem } from './key-pair.ts';
import { issuerFromPem } from './load-issuer.ts';
import { encodePem } from './pem.ts';
import type { CryptoKeyPair } from './x509.ts';
import { PKI_DIR_MODE, PRIVATE_FILE_MODE, PUBLIC_FILE_MODE, pkiFilePath, readOptionalFile, type PkiPart } from './pki-files.ts';
import { certificateReissueReason, keyPairReissueReason, type ExistingMaterial } from './reissue-reason.ts';
import { ensureDirectory, removeStaleTempFiles, writeFileAtomic } from './write-file-atomic.ts';

export { ensureEncryptionKey } from './encryption-key.ts';
export { readPkiFile } from './pki-files.ts';

export interface PkiResult {
  /** Ids issued by this run: new, re-issued because they no longer matched, or rotated. */
  created: string[];
  /** Ids whose files were left untouched. */
  kept: string[];
  /** Ids that existed but were re-issued, with why (a subset of `created`). */
  reissued?: Array<{ id: string; reason: string }>;
}

export interface EnsurePkiOptions {
  algorithm: KeyAlgorithm;
  /** Re-issue everything, starting with a new CA. */
  rotate?: boolean;
  /** Re-issue these leaf certificates (new keys, same CA and plan): a rotation without a new CA. */
  renew?: readonly string[];
}

interface Outcome {
  id: string;
  created: boolean;
  /** Set when existing material was replaced. */
  reason?: string;
}

export async function ensurePki(plan: Plan, paths: LabPaths, options: EnsurePkiOptions): Promise<PkiResult> {
  const cas = plan.certificates.filter((c) => c.kind === 'ca');
  if (cas.length !== 1) throw new Error(`internal: the certificate plan of lab ${plan.labName} has ${cas.length} CAs; it needs exactly one`);
  const caPlan = cas[0]!;
  for (const id of options.renew ?? []) {
    const found = plan.certificates.find((c) => c.id === id);
    if (!found || found.kind !== 'leaf') {
      const leaves = plan.certificates.filter((c) => c.kind === 'leaf').map((c) => c.id);
      throw new Error(`there is no certificate "${id}" to renew in lab ${plan.labName}\n  what to do: name one of: ${leaves.join(', ')} (the CA is replaced only by --rotate)`);
    }
  }
  ensureDirectory(paths.pki, PKI_DIR_MODE);
  removeStaleTempFiles(paths.pki);

  const run: RunContext = { paths, algorithm: options.algorithm, rotate: options.rotate === true, renew: new Set(options.renew ?? []), now: new Date() };
  const { outcome: caOutcome, issuer, caPem } = await ensureCa(caPlan, run);
  const others = await Promise.all(
    plan.certificates
      .filter((c) => c.kind !== 'ca')
      .map((c) => (c.kind === 'keypair' ? ensureKeyPair(c, run) : ensureLeaf(c, run, issuer, caPem, caOutcome.created))),
  );

  const outcomes = [caOutcome, ...others];
  return {
    created: outcomes.filter((o) => o.created).map((o) => o.id),
    kept: outcomes.filter((o) => !o.created).map((o) => o.id),
    reissued: outcomes.filter((o) => o.reason !== undefined).map((o) => ({ id: o.id, reason: o.reason! })),
  };
}

interface RunContext {
  paths: LabPaths;
  algorithm: KeyAlgorithm;
  rotate: boolean;
  renew: ReadonlySet<string>;
  now: Date;
}

async function ensureCa(plan: CertificatePlan, run: RunContext): Promise<{ outcome: Outcome; issuer: Issuer; caPem: string }> {
  const existing = readExisting(run, plan.id, ['crt', 'key']);
  const reason = await replaceReason(plan, existing, run, () =>
    certificateReissueReason(plan, existing, { caPem: existing.certPem!, algorithm: run.algorithm, now: run.now }),
  );
  if (reason === false) {
    keepModes(run, plan.id, ['crt', 'key']);
    const issuer = await issuerFromPem(existing.certPem!, existing.keyPem!, {
      cert: pkiFilePath(run.paths, plan.id, 'crt'),
      key: pkiFilePath(run.paths, plan.id, 'key'),
    });
    return { outcome: { id: plan.id, created: false }, issuer, caPem: existing.certPem! };
  }
  const keys = await generateKeyPair(run.algorithm);
  const certificate = await issueCertificate(plan, keys, { algorithm: run.algorithm, now: run.now });
  const caPem = encodePem('CERTIFICATE', certificate.rawData);
  await writeCertificateAndKey(run, plan.id, caPem, keys);
  return {
    outcome: { id: plan.id, created: true, reason },
    issuer: { certificate, privateKey: keys.privateKey, algorithm: run.algorithm },
    caPem,
  };
}

async function ensureLeaf(plan: CertificatePlan, run: RunContext, issuer: Issuer, caPem: string, caIsNew: boolean): Promise<Outcome> {
  const existing = readExisting(run, plan.id, ['crt', 'key']);
  const reason = await replaceReason(plan, existing, run, async () =>
    caIsNew ? 'the CA was re-issued' : certificateReissueReason(plan, existing, { caPem, algorithm: run.algorithm, now: run.now }),
  );
  if (reason === false) {
    keepModes(run, plan.id, ['crt', 'key']);
    return { id: plan.id, created: false };
  }
  const keys = await generateKeyPair(run.algorithm);
  const certificate = await issueCertificate(plan, keys, { algorithm: run.algorithm, issuer, now: run.now });
  await writeCertificateAndKey(run, plan.id, encodePem('CERTIFICATE', certificate.rawData), keys);
  return { id: plan.id, created: true, reason };
}

async function ensureKeyPair(plan: CertificatePlan, run: RunContext): Promise<Outcome> {
  const existing = readExisting(run, plan.id, ['key', 'pub']);
  const reason = await replaceReason(plan, existing, run, async () => keyPairReissueReason(plan, existing, run.algorithm));
  if (reason === false) {
    keepModes(run, plan.id, ['key', 'pub']);
    return { id: plan.id, created: false };
  }
  const keys = await generateKeyPair(run.algorithm);
  writeFileAtomic(pkiFilePath(run.paths, plan.id, 'key'), await privateKeyPem(keys.privateKey), PRIVATE_FILE_MODE);
  writeFileAtomic(pkiFilePath(run.paths, plan.id, 'pub'), await publicKeyPem(keys.publicKey), PUBLIC_FILE_MODE);
  return { id: plan.id, created: true, reason };
}

/**
 * `false` to keep what is on disk; otherwise issue anew, with the reason when something existed
 * (`undefined` for a first issue).
 */
async function replaceReason(
  plan: CertificatePlan,
  existing: ExistingMaterial,
  run: RunContext,
  check: () => Promise<string | undefined>,
): Promise<string | false | undefined> {
  const anything = existing.certPem !== undefined || existing.keyPem !== undefined || existing.pubPem !== undefined;
  if (!anything) return undefined;
  if (run.rotate) return 'rotation requested (--rotate)';
  if (run.renew.has(plan.id)) return 'renewal requested (--renew)';
  const reason = await check();
  return reason === undefined ? false : reason;
}

function readExisting(run: RunContext, id: string, parts: PkiPart[]): ExistingMaterial {
  const read = (part: PkiPart) => (parts.includes(part) ? readOptionalFile(pkiFilePath(run.paths, id, part)) : undefined);
  return { certPem: read('crt'), keyPem: read('key'), pubPem: read('pub') };
}

async function writeCertificateAndKey(run: RunContext, id: string, certPem: string, keys: CryptoKeyPair): Promise<void> {
  writeFileAtomic(pkiFilePath(run.paths, id, 'key'), await privateKeyPem(keys.privateKey), PRIVATE_FILE_MODE);
  writeFileAtomic(pkiFilePath(run.paths, id, 'crt'), certPem, PUBLIC_FILE_MODE);
}

/** Kept files get their modes back if someone loosened them (a readable key is a leaked key). */
function keepModes(run: RunContext, id: string, parts: PkiPart[]): void {
  for (const part of parts) chmodSync(pkiFilePath(run.paths, id, part), part === 'key' ? PRIVATE_FILE_MODE : PUBLIC_FILE_MODE);
}
