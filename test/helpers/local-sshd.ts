// A real OpenSSH server on 127.0.0.1 for tests: its own config, ed25519 host key, authorized_keys
// and pid file in a temporary directory, started as `/usr/sbin/sshd -D -e -f <config>`.
// stop() also ends the per-connection sshd processes, so clients see their connection drop.

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, ExecFileSyncOptionsWithStringEncoding } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshEndpoint } from '../../main/providers/provider.ts';

const SSHD = '/usr/sbin/sshd';
const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

export interface LocalSshd {
  readonly port: number;
  readonly dir: string;
  /** `SHA256:...` of the current host key, as `ssh-keygen -l` prints it. */
  readonly hostKeyFingerprint: string;
  /** root@127.0.0.1:port */
  readonly endpoint: SshEndpoint;
  readonly running: boolean;
  start(): Promise<void>;
  /** Stops the listener and every session process it forked. */
  stop(): Promise<void>;
  restartWithNewHostKey(): Promise<void>;
  /** stop() and remove the temporary directory. */
  dispose(): Promise<void>;
  /** What sshd wrote to stderr so far (its log, thanks to -e). */
  log(): string;
}

/** Why a local sshd cannot run here, or undefined when it can. */
export function localSshdUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'the local sshd tests log in as root and must run as root';
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (!existsSync(SFTP_SERVER)) return `${SFTP_SERVER} is missing (apt-get install openssh-server)`;
  try {
    execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'ssh-keygen is missing (apt-get install openssh-client)';
  }
  return undefined;
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Prepares the directory, keys and config; call start() (or use startLocalSshd). */
export async function createLocalSshd(options: { authorizedKeys: string; port?: number }): Promise<LocalSshd> {
  const dir = await mkdtemp(join(tmpdir(), 'hwl-sshd-'));
  const port = options.port ?? (await freeLoopbackPort());
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const config = join(dir, 'sshd_config');
  await writeFile(join(dir, 'authorized_keys'), `${options.authorizedKeys.trim()}\n`, { mode: 0o600 });
  await writeFile(config, sshdConfig(dir, port, hostKey));
  let fingerprint = generateHostKey(hostKey);

  let child: ChildProcess | undefined;
  let stderr = '';

  const sshd: LocalSshd = {
    port,
    dir,
    get hostKeyFingerprint() {
      return fingerprint;
    },
    endpoint: { host: '127.0.0.1', port, user: 'root' },
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child) return;
      // The privilege separation directory; normally created by the init system.
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      const process_ = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = process_;
      process_.stderr!.setEncoding('utf8');
      process_.stderr!.on('data', (text: string) => (stderr += text));
      process_.once('exit', () => {
        if (child === process_) child = undefined;
      });
      const logStart = stderr.length;
      await waitForListening(process_, port, () => stderr.slice(logStart));
    },
    async stop() {
      const listener = child;
      if (!listener?.pid) return;
      const pids = [...descendantsOf(listener.pid), listener.pid];
      for (const pid of pids) signal(pid, 'SIGTERM');
      await waitUntilGone(pids, 5000);
      for (const pid of pids.filter(isAlive)) signal(pid, 'SIGKILL');
      await waitUntilGone(pids, 2000);
      child = undefined;
    },
    async restartWithNewHostKey() {
      await sshd.stop();
      fingerprint = generateHostKey(hostKey);
      await sshd.start();
    },
    async dispose() {
      await sshd.stop();
      await rm(dir, { recursive: true, force: true });
    },
    log: () => stderr,
  };
  // A crashed test must not leave sshd listening.
  process.once('exit', () => {
    if (child?.pid) signal(child.pid, 'SIGKILL');
  });
  return sshd;
}

export async function startLocalSshd(options: { authorizedKeys: string; port?: number }): Promise<LocalSshd> {
  const sshd = await createLocalSshd(options);
  try {
    await sshd.start();
  } catch (error) {
    await sshd.dispose();
    throw error;
  }
  return sshd;
}

function sshdConfig(dir: string, port: number, hostKey: string): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'MaxSessions 10',
    `Subsystem sftp ${SFTP_SERVER}`,
    '',
  ].join('\n');
}

/** Generates a fresh ed25519 host key (replacing any old one) and returns its SHA256 fingerprint. */
function generateHostKey(path: string): string {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  // stdin closed and a time limit: ssh-keygen must never sit waiting for a passphrase prompt.
  const options: ExecFileSyncOptionsWithStringEncoding = { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 };
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'hardway-test-sshd', '-f', path], options);
  const line = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], options);
  const fingerprint = line.split(' ')[1];
  if (!fingerprint?.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -l output: ${line}`);
  return fingerprint;
}

async function waitForListening(child: ChildProcess, port: number, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!log().includes(`Server listening on 127.0.0.1 port ${port}`)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before listening on port ${port}:\n${log()}`);
    }
    if (Date.now() > deadline) throw new Error(`sshd did not listen on port ${port} within 10 s:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every process below `root`, found through the parent pids in /proc (sshd sessions call setsid). */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Field 4 is the parent pid; the command name (field 2) may contain spaces, so parse after ')'.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); look at its state instead.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntilGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}
