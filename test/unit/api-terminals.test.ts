// The terminals' server side against a REAL OpenSSH server on 127.0.0.1 (no VMs): PTY shells
// through the lab's SSH pool, output coalescing, resize, flow control per client, a dropped
// connection that reconnects, and a shell that exits.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ApiConnection } from '../../main/api/api-connection.ts';
import type { ApiEvent, TerminalInfo } from '../../main/shared/api-contract.ts';
import { LabService } from '../../main/api/lab-service.ts';
import { HIGH_WATER } from '../../main/api/terminal-sessions.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { localSshdUnavailableReason, startLocalSshd, type LocalSshd } from '../helpers/local-sshd.ts';

const skip = localSshdUnavailableReason();
if (skip) console.warn(`SKIPPED: api-terminals: ${skip}`);

const root = new URL('../..', import.meta.url).pathname;
let labDir: string;
let sshd: LocalSshd;
let service: LabService;

before(async () => {
  if (skip) return;
  labDir = await mkdtemp(join(tmpdir(), 'hwl-api-term-'));
  execFileSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'render', '--lab', labDir], { stdio: 'pipe' });
  const key = await ensureLabSshKey(join(labDir, 'ssh'));
  sshd = await startLocalSshd({ authorizedKeys: key.publicKey });
  // Every node of the plan is the local sshd: real SSH, real PTY, no VMs.
  service = await LabService.create({ lab: labDir, sshEndpoint: () => sshd.endpoint, terminalOptions: { reconnectDelaysMs: [200, 400, 800] } });
});

after(async () => {
  await service?.dispose();
  await sshd?.dispose();
  if (labDir) await rm(labDir, { recursive: true, force: true });
});

/** A client of the service that records what it receives, like a page would. */
function client(options: { ack?: boolean } = {}) {
  const output = new Map<string, string>();
  const states: Array<Extract<ApiEvent, { kind: 'terminal-state' }>> = [];
  let events = 0;
  let connection: ApiConnection;
  connection = new ApiConnection(service, (event) => {
    events++;
    if (event.kind === 'terminal-output') {
      output.set(event.id, (output.get(event.id) ?? '') + event.data);
      if (options.ack !== false) void connection.handle('terminalAck', [event.id, event.data.length]);
    } else if (event.kind === 'terminal-state') states.push(event);
  });
  const call = async <T>(method: string, ...params: unknown[]): Promise<T> => {
    const reply = await connection.handle(method, params);
    if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
    return reply.result as T;
  };
  return { connection, output, states, call, events: () => events };
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('a terminal is a real PTY shell: hostname, resize, and the node name is checked', { skip }, async () => {
  const c = client();
  await assert.rejects(c.call('openTerminal', 'no-such-node', 80, 24), /no node named "no-such-node"/);
  const info = await c.call<TerminalInfo>('openTerminal', 'controller-0', 80, 24);
  assert.equal(info.state, 'connected');
  assert.equal(info.node, 'controller-0');
  const text = () => c.output.get(info.id) ?? '';

  await c.call('terminalInput', info.id, 'echo "host=$(hostname)"\n');
  await until('hostname output', () => text().includes(`host=${hostname()}`));

  await c.call('terminalResize', info.id, 132, 41);
  await c.call('terminalInput', info.id, 'echo "size=$(stty size)"\n');
  await until('the new size inside the shell', () => text().includes('size=41 132'));

  const attached = await c.call<{ info: TerminalInfo; scrollback: string }>('attachTerminal', info.id);
  assert.ok(attached.scrollback.includes(`host=${hostname()}`), 'a reloaded page gets the recent output back');
  assert.equal(attached.info.cols, 132);
  await c.call('closeTerminal', info.id);
  assert.equal((await c.call<TerminalInfo[]>('listTerminals')).some((t) => t.id === info.id), false);
  c.connection.dispose();
});

test('output is coalesced and a client that stops acknowledging pauses the shell', { skip }, async () => {
  const slow = client({ ack: false });
  const info = await slow.call<TerminalInfo>('openTerminal', 'worker-0', 80, 24);
  const bytes = () => (slow.output.get(info.id) ?? '').length;
  // 8 MB of output, far more than the high-water mark plus every buffer on the way.
  await slow.call('terminalInput', info.id, "head -c 8000000 /dev/zero | tr '\\0' 'x'; echo; echo END-OF-FLOOD-$((40+2))\n");
  await until('the shell to be held back', () => bytes() > HIGH_WATER);
  let last = -1;
  await until('output to stop growing', () => {
    const now = bytes();
    const stable = now === last;
    last = now;
    return stable;
  }, 15_000);
  await new Promise((r) => setTimeout(r, 700));
  const held = bytes();
  assert.ok(held < 6_000_000, `paused well before the end (got ${held} characters)`);
  assert.equal(held, last, 'nothing more arrives while the client is behind');
  assert.ok(slow.events() < held / 1000, `output arrives in batches (${slow.events()} events for ${held} characters)`);

  // Catching up releases the shell: acknowledge everything received so far, then keep acknowledging.
  await slow.call('terminalAck', info.id, held);
  const acked = { n: held };
  const pump = setInterval(() => {
    const now = bytes();
    if (now > acked.n) {
      void slow.call('terminalAck', info.id, now - acked.n);
      acked.n = now;
    }
  }, 20);
  try {
    await until('the flood to finish once the client catches up', () => (slow.output.get(info.id) ?? '').includes('END-OF-FLOOD-42'), 30_000);
  } finally {
    clearInterval(pump);
  }
  assert.ok(bytes() >= 8_000_000);
  await slow.call('closeTerminal', info.id);
  slow.connection.dispose();
});

test('a dropped connection shows "reconnecting", then a new shell; exit closes the terminal', { skip }, async () => {
  const c = client();
  const info = await c.call<TerminalInfo>('openTerminal', 'controller-1', 80, 24);
  await c.call('terminalInput', info.id, 'echo ready-$((0+1))\n');
  await until('first shell', () => (c.output.get(info.id) ?? '').includes('ready-1'));

  await sshd.stop(); // kills the per-connection sshd processes: the client sees the connection drop
  await until('reconnecting state', () => c.states.some((s) => s.id === info.id && s.state === 'reconnecting'));
  const dropped = c.states.find((s) => s.state === 'reconnecting')!;
  assert.match(dropped.reason ?? '', /connection dropped|reconnecting/);
  await assert.rejects(c.call('terminalInput', info.id, 'x'), /is reconnecting; input was not sent/);

  await sshd.start();
  await until('reconnected', () => c.states.some((s) => s.id === info.id && s.state === 'connected' && /reconnected/.test(s.reason ?? '')), 20_000);
  await c.call('terminalInput', info.id, 'echo ready-$((1+1))\n');
  await until('the new shell answers', () => (c.output.get(info.id) ?? '').includes('ready-2'));

  await c.call('terminalInput', info.id, 'exit 3\n');
  await until('closed state', () => c.states.some((s) => s.id === info.id && s.state === 'closed'));
  assert.match(c.states.find((s) => s.state === 'closed')!.reason ?? '', /exited with code 3/);
  assert.equal((await c.call<TerminalInfo[]>('listTerminals')).some((t) => t.id === info.id), false);
  c.connection.dispose();
});
