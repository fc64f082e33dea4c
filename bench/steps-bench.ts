// Step engine benchmark: wall time of each hard-way step and of the whole `up` on the `ha` preset
// (fresh VMs, Debian's etcd/haproxy/containerd/runc/CNI as artifacts), then full `check` sweeps.
//
//   sudo npx tsx bench/steps-bench.ts [--sweeps 2]
//
// Runs in a network namespace of its own (test/helpers/netns.ts) and destroys the lab afterwards.
// Needs root, qemu-system-x86_64, mmdebstrap and the Debian packages etcd-server, etcd-client,
// containerd, runc, containernetworking-plugins (haproxy's .deb files come from apt). Kubernetes
// server binaries are used when $HARDWAY_ARTIFACTS_DIR/bin holds them; otherwise the steps that
// need them are skipped and show 0 s.

import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBaseImage } from '../main/image/build-image.ts';
import { fillArtifactsFromDebian } from '../main/artifacts/fill-from-debian.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../test/helpers/netns.ts';
import type { BenchResult } from '../test/integration/hardway-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('../test/integration/hardway-lab-scenarios.ts', import.meta.url));

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { sweeps: { type: 'string', default: '2' } } });
  const why = netnsUnavailableReason();
  if (why) {
    console.warn(`SKIPPED: steps bench: ${why}`);
    return 0;
  }
  const image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  const artifacts = mkdtempSync(join(tmpdir(), 'hwl-bench-artifacts-'));
  const labDir = mkdtempSync(join(tmpdir(), 'hwl-bench-lab-'));
  try {
    const user = process.env.HARDWAY_ARTIFACTS_DIR;
    if (user && existsSync(user)) cpSync(user, artifacts, { recursive: true });
    const filled = await fillArtifactsFromDebian(artifacts);
    const versions = { etcd: filled.versions.etcd!, containerd: filled.versions.containerd!, runc: filled.versions.runc!, cniPlugins: filled.versions.cniPlugins! };
    process.env.HARDWAY_IMAGE_CACHE = join(image.dir, '..');
    const result = await withNetworkNamespace('stepsbench', async (ns) => {
      const run = await ns.runScenario<BenchResult>(SCENARIOS, 'benchUp', { labDir, artifactsDir: artifacts, versions, name: 'hw-bench', sweeps: Number(values.sweeps) }, {
        timeoutMs: 60 * 60_000,
        log: (line) => {
          if (/^\d\d:\d\d:\d\d (step|check|WARNING)/.test(line)) console.log(`  ${line}`);
        },
      });
      return run.result;
    });

    console.log(`\nhard-way steps on the ha preset (${result.acceleration ?? '?'} acceleration, 2-core host)`);
    console.log(`${'step'.padEnd(20)}${'status'.padEnd(10)}${'run+check s'.padStart(12)}${'check s'.padStart(10)}`);
    for (const step of result.steps) {
      const check = result.perStepCheckSeconds[step.id];
      console.log(`${step.id.padEnd(20)}${step.status.padEnd(10)}${step.seconds.toFixed(1).padStart(12)}${(check ?? 0).toFixed(1).padStart(10)}`);
    }
    console.log(`${'whole up'.padEnd(30)}${result.upSeconds.toFixed(1).padStart(12)} s`);
    console.log(`full check sweep: ${result.sweepSeconds.map((s) => `${s.toFixed(1)} s`).join(', ')}`);
    console.log(`every checker green at the end: ${result.ok ? 'yes' : 'NO'}`);
    return result.ok ? 0 : 1;
  } finally {
    rmSync(artifacts, { recursive: true, force: true });
    rmSync(labDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`steps bench failed: ${error.message}`);
    process.exit(1);
  },
);
