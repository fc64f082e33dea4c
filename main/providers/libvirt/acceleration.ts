// KVM or software emulation for the libvirt and vagrant providers: the same decision, the same
// probe and the same cached verdict as the qemu provider (kvm-probe.ts), so all three agree.

import { dirname, join } from 'node:path';
import { imageCacheDir } from '../../image/build-image.ts';
import { probeKvm } from '../qemu/kvm-probe.ts';

export interface AccelerationVerdict {
  /** libvirt's domain type: `kvm`, or `qemu` for TCG. */
  domainType: 'kvm' | 'qemu';
  reason: string;
}

/**
 * HARDWAY_QEMU_ACCEL=kvm|tcg wins (as for the qemu provider); otherwise a short real boot of
 * `kernel` under KVM decides, cached next to the image cache.
 */
export async function decideAcceleration(kernel: string, options: { imageCacheDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<AccelerationVerdict> {
  const forced = (options.env ?? process.env).HARDWAY_QEMU_ACCEL;
  if (forced === 'kvm') return { domainType: 'kvm', reason: 'HARDWAY_QEMU_ACCEL=kvm' };
  if (forced === 'tcg') return { domainType: 'qemu', reason: 'HARDWAY_QEMU_ACCEL=tcg' };
  const cacheFile = join(dirname(options.imageCacheDir ?? imageCacheDir(options.env)), 'kvm-probe.json');
  const verdict = await probeKvm({ kernel, cacheFile, timeoutMs: 30_000 });
  return { domainType: verdict.usable ? 'kvm' : 'qemu', reason: verdict.reason };
}
