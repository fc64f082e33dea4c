// Key pairs for the lab: generated with WebCrypto (ECDSA P-256 by default, RSA-2048 on request),
// written as PKCS#8 / SPKI PEM, and read back with node:crypto, which understands every PEM
// flavour a learner might hand us (PKCS#8, PKCS#1, SEC1).

import { createPrivateKey, createPublicKey, type KeyObject, type webcrypto } from 'node:crypto';
import type { KeyAlgorithm } from '../spec/cluster-spec.ts';
import { webCrypto, type CryptoKey, type CryptoKeyPair } from './x509.ts';
import { decodePem, encodePem } from './pem.ts';

const GENERATE: Record<KeyAlgorithm, webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams> = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
};

const IMPORT: Record<KeyAlgorithm, webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams> = {
  'ecdsa-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};

/** How certificates are signed with a key of this algorithm: always SHA-256. */
export function signingAlgorithm(algorithm: KeyAlgorithm): webcrypto.Algorithm | webcrypto.EcdsaParams {
  return algorithm === 'ecdsa-p256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
}

export async function generateKeyPair(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await webCrypto.subtle.generateKey(GENERATE[algorithm], true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem('PRIVATE KEY', await webCrypto.subtle.exportKey('pkcs8', key));
}

export async function publicKeyPem(key: CryptoKey): Promise<string> {
  return encodePem('PUBLIC KEY', await webCrypto.subtle.exportKey('spki', key));
}

/**
 * The key's algorithm in the spec's words (`ecdsa-p256`, `rsa-2048`), or a description of what
 * it is instead (`rsa-4096`, `ec-secp384r1`, `ed25519`) so a mismatch can be reported.
 */
export function keyAlgorithmName(key: KeyObject): string {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return details.namedCurve === 'prime256v1' ? 'ecdsa-p256' : `ec-${details.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `rsa-${details.modulusLength}`;
  return String(key.asymmetricKeyType);
}

export function isKeyAlgorithm(name: string): name is KeyAlgorithm {
  return Object.hasOwn(GENERATE, name);
}

/** Parses a private key PEM; throws naming the source when it is not a private key. */
export function parsePrivateKey(pem: string, source: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new Error(`${source}: not a readable private key (${(error as Error).message})`);
  }
}

/** The DER SubjectPublicKeyInfo of a private key's public half: what a certificate must carry. */
export function publicKeyInfoOf(privateKey: KeyObject): Uint8Array {
  return new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
}

/** The DER SubjectPublicKeyInfo in a `PUBLIC KEY` PEM (service-account .pub files). */
export function publicKeyInfoOfPem(pem: string, source: string): Uint8Array {
  return decodePem(pem, 'PUBLIC KEY', source);
}

/** A private key ready to sign certificates with WebCrypto. */
export async function importSigningKey(privateKey: KeyObject, source: string): Promise<{ key: CryptoKey; algorithm: KeyAlgorithm }> {
  const algorithm = keyAlgorithmName(privateKey);
  if (!isKeyAlgorithm(algorithm)) {
    throw new Error(`${source}: a ${algorithm} key cannot sign lab certificates; use ecdsa-p256 or rsa-2048`);
  }
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const key = await webCrypto.subtle.importKey('pkcs8', pkcs8, IMPORT[algorithm], false, ['sign']);
  return { key, algorithm };
}
