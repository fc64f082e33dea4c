// Where the lab's certificates and keys live: pki/<id>.crt, pki/<id>.key, pki/<id>.pub.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabPaths } from '../lab/lab-dir.ts';

export type PkiPart = 'crt' | 'key' | 'pub';

export const PKI_DIR_MODE = 0o700;
export const PUBLIC_FILE_MODE = 0o644;
export const PRIVATE_FILE_MODE = 0o600;

export function pkiFilePath(paths: LabPaths, id: string, part: PkiPart): string {
  return join(paths.pki, `${id}.${part}`);
}

/** Reads one PKI file; when it is missing, says which and how to create it. */
export function readPkiFile(paths: LabPaths, id: string, part: PkiPart): string {
  const file = pkiFilePath(paths, id, part);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(`${file} does not exist: run \`hardway-lab pki\` to create the lab's certificates and keys`);
    }
    throw new Error(`cannot read ${file} (${code ?? (error as Error).message}): check its permissions, or run \`hardway-lab pki\` to re-create it`);
  }
}

/** The file's text, or undefined when it does not exist (other errors are thrown). */
export function readOptionalFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
}
