// Decides whether material already on disk may be kept: only when it still matches its plan
// exactly (CN, O, SANs, usages), is signed by the current CA, pairs with its key, uses the spec's
// key algorithm and has time left. Otherwise it says why, in words the CLI can print.

import type { CertificatePlan } from '../plan/certificate-plan.ts';
import { certificateFacts, parseCertificate } from './certificate-facts.ts';
import { inspectCertificate } from './inspect-certificate.ts';
import { keyAlgorithmName, parsePrivateKey, publicKeyInfoOf, publicKeyInfoOfPem } from './key-pair.ts';
import type { KeyAlgorithm } from '../spec/cluster-spec.ts';

/** Certificates closer than this to their end are re-issued, so a lab never runs into expiry. */
export const RENEW_BEFORE_DAYS = 30;

export interface ExistingMaterial {
  certPem?: string;
  keyPem?: string;
  pubPem?: string;
}

export interface ReissueContext {
  /** The current CA certificate (for the CA itself: its own). */
  caPem: string;
  algorithm: KeyAlgorithm;
  now: Date;
}

/** Why the certificate on disk cannot be kept, or undefined when it can. */
export async function certificateReissueReason(
  plan: CertificatePlan,
  existing: ExistingMaterial,
  context: ReissueContext,
): Promise<string | undefined> {
  if (existing.certPem === undefined) return `${plan.id}.crt is missing`;
  if (existing.keyPem === undefined) return `${plan.id}.key is missing`;
  const keyProblem = keyAlgorithmProblem(plan, existing.keyPem, context.algorithm);
  if (keyProblem) return keyProblem;

  const probes = await inspectCertificate({ certPem: existing.certPem, keyPem: existing.keyPem, caPem: context.caPem, plan, now: context.now });
  const failed = probes.filter((p) => !p.ok);
  if (failed.length > 0) return failed.map((p) => `${p.name}: expected ${p.expected}, seen ${p.seen}`).join('; ');

  // The checker accepts extras (a SAN more does no harm on a node); the plan wants exactly these.
  const facts = certificateFacts(parseCertificate(existing.certPem, `${plan.id}.crt`));
  const differences = [
    difference('organization', plan.organization ? [plan.organization] : [], facts.organizations),
    difference('DNS names', plan.dnsNames, facts.dnsNames),
    difference('IP addresses', plan.ipAddresses, facts.ipAddresses),
    difference('usages', plan.usages, facts.usages),
  ].filter((d) => d !== undefined);
  if (differences.length > 0) return differences.join('; ');

  const renewAt = new Date(facts.notAfter.getTime() - RENEW_BEFORE_DAYS * 24 * 60 * 60 * 1000);
  if (context.now >= renewAt) return `it expires on ${facts.notAfter.toISOString()} (renewed ${RENEW_BEFORE_DAYS} days ahead)`;
  return undefined;
}

/** Why a key pair on disk (service accounts) cannot be kept, or undefined when it can. */
export function keyPairReissueReason(plan: CertificatePlan, existing: ExistingMaterial, algorithm: KeyAlgorithm): string | undefined {
  if (existing.keyPem === undefined) return `${plan.id}.key is missing`;
  if (existing.pubPem === undefined) return `${plan.id}.pub is missing`;
  const keyProblem = keyAlgorithmProblem(plan, existing.keyPem, algorithm);
  if (keyProblem) return keyProblem;
  let published: Uint8Array;
  try {
    published = publicKeyInfoOfPem(existing.pubPem, `${plan.id}.pub`);
  } catch (error) {
    return (error as Error).message;
  }
  const derived = publicKeyInfoOf(parsePrivateKey(existing.keyPem, `${plan.id}.key`));
  if (derived.length === 0 || !Buffer.from(derived).equals(Buffer.from(published))) {
    return `${plan.id}.pub is not the public half of ${plan.id}.key`;
  }
  return undefined;
}

function keyAlgorithmProblem(plan: CertificatePlan, keyPem: string, algorithm: KeyAlgorithm): string | undefined {
  let actual: string;
  try {
    actual = keyAlgorithmName(parsePrivateKey(keyPem, `${plan.id}.key`));
  } catch (error) {
    return (error as Error).message;
  }
  return actual === algorithm ? undefined : `its key is ${actual}, the spec asks for ${algorithm} (pki.keyAlgorithm)`;
}

function difference(what: string, planned: readonly string[], seen: readonly string[]): string | undefined {
  const missing = planned.filter((p) => !seen.includes(p));
  const extra = seen.filter((s) => !planned.includes(s));
  if (missing.length === 0 && extra.length === 0) return undefined;
  const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `not planned ${extra.join(', ')}` : ''].filter(Boolean);
  return `${what}: ${parts.join(', ')}`;
}
