// Boot-to-SSH benchmark: how long from "create the VM" to "a command runs over SSH", for one node
// alone and for the six nodes of the `ha` preset booting at once.
//
//   sudo npx tsx bench/boot-bench.ts [--providers qemu] [--cpus 1] [--skip-single]
//
// Every run happens in a network namespace of its own (test/helpers/netns.ts), so nothing touches
// the host's networks. Needs root. Each provider is one entry in BOOT_BENCH_RUNNERS: to compare
// another provider (e.g. vagrant), add a runner there that returns the same BootBenchResult.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildBaseImage } from '../main/image/build-image.ts';
import { netnsUnavailableReason, withNetworkNamespace } from '../test/helpers/netns.ts';
import type { LabScenarioResult } from '../test/helpers/qemu-lab-scenarios.ts';

const SCENARIOS = fileURLToPath(new URL('../test/helpers/qemu-lab-scenarios.ts', import.meta.url));

export interface BootBenchResult {
  provider: string;
  acceleration?: string;
  /** One node booted alone: seconds to SSH. */
  single?: { node: string; seconds: number };
  /** All nodes at once: seconds to SSH per node, and until the last one answered. */
  parallel: { perNode: Array<{ node: string; seconds: number }>; allSeconds: number };
}

export interface BootBenchOptions {
  cpus: number;
  skipSingle: boolean;
  log: (line: string) => void;
}

type BootBenchRunner = (options: BootBenchOptions) => Promise<BootBenchResult>;

async function runQemuScenario(only: string[] | undefined, options: BootBenchOptions, imageCacheDir: string): Promise<LabScenarioResult> {
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-boot-bench-'));
  try {
    return await withNetworkNamespace('bench', async (ns) => {
      const { result } = await ns.runScenario<LabScenarioResult>(
        SCENARIOS,
        'bootLabAndCheck',
        {
          labDir,
          preset: 'ha',
          name: 'boot-bench',
          only,
          nodes: { lb: { memoryMiB: 512, cpus: 1 }, controller: { memoryMiB: 1024, cpus: options.cpus }, worker: { memoryMiB: 1024, cpus: options.cpus } },
          sshTimeoutMs: 20 * 60_000,
          imageCacheDir,
        },
        { timeoutMs: 30 * 60_000, log: (line) => options.log(`  ${line}`) },
      );
      return result;
    });
  } finally {
    await rm(labDir, { recursive: true, force: true });
  }
}

export const BOOT_BENCH_RUNNERS: Record<string, BootBenchRunner> = {
  async qemu(options) {
    const image = await buildBaseImage({ onProgress: (line) => options.log(`[image] ${line}`) });
    const cache = join(image.dir, '..');
    let single: BootBenchResult['single'];
    let acceleration: string | undefined;
    if (!options.skipSingle) {
      options.log('qemu: one node alone (controller-0)');
      const one = await runQemuScenario(['controller-0'], options, cache);
      single = { node: 'controller-0', seconds: one.nodes[0]!.bootToSshSeconds };
      acceleration = one.acceleration;
    }
    options.log('qemu: all six nodes of the ha preset at once');
    const all = await runQemuScenario(undefined, options, cache);
    return {
      provider: 'qemu',
      acceleration: acceleration ?? all.acceleration,
      single,
      parallel: { perNode: all.nodes.map((n) => ({ node: n.node, seconds: n.bootToSshSeconds })), allSeconds: all.allSshSeconds },
    };
  },
  // vagrant: added by the vagrant provider's bench; return the same BootBenchResult shape.
};

function printResult(result: BootBenchResult) {
  console.log(`\n${result.provider} (acceleration: ${result.acceleration ?? 'n/a'})`);
  if (result.single) console.log(`  one node alone      ${result.single.node.padEnd(13)} ${result.single.seconds.toFixed(1).padStart(6)} s to SSH`);
  console.log('  six nodes at once:');
  for (const n of result.parallel.perNode) console.log(`                      ${n.node.padEnd(13)} ${n.seconds.toFixed(1).padStart(6)} s to SSH`);
  console.log(`                      ${'all six'.padEnd(13)} ${result.parallel.allSeconds.toFixed(1).padStart(6)} s`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      providers: { type: 'string', default: 'qemu' },
      cpus: { type: 'string', default: '1' },
      'skip-single': { type: 'boolean', default: false },
    },
  });
  const unavailable = netnsUnavailableReason();
  if (unavailable) {
    console.error(`boot-bench cannot run: ${unavailable}`);
    process.exit(2);
  }
  const results: BootBenchResult[] = [];
  for (const name of values.providers!.split(',')) {
    const runner = BOOT_BENCH_RUNNERS[name];
    if (!runner) {
      console.error(`no boot bench for provider "${name}" (have: ${Object.keys(BOOT_BENCH_RUNNERS).join(', ')})`);
      process.exit(2);
    }
    results.push(await runner({ cpus: Number(values.cpus), skipSingle: values['skip-single']!, log: (l) => console.log(l) }));
  }
  for (const result of results) printResult(result);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
