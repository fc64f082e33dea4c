// The encryption-config step's checker: the encryption config is the lab's, private, identical on every controller (a
// secret written by one API server must be readable by the others), and says aescbc key1 first.

import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import type { RemoteFile } from '../engine/node-session.ts';
import { fileProbes } from './certificates.ts';
import { probe } from './probe.ts';

export const ENCRYPTION_CONFIG_PATH = '/var/lib/kubernetes/encryption-config.yaml';
const COPY_AGAIN = 'run `hardway-lab up --step encryption-config` to copy the lab\'s encryption config to every controller';

/** What the file says about secrets: the provider order and the first key. */
export function describeEncryptionConfig(text: string): { firstProvider?: string; keyName?: string; keyBytes?: number; hasIdentity: boolean } {
  const doc = parse(text) as { resources?: { resources?: string[]; providers?: Record<string, { keys?: { name?: string; secret?: string }[] }>[] }[] };
  const forSecrets = doc.resources?.find((r) => r.resources?.includes('secrets'));
  const providers = forSecrets?.providers ?? [];
  const first = providers[0];
  const firstProvider = first ? Object.keys(first)[0] : undefined;
  const key = firstProvider ? first?.[firstProvider]?.keys?.[0] : undefined;
  return {
    firstProvider,
    keyName: key?.name,
    keyBytes: key?.secret ? Buffer.from(key.secret, 'base64').length : undefined,
    hasIdentity: providers.some((p) => 'identity' in p),
  };
}

export function encryptionConfigProbes(controllers: { node: PlannedNode; remote: RemoteFile | undefined }[], rendered: string | undefined): Probe[] {
  const probes: Probe[] = [];
  for (const { node, remote } of controllers) {
    const file = node.files.find((f) => f.origin.kind === 'encryption-config');
    if (!file) continue;
    probes.push(...fileProbes(node.name, file, remote, rendered, "the lab's encryption config", COPY_AGAIN));
    if (!remote) continue;
    let facts: ReturnType<typeof describeEncryptionConfig> | undefined;
    let error = '';
    try {
      facts = describeEncryptionConfig(remote.content.toString('utf8'));
    } catch (e) {
      error = (e as Error).message;
    }
    const ok = facts?.firstProvider === 'aescbc' && facts.keyName === 'key1' && facts.keyBytes === 32 && facts.hasIdentity;
    probes.push(
      probe({
        name: 'secrets encrypted with aescbc key1',
        node: node.name,
        ok,
        expected: 'providers: aescbc (key1, 32-byte key) first, identity after it',
        seen: facts ? `first ${facts.firstProvider ?? 'none'}, key ${facts.keyName ?? 'none'} (${facts.keyBytes ?? 0} bytes), identity ${facts.hasIdentity ? 'present' : 'absent'}` : `unreadable: ${error}`,
        hint: `new secrets are written with the first provider; ${COPY_AGAIN}`,
      }),
    );
  }
  const hashes = controllers.map((c) => ({ node: c.node.name, hash: c.remote ? createHash('sha256').update(c.remote.content).digest('hex').slice(0, 12) : 'missing' }));
  const distinct = new Set(hashes.map((h) => h.hash));
  probes.push(
    probe({
      name: 'identical on all controllers',
      ok: distinct.size === 1 && !distinct.has('missing'),
      expected: `the same file on ${controllers.map((c) => c.node.name).join(', ')}`,
      seen: hashes.map((h) => `${h.node} ${h.hash}`).join(', '),
      hint: `a secret written through one API server could not be read through another; ${COPY_AGAIN}`,
    }),
  );
  return probes;
}
