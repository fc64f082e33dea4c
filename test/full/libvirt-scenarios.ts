// Scenarios for the libvirt provider. Each runs INSIDE a test's own network namespace (see
// test/helpers/netns.ts), starts its own libvirtd and virtlogd there (test/helpers/libvirtd.ts),
// and returns plain JSON for the test to assert on. They always destroy what they made and stop
// the daemons, and report anything left behind.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findBaseImage } from '../../main/image/build-image.ts';
import { runCommand } from '../../main/image/run-command.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { createProvider } from '../../main/providers/create-provider.ts';
import { libvirtNames } from '../../main/providers/libvirt/libvirt-xml.ts';
import type { LibvirtProvider } from '../../main/providers/libvirt/libvirt-provider.ts';
import type { NodeStatus } from '../../main/providers/provider.ts';
import { HostKeyPins } from '../../main/ssh/host-key-pins.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { SshPool } from '../../main/ssh/ssh-pool.ts';
import type { Role } from '../../main/spec/cluster-spec.ts';
import { startLibvirtd } from '../helpers/libvirtd.ts';
import { labSpec } from '../helpers/qemu-lab-scenarios.ts';

export interface LibvirtScenarioArgs {
  labDir: string;
  name: string;
  imageCacheDir: string;
  nodes?: Partial<Record<Role, { memoryMiB?: number; cpus?: number }>>;
  sshTimeoutMs: number;
}

export interface LibvirtNodeReport {
  node: string;
  plannedIp: string;
  hostname: string;
  eth0: string;
  sshSeconds: number;
  consoleLogBytes: number;
}

export interface LibvirtScenarioResult {
  acceleration?: string;
  warnings: string[];
  domainsWhileRunning: string[];
  networksWhileRunning: string[];
  domainXmlType: string;
  nodes: LibvirtNodeReport[];
  statusWhileRunning: NodeStatus[];
  secondCreateSeconds: number;
  statusAfterStop: NodeStatus[];
  restartedHostname: string;
  progressPhases: string[];
  after: {
    domains: string[];
    networks: string[];
    links: string[];
    qemuProcesses: string[];
    vmsEntries: string[];
    status: NodeStatus[];
  };
}

function log(message: string) {
  console.log(`${new Date().toISOString().slice(11, 19)} ${message}`);
}

export async function bootLibvirtLab(args: LibvirtScenarioArgs): Promise<LibvirtScenarioResult> {
  const daemon = await startLibvirtd({ logDir: join(args.labDir, 'logs'), purgePrefixes: [`${args.name}-`] });
  const paths = labPaths(args.labDir);
  const spec = { ...labSpec({ preset: 'minimal', name: args.name, nodes: args.nodes }), provider: 'libvirt' as const };
  const plan = buildPlan(spec);
  const key = await ensureLabSshKey(paths.ssh);
  const image = await findBaseImage(args.imageCacheDir);
  if (!image) throw new Error(`no base image in ${args.imageCacheDir}`);
  const provider = createProvider({ plan, spec, paths, sshPublicKey: key.publicKey, image }) as LibvirtProvider;
  const phases = new Set<string>();
  provider.onProgress((e) => {
    phases.add(e.phase);
    log(`${e.node ?? '-'} ${e.phase}: ${e.message}`);
  });
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys: new HostKeyPins(join(paths.ssh, 'known-hosts.json')), resolve: (n) => provider.sshEndpoint(n) });
  let destroyed = false;
  try {
    const report = await provider.preflight();
    const started = Date.now();
    await provider.create();
    const statusWhileRunning = await provider.status();
    const nodes = await Promise.all(
      plan.nodes.map(async (node): Promise<LibvirtNodeReport> => {
        await pool.waitForSsh(node.name, { timeoutMs: args.sshTimeoutMs, consoleTail: () => provider.consoleTail(node.name) });
        const sshSeconds = (Date.now() - started) / 1000;
        log(`${node.name} answered SSH after ${sshSeconds.toFixed(1)} s`);
        const out = (await pool.run(node.name, 'hostname; ip -4 -o addr show dev eth0')).stdout.trim().split('\n');
        const consoleLog = join(provider.nodeDir(node.name), 'console.log');
        return {
          node: node.name,
          plannedIp: node.ip,
          hostname: out[0] ?? '',
          eth0: out[1] ?? '',
          sshSeconds,
          consoleLogBytes: existsSync(consoleLog) ? statSync(consoleLog).size : 0,
        };
      }),
    );
    const domainsWhileRunning = await daemon.virsh.listDomains();
    const networksWhileRunning = (await daemon.virsh.listNetworks()).filter((n) => n.active).map((n) => n.name);
    const domainXml = (await daemon.virsh.dumpXml(libvirtNames(plan.labName).domain('controller-0'))) ?? '';
    const domainXmlType = /<domain type='(\w+)'/.exec(domainXml)?.[1] ?? '?';

    // create() again is a no-op for running domains.
    const again = Date.now();
    await provider.create();
    const secondCreateSeconds = (Date.now() - again) / 1000;

    // stop/start one node: ACPI power-off, then boot again from the same disk.
    pool.close('worker-0');
    await provider.stop(['worker-0']);
    const statusAfterStop = await provider.status();
    await provider.start(['worker-0']);
    await pool.waitForSsh('worker-0', { timeoutMs: args.sshTimeoutMs, consoleTail: () => provider.consoleTail('worker-0') });
    const restartedHostname = (await pool.run('worker-0', 'hostname')).stdout.trim();

    pool.close();
    await provider.destroy();
    destroyed = true;
    return {
      acceleration: report.acceleration,
      warnings: report.warnings,
      domainsWhileRunning,
      networksWhileRunning,
      domainXmlType,
      nodes,
      statusWhileRunning,
      secondCreateSeconds,
      statusAfterStop,
      restartedHostname,
      progressPhases: [...phases],
      after: {
        domains: await daemon.virsh.listDomains(),
        networks: (await daemon.virsh.listNetworks()).map((n) => n.name),
        links: await nonLoopbackLinks(),
        qemuProcesses: await qemuProcesses(),
        vmsEntries: existsSync(paths.vms) ? readdirSync(paths.vms) : [],
        status: await provider.status(),
      },
    };
  } finally {
    pool.close();
    if (!destroyed) await provider.destroy().catch((error) => log(`destroy after failure failed: ${(error as Error).message}`));
    await daemon.stop();
  }
}

async function nonLoopbackLinks(): Promise<string[]> {
  const result = await runCommand(['ip', '-o', 'link', 'show']);
  return result.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n && n !== 'lo');
}

async function qemuProcesses(): Promise<string[]> {
  const result = await runCommand(['ip', 'netns', 'pids', process.env.HWL_NETNS ?? '']);
  const pids = result.stdout.split(/\s+/).filter(Boolean);
  const found: string[] = [];
  for (const pid of pids) {
    const cmd = (await runCommand(['ps', '-o', 'args=', '-p', pid])).stdout.trim();
    if (cmd.includes('qemu-system')) found.push(cmd.slice(0, 120));
  }
  return found;
}
