import assert from 'node:assert/strict';
import type { ExecFileSyncOptionsWithStringEncoding } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import ssh2 from 'ssh2';
import { HostKeyChangedError, HostKeyPins, hostKeyFingerprint, hostKeyType } from '../../main/ssh/host-key-pins.ts';

const root = await mkdtemp(join(tmpdir(), 'hwl-pins-'));
after(() => rm(root, { recursive: true, force: true }));

// stdin closed and a time limit: ssh-keygen must never sit waiting for a passphrase prompt.
const keygenOptions: ExecFileSyncOptionsWithStringEncoding = { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 };

function newHostKeyBlob(): Buffer {
  const { public: line } = ssh2.utils.generateKeyPairSync('ed25519');
  return Buffer.from(line.split(' ')[1]!, 'base64');
}

test('fingerprints are the ones OpenSSH prints', async (t) => {
  const dir = await mkdtemp(join(root, 'keygen-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'key')], keygenOptions);
  } catch (error) {
    console.warn(`SKIPPED: ssh-keygen is not available (${(error as Error).message})`);
    t.skip('ssh-keygen missing');
    return;
  }
  const line = await readFile(join(dir, 'key.pub'), 'utf8');
  const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'key.pub')], keygenOptions);
  const blob = Buffer.from(line.split(' ')[1]!, 'base64');
  assert.equal(hostKeyFingerprint(blob), printed.split(' ')[1]);
  assert.equal(hostKeyType(blob), 'ssh-ed25519');
});

test('first contact pins, the same key matches, a different key is refused with a useful message', async () => {
  const file = join(root, 'a', 'known-hosts.json');
  const pins = new HostKeyPins(file);
  const original = newHostKeyBlob();
  const replacement = newHostKeyBlob();

  assert.equal(pins.verify('worker-0', '127.0.0.1:2201', original), 'pinned');
  assert.equal(pins.verify('worker-0', '127.0.0.1:2201', original), 'matched');
  const pin = new HostKeyPins(file).get('worker-0');
  assert.equal(pin?.fingerprint, hostKeyFingerprint(original));
  assert.equal(pin?.keyType, 'ssh-ed25519');
  assert.equal(pin?.endpoint, '127.0.0.1:2201');
  assert.ok(!Number.isNaN(Date.parse(pin!.firstSeen)));
  assert.equal((await stat(file)).mode & 0o777, 0o600);

  assert.throws(
    () => pins.verify('worker-0', '127.0.0.1:2201', replacement),
    (error: unknown) => {
      assert.ok(error instanceof HostKeyChangedError);
      assert.equal(error.node, 'worker-0');
      assert.match(error.message, /node worker-0/);
      assert.ok(error.message.includes(hostKeyFingerprint(original)));
      assert.ok(error.message.includes(hostKeyFingerprint(replacement)));
      assert.match(error.message, /hardway-lab ssh-forget worker-0/);
      return true;
    },
  );
  // Another node may have its own key.
  assert.equal(pins.verify('worker-1', '127.0.0.1:2202', replacement), 'pinned');
});

test('forget and forgetAll drop pins; writes leave no temporary files', async () => {
  const dir = join(root, 'b');
  const pins = new HostKeyPins(join(dir, 'known-hosts.json'));
  pins.verify('controller-0', '127.0.0.1:2201', newHostKeyBlob());
  pins.verify('controller-1', '127.0.0.1:2202', newHostKeyBlob());

  assert.equal(pins.forget('controller-0'), true);
  assert.equal(pins.forget('controller-0'), false);
  assert.equal(pins.verify('controller-0', '127.0.0.1:2201', newHostKeyBlob()), 'pinned');
  pins.forgetAll();
  assert.deepEqual(pins.all(), {});
  assert.deepEqual(await readdir(dir), ['known-hosts.json']);
});

test('a damaged pin file is reported with its path', async () => {
  const file = join(root, 'c', 'known-hosts.json');
  await mkdir(join(root, 'c'));
  await writeFile(file, '{ not json');
  assert.throws(() => new HostKeyPins(file).get('x'), /known-hosts\.json is damaged/);
});
