// Scenarios that boot real VMs with the qemu provider. Each runs INSIDE a test's own network
// namespace (see netns.ts: runScenario), so the lab bridge, taps, QEMU and SSH clients never touch
// the host's networks. They return plain JSON for the test to assert on; they clean up after
// themselves (destroy) and report what, if anything, was left behind.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { presetSpec, type ClusterSpec, type PresetName, type Role } from '../../main/spec/cluster-spec.ts';
import { validateSpec } from '../../main/spec/parse-spec.ts';
import { findBaseImage, imageCacheDir } from '../../main/image/build-image.ts';
import { createProvider } from '../../main/providers/create-provider.ts';
import { ProviderError, type NodeStatus } from '../../main/providers/provider.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { HostKeyPins } from '../../main/ssh/host-key-pins.ts';
import { SshPool } from '../../main/ssh/ssh-pool.ts';
import { runCommand } from '../../main/image/run-command.ts';
import { cleanConsole, QemuProvider } from '../../main/providers/qemu/qemu-provider.ts';

export interface LabScenarioArgs {
  labDir: string;
  preset?: PresetName;
  name?: string;
  /** Overrides per role (memoryMiB, cpus). */
  nodes?: Partial<Record<Role, { memoryMiB?: number; cpus?: number; diskGiB?: number }>>;
  sshTimeoutMs?: number;
  imageCacheDir?: string;
  /** Leave the VMs running (the caller destroys them). Default false. */
  keep?: boolean;
  /** Boot only these nodes (default: all of the plan). */
  only?: string[];
}

export interface NodeReport {
  node: string;
  plannedIp: string;
  plannedHostname: string;
  /** Seconds from create() start to the first successful SSH command. */
  bootToSshSeconds: number;
  hostname: string;
  eth0: string;
  rootSize: string;
  hostKeyPinned?: string;
  hostKeyOnConsole?: string;
  commandOutput: string;
}

export interface LabScenarioResult {
  acceleration?: string;
  warnings: string[];
  createSeconds: number;
  allSshSeconds: number;
  nodes: NodeReport[];
  statusWhileRunning: NodeStatus[];
  statusAfterDestroy: NodeStatus[];
  leftovers: Leftovers;
  progressPhases: string[];
}

export interface Leftovers {
  qemuProcesses: string[];
  links: string[];
  diskFiles: string[];
  vmsDirExists: boolean;
}

function log(message: string) {
  console.log(`${new Date().toISOString().slice(11, 19)} ${message}`);
}

export function labSpec(args: Pick<LabScenarioArgs, 'preset' | 'name' | 'nodes'>): ClusterSpec {
  const spec = presetSpec(args.preset ?? 'ha', args.name ?? 'qemu-test');
  for (const [role, override] of Object.entries(args.nodes ?? {}) as Array<[Role, NonNullable<LabScenarioArgs['nodes']>[Role]]>) {
    Object.assign(spec.nodes[role], override);
  }
  const errors = validateSpec(spec).filter((i) => i.severity === 'error');
  if (errors.length > 0) throw new Error(`test spec is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return spec;
}

/** Brings a whole lab up, checks every node over SSH, destroys it and looks for leftovers. */
export async function bootLabAndCheck(args: LabScenarioArgs): Promise<LabScenarioResult> {
  const spec = labSpec(args);
  const plan = buildPlan(spec);
  const paths = labPaths(args.labDir);
  await mkdir(paths.root, { recursive: true });
  const key = await ensureLabSshKey(paths.ssh);
  const image = await findBaseImage(args.imageCacheDir ?? imageCacheDir());
  if (!image) throw new Error('no base image: the test builds it before entering the namespace');

  const provider = createProvider({ plan, spec, paths, sshPublicKey: key.publicKey, image });
  const phases = new Set<string>();
  provider.onProgress((e) => {
    phases.add(e.phase);
    log(`progress ${e.phase}${e.node ? ` ${e.node}` : ''}: ${e.message}`);
  });
  const pins = new HostKeyPins(join(paths.ssh, 'host-keys.json'));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: pins, resolve: (node) => provider.sshEndpoint(node) });

  let result: Omit<LabScenarioResult, 'statusAfterDestroy' | 'leftovers'> | undefined;
  try {
    const report = await provider.preflight();
    log(`preflight: acceleration ${report.acceleration}; warnings: ${report.warnings.join(' | ') || 'none'}`);
    const started = Date.now();
    const booted = args.only ? plan.nodes.filter((n) => args.only!.includes(n.name)) : plan.nodes;
    await provider.create(booted.map((n) => n.name));
    const createSeconds = (Date.now() - started) / 1000;
    log(`create() returned after ${createSeconds.toFixed(1)} s; waiting for SSH on ${booted.length} node(s)`);

    const sshAt = new Map<string, number>();
    await Promise.all(
      booted.map(async (node) => {
        await pool.waitForSsh(node.name, { timeoutMs: args.sshTimeoutMs ?? 600_000, consoleTail: () => provider.consoleTail(node.name, 30) });
        sshAt.set(node.name, (Date.now() - started) / 1000);
        log(`${node.name}: SSH after ${sshAt.get(node.name)!.toFixed(1)} s`);
      }),
    );
    const allSshSeconds = (Date.now() - started) / 1000;

    const nodes: NodeReport[] = [];
    for (const node of booted) {
      const r = await pool.run(node.name, 'hostname; echo ---; ip -4 -o addr show eth0; echo ---; df -h --output=size / | tail -1; echo ---; uname -r; cat /etc/os-release | head -1', { timeoutMs: 60_000 });
      const [hostname = '', eth0 = '', rootSize = ''] = r.stdout.split('---\n').map((s) => s.trim());
      const consoleText = readFileSync(join(paths.vms, node.name, 'console.log'), 'utf8');
      nodes.push({
        node: node.name,
        plannedIp: node.ip,
        plannedHostname: node.name,
        bootToSshSeconds: sshAt.get(node.name)!,
        hostname,
        eth0,
        rootSize,
        hostKeyPinned: pins.get(node.name)?.fingerprint,
        hostKeyOnConsole: /generated SSH host key (SHA256:\S+)/.exec(consoleText)?.[1],
        commandOutput: r.stdout,
      });
    }
    const statusWhileRunning = await provider.status();
    result = { acceleration: report.acceleration, warnings: report.warnings, createSeconds, allSshSeconds, nodes, statusWhileRunning, progressPhases: [] };
  } finally {
    pool.close();
    if (!args.keep) {
      log('destroying the lab');
      await provider.destroy();
    }
  }
  const statusAfterDestroy = await provider.status();
  const leftovers = await findLeftovers(paths.root);
  return { ...result!, progressPhases: [...phases], statusAfterDestroy, leftovers };
}

/**
 * QEMU processes, network devices (in the current namespace) and disk files of a lab that still
 * exist. The provider argument is accepted for callers that pass it; the checks do not need it.
 */
export async function findLeftovers(labRoot: string, _provider?: unknown): Promise<Leftovers> {
  const qemuProcesses: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes('qemu-system') && cmdline.includes(labRoot)) qemuProcesses.push(`${entry}: ${cmdline.slice(0, 200)}`);
    } catch {
      // Gone meanwhile.
    }
  }
  const linkOut = await runCommand(['ip', '-o', 'link', 'show']);
  const links = linkOut.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== 'lo');
  const diskFiles = findFiles(labRoot, (name) => name.endsWith('.qcow2') || name === 'qemu.pid');
  return { qemuProcesses, links, diskFiles, vmsDirExists: existsSync(join(labRoot, 'vms')) };
}

/** Alive and not a zombie waiting for its parent (a daemonized QEMU's parent is PID 1). */
function processAlive(pid: number): boolean {
  try {
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function findFiles(dir: string, match: (name: string) => boolean): string[] {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findFiles(full, match));
    else if (match(entry.name)) out.push(full);
  }
  return out;
}

export interface BrokenBootResult {
  createError?: string;
  waitError?: string;
  waitErrorNode?: string;
  consoleTail: string;
  waitedSeconds: number;
  statusAfterFailure?: NodeStatus;
  leftovers: Leftovers;
}

/**
 * A node whose kernel boots but can never mount its root: an image file with the real kernel and
 * a garbage initrd (so the virtio disk driver is never loaded). create() succeeds, SSH never
 * answers, and the wait must fail naming the node and showing the kernel's last words.
 */
export async function brokenBootWaitFails(args: { labDir: string; sshTimeoutMs: number; imageCacheDir?: string }): Promise<BrokenBootResult> {
  const base = await findBaseImage(args.imageCacheDir ?? imageCacheDir());
  if (!base) throw new Error('no base image');
  const paths = labPaths(args.labDir);
  await mkdir(paths.root, { recursive: true });
  const garbageInitrd = join(paths.root, 'garbage-initrd.img');
  await writeFile(garbageInitrd, Buffer.from('this is not an initramfs\n'.repeat(100)));

  const spec = labSpec({ preset: 'minimal', name: 'qemu-broken', nodes: { controller: { memoryMiB: 1024, cpus: 1 }, worker: { memoryMiB: 1024, cpus: 1 } } });
  spec.image = { source: 'file', path: base.qcow2, kernel: base.kernel, initrd: garbageInitrd };
  const plan = buildPlan(spec);
  const key = await ensureLabSshKey(paths.ssh);
  const provider = new QemuProvider({ plan, spec, paths, sshPublicKey: key.publicKey });
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: new HostKeyPins(join(paths.ssh, 'host-keys.json')), resolve: (n) => provider.sshEndpoint(n), connectTimeoutMs: 5000 });
  const node = plan.nodes.find((n) => n.role === 'controller')!.name;
  const result: BrokenBootResult = { consoleTail: '', waitedSeconds: 0, leftovers: { qemuProcesses: [], links: [], diskFiles: [], vmsDirExists: false } };
  try {
    try {
      await provider.create([node]);
    } catch (error) {
      result.createError = error instanceof ProviderError ? error.describe() : String(error);
      return result;
    }
    const started = Date.now();
    try {
      await pool.waitForSsh(node, { timeoutMs: args.sshTimeoutMs, consoleTail: () => provider.consoleTail(node, 30) });
    } catch (error) {
      result.waitError = (error as Error).message;
      result.waitErrorNode = (error as { node?: string }).node;
    }
    result.waitedSeconds = (Date.now() - started) / 1000;
    result.consoleTail = await provider.consoleTail(node, 30);
    result.statusAfterFailure = (await provider.status()).find((s) => s.node === node);
  } finally {
    pool.close();
    await provider.destroy();
  }
  result.leftovers = await findLeftovers(paths.root);
  return result;
}

export interface LifecycleResult {
  firstPid: number;
  pidAfterSecondCreate?: number;
  stopSeconds: number;
  stateAfterStop?: string;
  qemuExitedAfterStop: boolean;
  consoleShowsCleanShutdown: boolean;
  consoleAtStop: string;
  restartHostname: string;
  restartHostKeyMatched: boolean;
  stateAfterKill?: string;
  stateDetailAfterKill?: string;
  pidAfterRecreate?: number;
  hostnameAfterRecreate: string;
  bootIdsDiffer: boolean;
  leftovers: Leftovers;
}

/**
 * One node through its life: create, create again (untouched), a clean stop through ACPI, start,
 * a QEMU killed behind the provider's back (stale pidfile), create again (restarted), destroy.
 */
export async function nodeLifecycle(args: { labDir: string; imageCacheDir?: string }): Promise<LifecycleResult> {
  const result = await nodeLifecycleSteps(args);
  const paths = labPaths(args.labDir);
  return { ...result, leftovers: await findLeftovers(paths.root) };
}

async function nodeLifecycleSteps(args: { labDir: string; imageCacheDir?: string }): Promise<LifecycleResult> {
  const spec = labSpec({ preset: 'minimal', name: 'qemu-life', nodes: { controller: { memoryMiB: 1024, cpus: 1 }, worker: { memoryMiB: 1024, cpus: 1 } } });
  const plan = buildPlan(spec);
  const paths = labPaths(args.labDir);
  await mkdir(paths.root, { recursive: true });
  const key = await ensureLabSshKey(paths.ssh);
  const image = await findBaseImage(args.imageCacheDir ?? imageCacheDir());
  if (!image) throw new Error('no base image');
  const provider = new QemuProvider({ plan, spec, paths, sshPublicKey: key.publicKey, image });
  provider.onProgress((e) => log(`progress ${e.phase}${e.node ? ` ${e.node}` : ''}: ${e.message}`));
  const pins = new HostKeyPins(join(paths.ssh, 'host-keys.json'));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: pins, resolve: (n) => provider.sshEndpoint(n) });
  const node = 'controller-0';
  const wait = () => pool.waitForSsh(node, { timeoutMs: 600_000, consoleTail: () => provider.consoleTail(node, 30) });
  const bootId = async () => (await pool.run(node, 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  try {
    await provider.create([node]);
    await wait();
    const firstBoot = await bootId();
    const firstPid = (await provider.livePid(node))!;
    await provider.create([node]);
    const pidAfterSecondCreate = await provider.livePid(node);

    pool.close(node);
    const stopStarted = Date.now();
    await provider.stop([node]);
    const stopSeconds = (Date.now() - stopStarted) / 1000;
    const stateAfterStop = (await provider.status()).find((s) => s.node === node)?.state;
    const qemuExitedAfterStop = !processAlive(firstPid);
    const consoleAfterStop = readFileSync(join(paths.vms, node, 'console.log'), 'utf8');
    const consoleShowsCleanShutdown = /reboot: Power down|Reached target.*(Power-Off|System Power Off)/.test(consoleAfterStop);

    await provider.start([node]);
    await wait();
    const restartHostname = (await pool.run(node, 'hostname')).stdout.trim();
    // Same disk, same host key: the pin from the first boot matched (else waitForSsh would have
    // thrown HostKeyChangedError), and this boot did not generate a new key.
    const restartConsole = readFileSync(join(paths.vms, node, 'console.log'), 'utf8');
    const restartHostKeyMatched = pins.get(node)?.fingerprint !== undefined && !/generated SSH host key/.test(restartConsole);

    // Kill QEMU behind the provider's back: its pidfile stays, pointing at a dead process.
    const pid = (await provider.livePid(node))!;
    pool.close(node);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 50 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    const afterKill = (await provider.status()).find((s) => s.node === node);
    await provider.create([node]);
    const pidAfterRecreate = await provider.livePid(node);
    await wait();
    const hostnameAfterRecreate = (await pool.run(node, 'hostname')).stdout.trim();
    const lastBoot = await bootId();
    return {
      firstPid,
      pidAfterSecondCreate,
      stopSeconds,
      stateAfterStop,
      qemuExitedAfterStop,
      consoleShowsCleanShutdown,
      consoleAtStop: cleanConsole(consoleAfterStop).split('\n').filter((l) => l.trim()).slice(-12).join('\n'),
      restartHostname,
      restartHostKeyMatched,
      stateAfterKill: afterKill?.state,
      stateDetailAfterKill: afterKill?.detail,
      pidAfterRecreate,
      hostnameAfterRecreate,
      bootIdsDiffer: firstBoot !== lastBoot,
      leftovers: { qemuProcesses: [], links: [], diskFiles: [], vmsDirExists: false },
    };
  } finally {
    pool.close();
    await provider.destroy();
  }
}
