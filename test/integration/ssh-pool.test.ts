// The SSH layer against a real OpenSSH server on 127.0.0.1 (see test/helpers/local-sshd.ts).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import type { LabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import {
  HostKeyChangedError,
  HostKeyPins,
  SshCommandError,
  SshCommandInterruptedError,
  SshPool,
  SshUnreachableError,
} from '../../main/ssh/ssh-pool.ts';
import type { SshEndpoint } from '../../main/providers/provider.ts';
import { createLocalSshd, freeLoopbackPort, localSshdUnavailableReason, startLocalSshd } from '../helpers/local-sshd.ts';
import type { LocalSshd } from '../helpers/local-sshd.ts';

const unavailable = localSshdUnavailableReason();
if (unavailable) console.warn(`SKIPPED: SSH pool tests need a local OpenSSH server: ${unavailable}`);

describe('SshPool against a real OpenSSH sshd', { skip: unavailable, timeout: 180_000 }, () => {
  let work: string;
  let key: LabSshKey;
  let sshd: LocalSshd;
  let pool: SshPool;
  let remoteDir: string;
  const pools: SshPool[] = [];
  const daemons: LocalSshd[] = [];

  function makePool(endpoint: SshEndpoint, pinsFile = join(work, `pins-${pools.length}.json`), privateKey = key.privateKey): SshPool {
    const made = new SshPool({ privateKey, hostKeys: new HostKeyPins(pinsFile), resolve: () => endpoint, connectTimeoutMs: 5000 });
    pools.push(made);
    return made;
  }

  async function makeSshd(): Promise<LocalSshd> {
    const made = await startLocalSshd({ authorizedKeys: key.publicKey });
    daemons.push(made);
    return made;
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'hwl-ssh-pool-'));
    key = await ensureLabSshKey(join(work, 'ssh'));
    sshd = await makeSshd();
    pool = makePool(sshd.endpoint);
    // The "remote" side is this machine, so uploads land in a directory of our own.
    remoteDir = join(work, 'remote');
  });

  after(async () => {
    for (const each of pools) each.close();
    for (const each of daemons) await each.dispose();
    await rm(work, { recursive: true, force: true });
  });

  test('exec returns stdout, stderr and the exit code, streaming both as they come', async () => {
    const streamed = { stdout: '', stderr: '' };
    const result = await pool.exec('controller-0', 'echo out; echo err >&2; exit 3', {
      onStdout: (chunk) => (streamed.stdout += chunk),
      onStderr: (chunk) => (streamed.stderr += chunk),
    });
    assert.deepEqual(result, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    assert.deepEqual(streamed, { stdout: 'out\n', stderr: 'err\n' });
  });

  test('exec feeds stdin and keeps multi-byte characters whole', async () => {
    const text = `${'é€🙂'.repeat(20_000)}\n`;
    const result = await pool.exec('controller-0', 'cat', { stdin: text });
    assert.equal(result.code, 0);
    assert.equal(result.stdout, text);
  });

  test('run throws SshCommandError naming the node, the command, the code and the last output lines', async () => {
    const command = 'for i in $(seq 1 50); do echo line-$i; done; echo broken >&2; exit 7';
    await assert.rejects(pool.run('worker-1', command), (error: unknown) => {
      assert.ok(error instanceof SshCommandError);
      assert.equal(error.node, 'worker-1');
      assert.equal(error.command, command);
      assert.equal(error.code, 7);
      assert.match(error.message, /node worker-1 exited with code 7/);
      assert.match(error.message, /seq 1 50/);
      assert.match(error.message, /broken/);
      assert.match(error.message, /line-50/);
      assert.doesNotMatch(error.message, /line-20\b/, 'only the last lines belong in the message');
      return true;
    });
    assert.equal((await pool.run('worker-1', 'echo fine')).stdout, 'fine\n');
  });

  test('a command past its time limit is stopped on the node and reported', async () => {
    // A fractional sleep no other process uses; `slee[p]` keeps pgrep from matching its own shell.
    const seconds = `60.${process.pid}`;
    const started = Date.now();
    // Generous limit: on a busy host a login shell can take seconds to start.
    await assert.rejects(pool.exec('controller-0', `echo started; sleep ${seconds}; echo after`, { timeoutMs: 4000 }), (error: unknown) => {
      assert.ok(error instanceof SshCommandInterruptedError);
      assert.equal(error.reason, 'timeout');
      assert.equal(error.stdout, 'started\n');
      assert.match(error.message, /did not finish within 4 s/);
      return true;
    });
    assert.ok(Date.now() - started < 9000, `stopping took ${Date.now() - started} ms`);
    const left = await pool.exec('controller-0', `pgrep -f 'slee[p] ${seconds}' || true`);
    assert.equal(left.stdout, '', 'the timed-out command must not keep running');
  });

  test('an aborted command is stopped on the node, even before its shell got going', async () => {
    for (const abortAfterMs of [0, 30, 1500]) {
      const seconds = `61.${process.pid}${abortAfterMs}`;
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('user pressed stop')), abortAfterMs);
      await assert.rejects(pool.exec('controller-0', `sleep ${seconds} | cat; echo after >&2`, { signal: controller.signal }), /user pressed stop/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const left = await pool.exec('controller-0', `pgrep -f 'slee[p] ${seconds}' || true`);
      assert.equal(left.stdout, '', `still running after an abort at ${abortAfterMs} ms`);
    }
  });

  test('upload writes content with exactly the given mode and creates parent directories', async () => {
    const secret = join(remoteDir, 'etc/kubernetes/pki/ca-key.pem');
    const script = join(remoteDir, 'usr/local/bin/hello.sh');
    await pool.upload('controller-0', 'KEY DATA\n', secret, 0o600);
    await pool.upload('controller-0', Buffer.from('#!/bin/sh\necho hello from upload\n'), script, 0o755);

    const modes = await pool.run('controller-0', `umask 077; stat -c '%a %s' ${secret} ${script}; ${script}`);
    assert.equal(modes.stdout, `600 9\n755 33\nhello from upload\n`);
    assert.equal((await pool.run('controller-0', `stat -c %a ${join(remoteDir, 'etc/kubernetes/pki')}`)).stdout, '755\n');

    // Replacing keeps the exact new mode and content, and leaves no temporary files behind.
    await pool.upload('controller-0', 'NEW\n', secret, 0o640);
    assert.equal((await pool.run('controller-0', `stat -c %a ${secret}; cat ${secret}; ls -A ${join(remoteDir, 'etc/kubernetes/pki')}`)).stdout, '640\nNEW\nca-key.pem\n');
  });

  test('upload without mkdirs refuses a missing directory with a clear error', async () => {
    const target = join(remoteDir, 'no/such/dir/file');
    await assert.rejects(pool.upload('worker-0', 'x', target, 0o644, { mkdirs: false }), (error: Error) => {
      assert.equal(error.name, 'SshUploadError');
      assert.ok(error.message.includes(`Uploading ${target} to node worker-0 failed`));
      return true;
    });
  });

  test('uploadFile streams a 50 MB binary intact', async () => {
    const local = join(work, 'big.bin');
    const hash = createHash('sha256');
    const out = createWriteStream(local);
    for (let i = 0; i < 50; i++) {
      const chunk = randomBytes(1024 * 1024);
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await finished(out);
    const expected = hash.digest('hex');

    const remote = join(remoteDir, 'opt/bin/big-binary');
    const started = Date.now();
    await pool.uploadFile('worker-0', local, remote, 0o755);
    const seconds = (Date.now() - started) / 1000;
    const check = await pool.run('worker-0', `stat -c %a ${remote}; sha256sum ${remote}`);
    assert.equal(check.stdout, `755\n${expected}  ${remote}\n`);
    console.log(`uploadFile: 50 MB in ${seconds.toFixed(1)} s`);
    // Sanity: the local copy is what we hashed (guards against a truncated write above).
    const again = createHash('sha256');
    for await (const chunk of createReadStream(local)) again.update(chunk as Buffer);
    assert.equal(again.digest('hex'), expected);
  });

  test('shell gives an interactive PTY that can be resized', async () => {
    const shell = await pool.shell('controller-0', { cols: 80, rows: 24 });
    try {
      const screen = collect(shell);
      // $((..)) makes the marker appear only in the output, never in the echoed input line.
      shell.write('tty; echo END-$((40+1))\n');
      assert.match(await screen.until(/END-41/), /\/dev\/pts\/\d+/);

      shell.write('hostname; echo END-$((40+2))\n');
      assert.ok((await screen.until(/END-42/)).includes(hostname()));

      assert.match(await (shell.write('stty size; echo END-$((40+3))\n'), screen.until(/END-43/)), /\b24 80\b/);
      shell.setWindow(40, 100, 0, 0);
      shell.write('stty size; echo END-$((40+4))\n');
      assert.match(await screen.until(/END-44/), /\b40 100\b/);
    } finally {
      shell.end('exit\n');
    }
  });

  test('many concurrent commands share one connection and queue beyond MaxSessions', async () => {
    // A server of its own, so every connection it sees comes from this pool.
    const own = await makeSshd();
    const reused = makePool(own.endpoint);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => reused.run('worker-2', `sleep 0.2; echo ${i}`)));
    assert.deepEqual(
      results.map((r) => r.stdout),
      Array.from({ length: 30 }, (_, i) => `${i}\n`),
    );
    assert.equal(reused.connectionsOpened('worker-2'), 1);
    const established = execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${own.port} )`], { encoding: 'utf8' });
    assert.equal(established.trim().split('\n').filter(Boolean).length, 1, `connections to sshd:\n${established}`);
  });

  test('first contact pins the host key; a new host key is refused until the pin is forgotten', async () => {
    const own = await makeSshd();
    const pinsFile = join(work, 'pins-hostkey.json');
    const pinned = makePool(own.endpoint, pinsFile);
    await pinned.run('controller-1', 'true');
    const pins = new HostKeyPins(pinsFile);
    assert.equal(pins.get('controller-1')?.fingerprint, own.hostKeyFingerprint);
    const oldFingerprint = own.hostKeyFingerprint;

    await own.restartWithNewHostKey();
    assert.notEqual(own.hostKeyFingerprint, oldFingerprint);
    await assert.rejects(pinned.exec('controller-1', 'true'), (error: unknown) => {
      assert.ok(error instanceof HostKeyChangedError, `expected HostKeyChangedError, got ${error}`);
      assert.equal(error.node, 'controller-1');
      assert.ok(error.message.includes(oldFingerprint));
      assert.ok(error.message.includes(own.hostKeyFingerprint));
      assert.match(error.message, /ssh-forget controller-1/);
      return true;
    });
    // waitForSsh does not spin on a changed key either.
    await assert.rejects(pinned.waitForSsh('controller-1', { timeoutMs: 30_000 }), HostKeyChangedError);

    assert.equal(pins.forget('controller-1'), true);
    assert.equal((await pinned.run('controller-1', 'echo again')).stdout, 'again\n');
    assert.equal(pins.get('controller-1')?.fingerprint, own.hostKeyFingerprint);
  });

  test('waitForSsh on a port where nothing listens gives up with the node name and its console tail', async () => {
    const port = await freeLoopbackPort();
    const waiting = makePool({ host: '127.0.0.1', port, user: 'root' });
    const attempts: string[] = [];
    const started = Date.now();
    await assert.rejects(
      waiting.waitForSsh('worker-3', {
        timeoutMs: 3000,
        consoleTail: async () => '[    4.2] Kernel panic - not syncing: VFS: Unable to mount root fs',
        onAttempt: (attempt, error) => attempts.push(`${attempt}: ${error}`),
      }),
      (error: unknown) => {
        assert.ok(error instanceof SshUnreachableError);
        assert.equal(error.node, 'worker-3');
        assert.match(error.message, /node worker-3/);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        assert.match(error.message, /Kernel panic - not syncing/);
        assert.match(error.message, /connection refused/);
        return true;
      },
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 3000 && elapsed < 10_000, `gave up after ${elapsed} ms`);
    assert.ok(attempts.length >= 3, `retried: ${attempts.join(', ')}`);
  });

  test('waitForSsh succeeds when sshd comes up a few seconds after the wait started', async () => {
    const late = await createLocalSshd({ authorizedKeys: key.publicKey });
    daemons.push(late);
    const waiting = makePool(late.endpoint);
    const started = Date.now();
    const starting = new Promise<void>((resolve, reject) => setTimeout(() => late.start().then(resolve, reject), 3000));
    await waiting.waitForSsh('worker-4', { timeoutMs: 30_000 });
    await starting;
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 3000 && elapsed < 15_000, `came up after ${elapsed} ms`);
    assert.equal((await waiting.run('worker-4', 'echo up')).stdout, 'up\n');
  });

  test('a dropped connection fails the running command and is re-established on the next call', async () => {
    const flaky = await makeSshd();
    const reconnecting = makePool(flaky.endpoint);
    await reconnecting.run('controller-2', 'true');
    assert.equal(reconnecting.connectionsOpened('controller-2'), 1);

    let begun!: () => void;
    const sawBegun = new Promise<void>((resolve) => (begun = resolve));
    const running = reconnecting.exec('controller-2', 'echo begun; sleep 60', { onStdout: (text) => text.includes('begun') && begun() });
    const outcome = running.then(
      () => undefined,
      (error: unknown) => error,
    );
    await sawBegun;
    await flaky.stop();
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof SshCommandInterruptedError);
      assert.equal(error.reason, 'connection-lost');
      assert.match(error.message, /node controller-2 lost its SSH connection/);
      assert.equal(error.stdout, 'begun\n');
      return true;
    });
    assert.ok((await outcome) instanceof SshCommandInterruptedError);
    assert.equal(reconnecting.isConnected('controller-2'), false);

    // While it is down the error says so ...
    await assert.rejects(reconnecting.exec('controller-2', 'true'), SshUnreachableError);
    // ... and once it is back (same host key) the next call simply works.
    await flaky.start();
    assert.equal((await reconnecting.run('controller-2', 'echo back')).stdout, 'back\n');
    await reconnecting.upload('controller-2', 'after reconnect\n', join(remoteDir, 'reconnect.txt'), 0o644);
    assert.ok(reconnecting.connectionsOpened('controller-2') >= 2);
  });

  test('a node that does not accept the lab key is reported as a login problem', async () => {
    const otherKey = await ensureLabSshKey(join(work, 'other-lab-ssh'));
    const stranger = makePool(sshd.endpoint, undefined, otherKey.privateKey);
    await assert.rejects(stranger.exec('worker-5', 'true'), (error: unknown) => {
      assert.ok(error instanceof SshUnreachableError);
      assert.match(error.message, /login refused/);
      assert.match(error.message, /authorized_keys/);
      return true;
    });
  });
});

/** Accumulates a shell's output and waits for patterns in it. */
function collect(channel: ClientChannel): { until(pattern: RegExp, timeoutMs?: number): Promise<string> } {
  let buffer = '';
  let waiter: (() => void) | undefined;
  channel.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    waiter?.();
  });
  return {
    until(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`shell output never matched ${pattern}; got:\n${buffer}`)), timeoutMs);
        const check = (): void => {
          const match = pattern.exec(buffer);
          if (!match) return;
          clearTimeout(timer);
          waiter = undefined;
          const seen = buffer.slice(0, match.index + match[0].length);
          buffer = buffer.slice(match.index + match[0].length);
          resolve(seen);
        };
        waiter = check;
        check();
      });
    },
  };
}
