// Secrets stay in the main process: no API reply ever carries a private key (the CA key, any leaf
// key, the lab's SSH key) or the encryption-at-rest key. Every read-only call of the contract is
// made against a lab made by the real CLI, and the replies are searched for the actual key
// material from the lab directory. The guard that refuses a leaking reply is tested as well.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiConnection, containsPrivateKey, type ApiBackend } from '../../main/api/api-connection.ts';
import type { ApiEvent, ApiReply } from '../../main/shared/api-contract.ts';
import { LabService } from '../../main/api/lab-service.ts';

const root = new URL('../..', import.meta.url).pathname;
let labDir: string;
let service: LabService;

before(async () => {
  labDir = await mkdtemp(join(tmpdir(), 'hwl-api-secrets-'));
  execFileSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'render', '--lab', labDir], { stdio: 'pipe' });
  service = await LabService.create({ lab: labDir, statusTtlMs: 0 });
});

after(async () => {
  await service?.dispose();
  if (labDir) await rm(labDir, { recursive: true, force: true });
});

/** The secret material of the lab, as the distinctive strings that would show up in a leak. */
function secretsOfLab(): Array<{ file: string; needle: string }> {
  const found: Array<{ file: string; needle: string }> = [];
  const pemBody = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  for (const name of readdirSync(join(labDir, 'pki'))) {
    if (!name.endsWith('.key')) continue;
    const body = pemBody(readFileSync(join(labDir, 'pki', name), 'utf8'));
    // The first 40 characters of the key body, also as they would appear wrapped or in JSON.
    found.push({ file: `pki/${name}`, needle: body.slice(20, 60) });
  }
  for (const name of readdirSync(join(labDir, 'secrets'))) {
    found.push({ file: `secrets/${name}`, needle: readFileSync(join(labDir, 'secrets', name), 'utf8').trim() });
  }
  const sshKey = join(labDir, 'ssh', 'id_ed25519');
  try {
    found.push({ file: 'ssh/id_ed25519', needle: pemBody(readFileSync(sshKey, 'utf8')).slice(20, 60) });
  } catch {
    // Made on the first call that needs SSH; checked again below once it exists.
  }
  return found;
}

test('no reply of any read-only API call contains a private key or the encryption key', async () => {
  const events: ApiEvent[] = [];
  const connection = new ApiConnection(service, (event) => events.push(event));
  const replies: Array<{ call: string; reply: ApiReply }> = [];
  const call = async (method: string, ...params: unknown[]) => replies.push({ call: method, reply: await connection.handle(method, params) });

  await call('getLab');
  await call('listSteps');
  await call('getStepStates');
  await call('listOperations');
  await call('listTerminals');
  await call('getStatus');
  await call('attachTerminal', 'term-doesnotexist');
  await call('checkStep', 'no-such-step');
  connection.dispose();

  const lab = replies.find((r) => r.call === 'getLab')!.reply;
  assert.equal((lab.result as { name: string }).name, 'hardway', 'the calls really ran');
  assert.equal((lab.result as { nodes: unknown[] }).nodes.length, 6);

  const secrets = secretsOfLab();
  assert.ok(secrets.some((s) => s.file === 'pki/ca.key'), 'the CA key is among the secrets searched for');
  assert.ok(secrets.some((s) => s.file === 'ssh/id_ed25519'), 'the lab SSH key exists by now and is searched for');
  const everything = JSON.stringify({ replies, events });
  assert.equal(containsPrivateKey(everything), false, 'no PEM private key in any reply or event');
  for (const { file, needle } of secrets) {
    assert.ok(needle.length >= 20, `${file} gives a distinctive needle`);
    assert.equal(everything.includes(needle), false, `${file} does not appear in any reply`);
  }
});

test('a reply that would carry a private key is refused, and keys in engine output are removed', async () => {
  const caKey = readFileSync(join(labDir, 'pki', 'ca.key'), 'utf8');
  const listeners = new Set<(event: ApiEvent) => void>();
  // A deliberately broken backend: this is the bug the guard exists for.
  const leaky: ApiBackend = {
    call: (async (method: string) => {
      if (method === 'getLab') return { name: 'x', note: caKey };
      throw new Error(`failed while reading ${caKey}`);
    }) as ApiBackend['call'],
    onEvent: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    holdTerminal: () => {},
    releaseTerminal: () => {},
    releaseConsumer: () => {},
  };
  const sent: ApiEvent[] = [];
  const connection = new ApiConnection(leaky, (event) => sent.push(event));

  const refused = await connection.handle('getLab', []);
  assert.equal(refused.result, undefined);
  assert.match(refused.error?.message ?? '', /refused to return the result of getLab: it contained a private key/);

  const failed = await connection.handle('listSteps', []);
  assert.equal(containsPrivateKey(failed), false, 'error messages are cleaned too');
  assert.match(failed.error?.message ?? '', /private key removed/);

  for (const listener of listeners) listener({ kind: 'lab', event: { type: 'log', stream: 'stdout', node: 'controller-0', line: `cat said: ${caKey}` } });
  assert.equal(sent.length, 1);
  assert.equal(containsPrivateKey(sent), false);
  assert.match(JSON.stringify(sent), /cat said: \[private key removed/);
  connection.dispose();
});
