// Vagrant vs. plain QEMU: the same two machines (the `minimal` preset: controller-0 + worker-0,
// same CPUs, memory, disk and base image) booted once by the qemu provider and once by
// `vagrant up --provider=libvirt`, one after the other in the same network namespace. Prints the
// seconds until both answer SSH for each, how long `vagrant up` itself took, and the ratios.
//
//   sudo npx tsx bench/vagrant-vs-qemu.ts [--cpus 1] [--memory 1024]
//
// Needs root, qemu-system-x86_64, libvirtd (started here by hand) and vagrant + vagrant-libvirt.
// The box is built and added before Vagrant's timer starts (its time is printed separately).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBaseImage } from '../main/image/build-image.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../test/helpers/netns.ts';
import type { LabScenarioResult } from '../test/helpers/qemu-lab-scenarios.ts';
import type { VagrantTimingResult } from '../test/full/vagrant-scenarios.ts';

const QEMU_SCENARIOS = fileURLToPath(new URL('../test/helpers/qemu-lab-scenarios.ts', import.meta.url));
const VAGRANT_SCENARIOS = fileURLToPath(new URL('../test/full/vagrant-scenarios.ts', import.meta.url));

const { values } = parseArgs({ options: { cpus: { type: 'string', default: '1' }, memory: { type: 'string', default: '1024' } }, strict: true });
const size = { cpus: Number(values.cpus), memoryMiB: Number(values.memory) };
const nodes = { controller: size, worker: size };

const unavailable = netnsUnavailableReason();
if (unavailable) {
  console.log(`SKIPPED: vagrant-vs-qemu bench: ${unavailable}`);
  process.exit(0);
}

const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
const imageCacheDir = join(image.dir, '..');
const quiet = (prefix: string) => (line: string) => {
  if (/SSH after|vagrant up finished|box: |Machine booted|preflight/.test(line)) console.log(`  [${prefix}] ${line}`);
};

const qemuLab = await mkdtemp(join(tmpdir(), 'hwl-bench-qemu-'));
const vagrantLab = await mkdtemp(join(tmpdir(), 'hwl-bench-vagrant-'));
const vagrantHome = await mkdtemp(join(tmpdir(), 'hwl-bench-vagrant-home-'));
try {
  await withNetworkNamespace('vg-bench', async (ns) => {
    console.log(`qemu provider: minimal preset (${size.cpus} vCPU, ${size.memoryMiB} MiB each)`);
    const qemu = await ns.runScenario<LabScenarioResult>(
      QEMU_SCENARIOS,
      'bootLabAndCheck',
      { labDir: qemuLab, preset: 'minimal', name: 'bench-qemu', nodes, sshTimeoutMs: 15 * 60_000, imageCacheDir },
      { timeoutMs: 30 * 60_000, log: quiet('qemu') },
    );
    console.log(`vagrant (vagrant-libvirt): the same two machines`);
    const vagrant = await ns.runScenario<VagrantTimingResult>(
      VAGRANT_SCENARIOS,
      'timeVagrantUp',
      { labDir: vagrantLab, vagrantHome, name: 'bench-vagrant', imageCacheDir, nodes, sshTimeoutMs: 15 * 60_000 },
      { timeoutMs: 40 * 60_000, log: quiet('vagrant') },
    );

    const q = qemu.result;
    const v = vagrant.result;
    const row = (label: string, seconds: number) => console.log(`  ${label.padEnd(44)} ${seconds.toFixed(1).padStart(7)} s`);
    console.log(`\nacceleration: qemu ${q.acceleration}, vagrant ${v.acceleration}`);
    console.log('qemu provider');
    for (const n of q.nodes) row(`${n.node}: create() start -> SSH`, n.bootToSshSeconds);
    row('both nodes answer SSH', q.allSshSeconds);
    console.log('vagrant up --provider=libvirt');
    row('box build + `vagrant box add` (not timed below)', v.boxSeconds);
    for (const n of [...v.perNode].sort((a, b) => a.node.localeCompare(b.node))) row(`${n.node}: vagrant up start -> SSH`, n.seconds);
    row('both nodes answer SSH', v.allSshSeconds);
    row('`vagrant up` returns', v.upSeconds);
    console.log('ratio vagrant / qemu');
    console.log(`  both nodes answer SSH                        ${(v.allSshSeconds / q.allSshSeconds).toFixed(2)}x`);
    console.log(`  until the tool is done (vagrant up vs SSH)   ${(v.upSeconds / q.allSshSeconds).toFixed(2)}x`);
  });
} finally {
  await rm(qemuLab, { recursive: true, force: true });
  await rm(vagrantLab, { recursive: true, force: true });
  await rm(vagrantHome, { recursive: true, force: true });
}
