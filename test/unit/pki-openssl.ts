// Runs the real openssl for the PKI tests: the tests judge our certificates with the tool a
// learner (and most guides) would use, never with our own parser alone.

import { execFile } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs openssl; resolves with its exit code and output, also when it fails. */
export function openssl(...args: string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`could not run \`openssl ${args.join(' ')}\`: ${error.message} (is the openssl package installed?)`));
        return;
      }
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
    });
  });
}

/** Runs openssl and returns stdout; throws with the command and its stderr when it fails. */
export async function opensslOk(...args: string[]): Promise<string> {
  const result = await openssl(...args);
  if (result.code !== 0) {
    throw new Error(`\`openssl ${args.join(' ')}\` failed with exit code ${result.code}:\n${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** The public key of a certificate and of a private key, as openssl prints them (PEM). */
export async function publicKeysOf(certFile: string, keyFile: string): Promise<{ fromCert: string; fromKey: string }> {
  const [fromCert, fromKey] = await Promise.all([
    opensslOk('x509', '-noout', '-pubkey', '-in', certFile),
    opensslOk('pkey', '-pubout', '-in', keyFile),
  ]);
  return { fromCert, fromKey };
}
