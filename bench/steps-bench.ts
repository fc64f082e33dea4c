// Step engine benchmark: wall time of each hard-way step and of the whole `up`, the API servers'
// ready times, and full `check` sweeps, on a fresh lab with the Go-built artifacts; compared in
// the same run with what the control-plane step replaced (every API server started at once).
//
//   sudo npx tsx bench/steps-bench.ts [--sweeps 2] [--shape small|ha] [--only sequential|parallel]
//
// --shape small (default): the test suite's shape (lb + 3 controllers + 2 workers, 1 vCPU each);
// --shape ha: the `ha` preset as a user gets it (2 vCPU / 2 GiB controllers and workers).
// Runs in a network namespace of its own (test/helpers/netns.ts) and destroys each lab afterwards.
// Needs root, qemu-system-x86_64, the base image and the Go-built artifacts (`npm test -- artifacts`).
// Under TCG on 2 cores each lab takes 25-40 minutes; with KVM a few.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { netnsUnavailableReason, withNetworkNamespace } from '../test/helpers/netns.ts';
import { testArtifacts } from '../test/helpers/lab-artifacts.ts';
import type { BenchResult } from '../test/integration/hardway-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('../test/integration/hardway-lab-scenarios.ts', import.meta.url));

async function runOnce(mode: 'sequential' | 'parallel', shape: string, sweeps: number, artifactsDir: string): Promise<BenchResult> {
  const labDir = mkdtempSync(join(tmpdir(), 'hwl-bench-lab-'));
  const previous = process.env.HARDWAY_APISERVER_START;
  if (mode === 'parallel') process.env.HARDWAY_APISERVER_START = 'parallel';
  else delete process.env.HARDWAY_APISERVER_START;
  try {
    return await withNetworkNamespace('stepsbench', async (ns) => {
      const run = await ns.runScenario<BenchResult>(SCENARIOS, 'benchUp', { labDir, artifactsDir, name: 'hw-bench', sweeps, shape, scope: 'full' }, {
        timeoutMs: 90 * 60_000,
        log: (line) => {
          if (/^\d\d:\d\d:\d\d (step|check|WARNING|\[)|is ready/.test(line)) console.log(`  ${line}`);
        },
      });
      return run.result;
    });
  } finally {
    if (previous === undefined) delete process.env.HARDWAY_APISERVER_START;
    else process.env.HARDWAY_APISERVER_START = previous;
    rmSync(labDir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { sweeps: { type: 'string', default: '2' }, shape: { type: 'string', default: 'small' }, only: { type: 'string' } } });
  const why = netnsUnavailableReason() ?? testArtifacts().skip;
  if (why) {
    console.warn(`SKIPPED: steps bench: ${why}`);
    return 0;
  }
  const artifactsDir = testArtifacts().artifacts!.root;
  const modes = (values.only ? [values.only] : ['sequential', 'parallel']) as ('sequential' | 'parallel')[];
  const results = new Map<string, BenchResult>();
  for (const mode of modes) {
    console.log(`\n-- ${values.shape} shape, API servers started ${mode === 'sequential' ? 'one at a time (now)' : 'all at once (before)'}`);
    results.set(mode, await runOnce(mode, values.shape!, Number(values.sweeps), artifactsDir));
  }

  const any = [...results.values()][0]!;
  console.log(`\nhard-way steps, ${values.shape} shape (${any.acceleration ?? '?'} acceleration, waits scaled by ${any.timingScale ?? '?'}, 2-core host)`);
  console.log(`${'step'.padEnd(20)}${modes.map((m) => `${m} status`.padStart(22) + `${m} s`.padStart(16)).join('')}`);
  for (const step of any.steps) {
    const cells = modes.map((m) => {
      const s = results.get(m)!.steps.find((x) => x.id === step.id);
      return `${(s?.status ?? '-').padStart(22)}${(s?.seconds ?? 0).toFixed(1).padStart(16)}`;
    });
    console.log(`${step.id.padEnd(20)}${cells.join('')}`);
  }
  for (const m of modes) {
    const r = results.get(m)!;
    console.log(`${m}: whole up ${r.upSeconds.toFixed(0)} s; API servers ready after ${JSON.stringify(r.apiserverReadySeconds)} s; check sweeps ${r.sweepSeconds.map((s) => `${s.toFixed(0)} s`).join(', ')}; green at the end: ${r.ok ? 'yes' : 'NO'}`);
  }
  return results.get('sequential')?.ok === false ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`steps bench failed: ${error.message}`);
    process.exit(1);
  },
);
