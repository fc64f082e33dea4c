// The key for Kubernetes encryption at rest (aescbc, key1): 32 random bytes, base64, created once
// and kept. Replacing it would make every secret already stored in etcd unreadable.

import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { LabPaths } from '../lab/lab-dir.ts';
import { readOptionalFile } from './pki-files.ts';
import { ensureDirectory, writeFileAtomic } from './write-file-atomic.ts';

export const ENCRYPTION_KEY_BYTES = 32;

export function encryptionKeyPath(paths: LabPaths): string {
  return join(paths.secrets, 'encryption-key');
}

/** Returns the lab's encryption key (base64), creating it on first use. */
export async function ensureEncryptionKey(paths: LabPaths): Promise<string> {
  ensureDirectory(paths.secrets, 0o700);
  const file = encryptionKeyPath(paths);
  const existing = readOptionalFile(file);
  if (existing !== undefined) {
    const key = existing.trim();
    if (Buffer.from(key, 'base64').length !== ENCRYPTION_KEY_BYTES || !/^[A-Za-z0-9+/]+=*$/.test(key)) {
      // Never replace it silently: the secrets in etcd were encrypted with whatever key was there.
      throw new Error(
        `${file} does not hold ${ENCRYPTION_KEY_BYTES} base64-encoded bytes: restore it from a backup, or delete it to create a new key (secrets already stored in etcd then become unreadable)`,
      );
    }
    chmodSync(file, 0o600);
    return key;
  }
  const key = randomBytes(ENCRYPTION_KEY_BYTES).toString('base64');
  // No trailing newline: whoever embeds the file's text verbatim gets exactly the key.
  writeFileAtomic(file, key, 0o600);
  return key;
}
