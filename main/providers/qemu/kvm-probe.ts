// Whether KVM really works on this host, decided by booting a kernel under it, not by opening
// /dev/kvm: on some hosts (nested or paravirtualised, e.g. PVM) /dev/kvm opens fine and KVM still
// dies with "emulation failure" on the first real-mode instruction of a stock kernel. The verdict
// is cached per host boot and QEMU version, since neither changes without a reboot or an upgrade.

import { spawn } from 'node:child_process';
import { constants, accessSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatCommand, runCommand } from '../../image/run-command.ts';

export type Acceleration = 'kvm' | 'tcg';

export interface KvmVerdict {
  usable: boolean;
  /** Why, in words for a warning or an error. */
  reason: string;
  /** The end of the probe VM's console and QEMU's own messages. */
  output?: string;
  bootId: string;
  qemuVersion: string;
  probedAt: string;
  /** Seconds the probe boot took. */
  seconds?: number;
}

const SUCCESS = [/Kernel panic - not syncing: VFS/, /Run \/init as init process/, /Freeing unused kernel image/];
const FAILURE = [/emulation failure/i, /KVM internal error/i, /kvm run failed/i, /failed to initialize kvm/i, /Could not access KVM kernel module/i];

export function hostBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export async function qemuVersion(qemu = 'qemu-system-x86_64'): Promise<string> {
  const result = await runCommand([qemu, '--version']);
  return result.stdout.split('\n')[0]?.trim() || 'unknown';
}

export function kvmDeviceUsable(): { ok: boolean; reason?: string } {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return { ok: true };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? '/dev/kvm does not exist (no hardware virtualisation, or the kvm module is not loaded)' : `/dev/kvm is not accessible (${code}); add your user to the kvm group` };
  }
}

export interface ProbeOptions {
  /** A bzImage to boot; the base image's kernel. */
  kernel: string;
  /** Where the verdict is cached (a JSON file). */
  cacheFile: string;
  qemu?: string;
  timeoutMs?: number;
  /** Ignore the cached verdict. */
  fresh?: boolean;
}

/** Boots `kernel` under KVM with no disk: a kernel that panics for want of a root fs has run fine. */
export async function probeKvm(options: ProbeOptions): Promise<KvmVerdict> {
  const qemu = options.qemu ?? 'qemu-system-x86_64';
  const bootId = hostBootId();
  const version = await qemuVersion(qemu);
  if (!options.fresh) {
    try {
      const cached = JSON.parse(await readFile(options.cacheFile, 'utf8')) as KvmVerdict;
      if (cached.bootId === bootId && cached.qemuVersion === version && typeof cached.usable === 'boolean') return cached;
    } catch {
      // No usable cache: probe.
    }
  }
  const base = { bootId, qemuVersion: version, probedAt: new Date().toISOString() };
  const device = kvmDeviceUsable();
  let verdict: KvmVerdict;
  if (!device.ok) {
    verdict = { ...base, usable: false, reason: device.reason! };
  } else {
    verdict = { ...base, ...(await probeBoot(qemu, options.kernel, options.timeoutMs ?? 60_000)) };
  }
  await mkdir(dirname(options.cacheFile), { recursive: true });
  await writeFile(options.cacheFile, `${JSON.stringify(verdict, null, 2)}\n`);
  return verdict;
}

function probeBoot(qemu: string, kernel: string, timeoutMs: number): Promise<Pick<KvmVerdict, 'usable' | 'reason' | 'output' | 'seconds'>> {
  const argv = [
    qemu,
    '-nodefaults',
    '-no-user-config',
    '-machine', 'pc',
    '-accel', 'kvm',
    '-cpu', 'host',
    '-m', '256',
    '-display', 'none',
    '-serial', 'stdio',
    '-kernel', kernel,
    '-append', 'console=ttyS0 panic=-1',
    '-no-reboot',
  ];
  const started = Date.now();
  return new Promise((resolvePromise) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let settled = false;
    const finish = (usable: boolean, reason: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      const lines = output.split(/\r?\n/).filter((l) => l.trim());
      const tail = lines.slice(-15).join('\n');
      // QEMU's own complaint (e.g. "failed to set MSR ...") says more than the exit status.
      const complaint = usable ? undefined : lines.find((l) => /^qemu-system|error|failure/i.test(l));
      resolvePromise({ usable, reason: complaint ? `${reason}: ${complaint.trim()}` : reason, output: tail, seconds: Math.round((Date.now() - started) / 100) / 10 });
    };
    const inspect = () => {
      const failed = FAILURE.find((re) => re.test(output));
      if (failed) return finish(false, `a test boot under KVM failed (${failed.source.replace(/\\/g, '')}): ${formatCommand(argv)}`);
      if (SUCCESS.some((re) => re.test(output))) return finish(true, 'a test kernel booted under KVM');
    };
    const timer = setTimeout(() => finish(false, `a test boot under KVM did not reach the kernel's init within ${timeoutMs / 1000} s`), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      inspect();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      inspect();
    });
    child.on('error', (error) => finish(false, `could not start ${qemu}: ${error.message}`));
    child.on('close', (code, signal) => {
      inspect();
      finish(false, `the KVM test boot ended early (${signal ? `signal ${signal}` : `exit code ${code}`}) before the kernel ran`);
    });
  });
}
