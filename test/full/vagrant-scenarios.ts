// Scenarios for the vagrant provider. Each runs INSIDE a test's own network namespace (see
// test/helpers/netns.ts) with its own libvirtd (test/helpers/libvirtd.ts) and its own VAGRANT_HOME,
// and returns plain JSON for the test to assert on. They destroy what they made, remove the box
// volume vagrant-libvirt uploaded into libvirt's storage pool, and report anything left behind.

import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { addVagrantBox, ensureVagrantBox } from '../../main/image/build-box.ts';
import { findBaseImage } from '../../main/image/build-image.ts';
import { runCommand } from '../../main/image/run-command.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { createProvider } from '../../main/providers/create-provider.ts';
import type { NodeStatus } from '../../main/providers/provider.ts';
import type { SshConfig } from '../../main/providers/vagrant/vagrant-cli.ts';
import type { VagrantProvider } from '../../main/providers/vagrant/vagrant-provider.ts';
import { HostKeyPins } from '../../main/ssh/host-key-pins.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { SshPool } from '../../main/ssh/ssh-pool.ts';
import type { Role } from '../../main/spec/cluster-spec.ts';
import { startLibvirtd, type RunningLibvirtd } from '../helpers/libvirtd.ts';
import { labSpec } from '../helpers/qemu-lab-scenarios.ts';

export interface VagrantScenarioArgs {
  labDir: string;
  vagrantHome: string;
  name: string;
  imageCacheDir: string;
  nodes?: Partial<Record<Role, { memoryMiB?: number; cpus?: number }>>;
  sshTimeoutMs: number;
}

export interface VagrantNodeReport {
  node: string;
  plannedIp: string;
  hostname: string;
  eth1: string;
  defaultRoute: string;
  sshConfig: SshConfig;
}

export interface VagrantScenarioResult {
  acceleration?: string;
  warnings: string[];
  box: { name: string; version: string };
  /** Whether adding the same box a second time did anything (it must not). */
  boxAddedAgain: boolean;
  upSeconds: number;
  domainsWhileRunning: string[];
  statusWhileRunning: NodeStatus[];
  nodes: VagrantNodeReport[];
  privateKeyPath: string;
  after: { domains: string[]; networks: string[]; volumes: string[]; links: string[]; status: NodeStatus[] };
}

function log(message: string) {
  console.log(`${new Date().toISOString().slice(11, 19)} ${message}`);
}

export async function bootVagrantLab(args: VagrantScenarioArgs): Promise<VagrantScenarioResult> {
  // libvirt's QEMU user reads the box's kernel from VAGRANT_HOME: every directory on the way must be searchable.
  await mkdir(args.vagrantHome, { recursive: true });
  await chmod(args.vagrantHome, 0o755);
  await chmod(args.labDir, 0o755);
  process.env.VAGRANT_HOME = args.vagrantHome;
  const daemon = await startLibvirtd({ logDir: join(args.labDir, 'logs'), purgePrefixes: [`${args.name}-`] });
  const poolsBefore = await poolNames(daemon);
  const paths = labPaths(args.labDir);
  const spec = { ...labSpec({ preset: 'minimal', name: args.name, nodes: args.nodes }), provider: 'vagrant' as const };
  const plan = buildPlan(spec);
  const key = await ensureLabSshKey(paths.ssh);
  const image = await findBaseImage(args.imageCacheDir);
  if (!image) throw new Error(`no base image in ${args.imageCacheDir}`);
  const provider = createProvider({ plan, spec, paths, sshPublicKey: key.publicKey, image }) as VagrantProvider;
  provider.onProgress((e) => log(`${e.node ?? '-'} ${e.phase}: ${e.message}`));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: new HostKeyPins(join(paths.ssh, 'known-hosts.json')), resolve: (n) => provider.sshEndpoint(n) });
  let destroyed = false;
  try {
    const report = await provider.preflight();
    const box = await ensureVagrantBox({ image, vagrantHome: args.vagrantHome, onProgress: (line) => log(`box: ${line}`) });
    const boxAddedAgain = await addVagrantBox(box, { vagrantHome: args.vagrantHome });
    const started = Date.now();
    await provider.create();
    const upSeconds = (Date.now() - started) / 1000;
    log(`vagrant up finished after ${upSeconds.toFixed(1)} s`);
    const statusWhileRunning = await provider.status();
    const domainsWhileRunning = await daemon.virsh.listDomains();
    const nodes: VagrantNodeReport[] = [];
    for (const node of plan.nodes) {
      // Vagrant reported the machine ready, so SSH must answer at once; the wait is only a guard.
      await pool.waitForSsh(node.name, { timeoutMs: args.sshTimeoutMs, consoleTail: () => provider.consoleTail(node.name) });
      const out = (await pool.run(node.name, 'hostname; ip -4 -o addr show dev eth1; ip route show default')).stdout.trim().split('\n');
      nodes.push({
        node: node.name,
        plannedIp: node.ip,
        hostname: out[0] ?? '',
        eth1: out[1] ?? '',
        defaultRoute: out[2] ?? '',
        sshConfig: await provider.cli.sshConfig(node.name),
      });
    }
    pool.close();
    await provider.destroy();
    destroyed = true;
    return {
      acceleration: report.acceleration,
      warnings: report.warnings,
      box: { name: box.name, version: box.version },
      boxAddedAgain,
      upSeconds,
      domainsWhileRunning,
      statusWhileRunning,
      nodes,
      privateKeyPath: key.privateKeyPath,
      after: {
        domains: await daemon.virsh.listDomains(),
        networks: (await daemon.virsh.listNetworks()).map((n) => n.name),
        volumes: await machineVolumes(daemon, args.name),
        links: await nonLoopbackLinks(),
        status: await provider.status(),
      },
    };
  } finally {
    pool.close();
    if (!destroyed) await provider.destroy().catch((error) => log(`destroy after failure failed: ${(error as Error).message}`));
    await removeBoxVolumes(daemon, poolsBefore).catch((error) => log(`removing box volumes failed: ${(error as Error).message}`));
    await daemon.stop();
  }
}

async function poolNames(daemon: RunningLibvirtd): Promise<string[]> {
  return (await daemon.virsh.run(['pool-list', '--all', '--name'])).split('\n').map((l) => l.trim()).filter(Boolean);
}

async function volumes(daemon: RunningLibvirtd, pool: string): Promise<string[]> {
  const out = await daemon.virsh.run(['vol-list', '--pool', pool]).catch(() => '');
  return out
    .split('\n')
    .slice(2)
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((v): v is string => !!v);
}

/** Volumes of this lab's machines (vagrant destroy must remove them). */
async function machineVolumes(daemon: RunningLibvirtd, lab: string): Promise<string[]> {
  const found: string[] = [];
  for (const pool of await poolNames(daemon)) for (const v of await volumes(daemon, pool)) if (v.startsWith(`${lab}-`)) found.push(`${pool}/${v}`);
  return found;
}

/** The box image vagrant-libvirt uploads once per box version stays in the pool by design; a test removes it. */
async function removeBoxVolumes(daemon: RunningLibvirtd, poolsBefore: string[]): Promise<void> {
  for (const pool of await poolNames(daemon)) {
    for (const v of await volumes(daemon, pool)) {
      if (v.startsWith('hardway-lab-VAGRANTSLASH-')) await daemon.virsh.run(['vol-delete', '--pool', pool, v]);
    }
    if (!poolsBefore.includes(pool)) {
      await daemon.virsh.run(['pool-destroy', pool]).catch(() => '');
      await daemon.virsh.run(['pool-undefine', pool]);
    }
  }
}

async function nonLoopbackLinks(): Promise<string[]> {
  const result = await runCommand(['ip', '-o', 'link', 'show']);
  return result.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== 'lo');
}

export interface VagrantTimingResult {
  acceleration?: string;
  /** `vagrant up` from start to return (both machines up, SSH checked, hostname step done). */
  upSeconds: number;
  /** From the start of `vagrant up` until each node answered our own SSH pool (polled meanwhile). */
  perNode: Array<{ node: string; seconds: number }>;
  allSshSeconds: number;
  /** Building (when not cached) and adding the box, before the timer starts. */
  boxSeconds: number;
}

/** For bench/vagrant-vs-qemu.ts: times `vagrant up` of the lab and SSH on every node, then destroys it. */
export async function timeVagrantUp(args: VagrantScenarioArgs): Promise<VagrantTimingResult> {
  await mkdir(args.vagrantHome, { recursive: true });
  await chmod(args.vagrantHome, 0o755);
  await chmod(args.labDir, 0o755);
  process.env.VAGRANT_HOME = args.vagrantHome;
  const daemon = await startLibvirtd({ logDir: join(args.labDir, 'logs'), purgePrefixes: [`${args.name}-`] });
  const poolsBefore = await poolNames(daemon);
  const paths = labPaths(args.labDir);
  const spec = { ...labSpec({ preset: 'minimal', name: args.name, nodes: args.nodes }), provider: 'vagrant' as const };
  const plan = buildPlan(spec);
  const key = await ensureLabSshKey(paths.ssh);
  const image = await findBaseImage(args.imageCacheDir);
  if (!image) throw new Error(`no base image in ${args.imageCacheDir}`);
  const provider = createProvider({ plan, spec, paths, sshPublicKey: key.publicKey, image }) as VagrantProvider;
  provider.onProgress((e) => log(`${e.node ?? '-'} ${e.phase}: ${e.message}`));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: new HostKeyPins(join(paths.ssh, 'known-hosts.json')), resolve: (n) => provider.sshEndpoint(n) });
  try {
    const report = await provider.preflight();
    const boxStarted = Date.now();
    await ensureVagrantBox({ image, vagrantHome: args.vagrantHome, onProgress: (line) => log(`box: ${line}`) });
    const boxSeconds = (Date.now() - boxStarted) / 1000;
    const started = Date.now();
    const perNode: Array<{ node: string; seconds: number }> = [];
    const abort = new AbortController();
    const sshWaits = plan.nodes.map(async (node) => {
      await pool.waitForSsh(node.name, { timeoutMs: args.sshTimeoutMs, consoleTail: () => provider.consoleTail(node.name), signal: abort.signal });
      perNode.push({ node: node.name, seconds: (Date.now() - started) / 1000 });
    });
    try {
      await provider.create();
    } catch (error) {
      abort.abort(error);
      await Promise.allSettled(sshWaits);
      throw error;
    }
    const upSeconds = (Date.now() - started) / 1000;
    await Promise.all(sshWaits);
    const allSshSeconds = Math.max(...perNode.map((p) => p.seconds));
    return { acceleration: report.acceleration, upSeconds, perNode, allSshSeconds, boxSeconds };
  } finally {
    pool.close();
    await provider.destroy().catch((error) => log(`destroy failed: ${(error as Error).message}`));
    await removeBoxVolumes(daemon, poolsBefore).catch((error) => log(`removing box volumes failed: ${(error as Error).message}`));
    await daemon.stop();
  }
}
