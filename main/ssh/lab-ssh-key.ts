// The lab's one SSH identity: an ed25519 key pair the VMs trust for root. Created once per lab and
// kept across runs, because every VM's authorized_keys holds its public half.

import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { generateOpenSshEd25519 } from './openssh-ed25519-key.ts';

const { utils } = ssh2;

const KEY_COMMENT = 'hardway-lab';

export interface LabSshKey {
  privateKeyPath: string;
  /** OpenSSH-format private key. */
  privateKey: Buffer;
  /** The authorized_keys line: `ssh-ed25519 AAAA... hardway-lab`. */
  publicKey: string;
}

export async function ensureLabSshKey(sshDir: string): Promise<LabSshKey> {
  await mkdir(sshDir, { recursive: true, mode: 0o700 });
  await chmod(sshDir, 0o700);
  const privateKeyPath = join(sshDir, 'id_ed25519');

  let privateKey = await readIfExists(privateKeyPath);
  if (!privateKey) {
    await createExclusively(privateKeyPath, generateOpenSshEd25519(KEY_COMMENT).privateKey);
    // Another process may have won the race; whatever is on disk now is the lab's key.
    privateKey = await readFile(privateKeyPath);
  }
  await chmod(privateKeyPath, 0o600);

  const publicKey = publicKeyLine(privateKey, privateKeyPath);
  await writeFile(`${privateKeyPath}.pub`, `${publicKey}\n`, { mode: 0o644 });
  return { privateKeyPath, privateKey, publicKey };
}

/** The authorized_keys line for a private key, derived from the key itself (the .pub file is only a copy). */
export function publicKeyLine(privateKey: Buffer, where = 'the lab SSH key'): string {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    const reason = parsed instanceof Error ? parsed.message : 'not a private key';
    throw new Error(
      `${where} is not a usable OpenSSH private key (${reason}). ` +
        'Restore it from a backup, or delete it and run `hardway-lab destroy` then `hardway-lab up` so the VMs trust a new key.',
    );
  }
  return `${parsed.type} ${parsed.getPublicSSH().toString('base64')} ${KEY_COMMENT}`;
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes a 0600 file under a temporary name and links it into place, so nobody sees half a key. */
async function createExclusively(path: string, content: string): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
}
