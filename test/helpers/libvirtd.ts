// Starts libvirtd and virtlogd by hand for an integration test (this host has no systemd), inside the
// test's network namespace so every bridge, tap and dnsmasq libvirt makes lives and dies there.
//
// libvirt's system daemon uses fixed paths (/run/libvirt, /etc/libvirt, /var/lib/libvirt), so only one
// can run at a time: a host-wide lock file serializes tests that need it, and we refuse to start when
// some other libvirtd already owns the socket.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Virsh } from '../../main/providers/libvirt/virsh.ts';

export const LIBVIRT_SOCKET = '/run/libvirt/libvirt-sock';
export const VIRTLOGD_SOCKET = '/run/libvirt/virtlogd-sock';
const LOCK_FILE = '/run/hardway-lab-libvirtd.lock';
/** libvirt skips autostarting domains and networks when these exist: a test must never start someone's VMs. */
const AUTOSTART_SENTINELS = ['/run/libvirt/qemu/autostarted', '/run/libvirt/network/autostarted'];

export interface LibvirtdOptions {
  /** Network namespace to run the daemons in (`ip netns exec NAME ...`); omit when the test already runs inside one. */
  netns?: string;
  /** Where the daemons' output goes (libvirtd.log, virtlogd.log). */
  logDir: string;
  /** How long to wait for another test's libvirtd to finish. */
  lockTimeoutMs?: number;
  /**
   * Domains and networks whose names start with one of these are removed right after start: what
   * an earlier run of the same test left behind when it was killed (libvirt keeps definitions in
   * /etc/libvirt across daemon restarts).
   */
  purgePrefixes?: string[];
}

export interface RunningLibvirtd {
  uri: string;
  virsh: Virsh;
  logDir: string;
  /** The last lines of libvirtd's own log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startLibvirtd(options: LibvirtdOptions): Promise<RunningLibvirtd> {
  if (process.getuid?.() !== 0) throw new Error('startLibvirtd needs root (libvirt system daemon, bridges, /dev/kvm)');
  for (const binary of ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/virsh']) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: apt install libvirt-daemon-system libvirt-clients`);
  }
  await mkdir(options.logDir, { recursive: true });
  const releaseLock = await acquireLock(options.lockTimeoutMs ?? 30 * 60_000);
  const children: ChildProcess[] = [];
  const createdSentinels: string[] = [];
  const stop = async () => {
    for (const child of [...children].reverse()) await stopChild(child);
    for (const file of createdSentinels) await rm(file, { force: true });
    releaseLock();
  };
  try {
    if (await socketAnswers(LIBVIRT_SOCKET)) {
      throw new Error(
        `another libvirtd already answers on ${LIBVIRT_SOCKET}; the test needs its own inside its network namespace. Stop that daemon first.`,
      );
    }
    for (const dir of ['/run/libvirt/qemu', '/run/libvirt/network', '/var/lib/libvirt/dnsmasq', '/var/log/libvirt/qemu', '/var/cache/libvirt/qemu']) {
      await mkdir(dir, { recursive: true });
    }
    for (const file of AUTOSTART_SENTINELS) {
      if (!existsSync(file)) {
        await writeFile(file, '');
        createdSentinels.push(file);
      }
    }
    // With /dev/kvm unusable by its group, libvirt decides its cached QEMU capabilities are stale and
    // re-probes QEMU (seconds) on every connection.
    if (existsSync('/dev/kvm')) {
      const kvmGroup = await groupId('kvm');
      if (kvmGroup !== undefined) await chown('/dev/kvm', 0, kvmGroup);
      await chmod('/dev/kvm', 0o660);
    }
    const prefix = options.netns ? ['ip', 'netns', 'exec', options.netns] : [];
    children.push(startDaemon([...prefix, '/usr/sbin/virtlogd'], join(options.logDir, 'virtlogd.log')));
    await waitForSocket(VIRTLOGD_SOCKET, children[0]!, 'virtlogd', join(options.logDir, 'virtlogd.log'), 30_000);
    const libvirtdLog = join(options.logDir, 'libvirtd.log');
    children.push(startDaemon([...prefix, '/usr/sbin/libvirtd'], libvirtdLog));
    await waitForSocket(LIBVIRT_SOCKET, children[1]!, 'libvirtd', libvirtdLog, 60_000);
    const uri = 'qemu:///system';
    const virsh = new Virsh({ uri, timeoutMs: 120_000 });
    // The first connection makes libvirt probe QEMU (~10 s); do it here, not inside a test's timing.
    await virsh.version();
    await purge(virsh, options.purgePrefixes ?? []);
    return {
      uri,
      virsh,
      logDir: options.logDir,
      logTail: async (lines = 30) => tailFile(libvirtdLog, lines),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function purge(virsh: Virsh, prefixes: string[]): Promise<void> {
  if (prefixes.length === 0) return;
  const stale = (name: string) => prefixes.some((p) => name.startsWith(p));
  for (const domain of (await virsh.listDomains()).filter(stale)) {
    console.warn(`removing the libvirt domain ${domain} an earlier run left behind`);
    await virsh.destroy(domain);
    await virsh.undefine(domain);
  }
  for (const network of (await virsh.listNetworks()).filter((n) => stale(n.name))) {
    console.warn(`removing the libvirt network ${network.name} an earlier run left behind`);
    await virsh.netDestroy(network.name);
    await virsh.netUndefine(network.name);
  }
}

function startDaemon(argv: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  // Foreground (no --daemon): the daemon stays our child, so stop() can end exactly this process.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  child.on('error', () => {});
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function waitForSocket(path: string, child: ChildProcess, what: string, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before creating ${path}:\n${await tailFile(logFile, 20)}`);
    }
    if (await socketAnswers(path)) return;
    await sleep(200);
  }
  throw new Error(`${what} did not create ${path} within ${timeoutMs / 1000} s:\n${await tailFile(logFile, 20)}`);
}

function socketAnswers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolvePromise) => {
    const socket = createConnection(path);
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

/** A host-wide lock: O_EXCL file holding our pid; a lock whose pid is gone is stale and taken over. */
async function acquireLock(timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  let warned = false;
  for (;;) {
    try {
      const fd = openSync(LOCK_FILE, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      // Synchronous: the scenario process exits right after stop() resolves.
      return () => {
        if (released) return;
        released = true;
        rmSync(LOCK_FILE, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(LOCK_FILE, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(holder) || holder <= 0 || !processAlive(holder)) {
      await rm(LOCK_FILE, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`libvirtd is held by another test (pid ${holder}, ${LOCK_FILE}) for too long`);
    if (!warned) {
      console.warn(`waiting for another test's libvirtd (pid ${holder}) to finish`);
      warned = true;
    }
    await sleep(2_000);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function groupId(name: string): Promise<number | undefined> {
  const text = await readFile('/etc/group', 'utf8').catch(() => '');
  const line = text.split('\n').find((l) => l.startsWith(`${name}:`));
  const gid = line ? Number(line.split(':')[2]) : NaN;
  return Number.isInteger(gid) ? gid : undefined;
}

async function tailFile(path: string, lines: number): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
