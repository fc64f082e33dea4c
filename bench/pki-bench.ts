// How long the lab PKI takes to generate: the ha preset and a 20-worker lab, ECDSA P-256 and
// RSA-2048, each into a fresh directory, plus a re-run that keeps everything (the common case).
// Figures only, no assertions. Run: npx tsx bench/pki-bench.ts
// Goal: the ha preset with ECDSA in ≤ 0.5 s.

import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultSpecText, parseSpec } from '../main/spec/parse-spec.ts';
import { buildPlan, type Plan } from '../main/plan/address-plan.ts';
import type { KeyAlgorithm } from '../main/spec/cluster-spec.ts';
import { labPaths } from '../main/lab/lab-dir.ts';
import { ensurePki } from '../main/pki/ensure-pki.ts';

const ECDSA_GOAL_SECONDS = 0.5;
const RUNS: Record<KeyAlgorithm, number> = { 'ecdsa-p256': 5, 'rsa-2048': 2 };

const labs: Array<{ label: string; plan: Plan }> = [
  { label: 'ha preset', plan: buildPlan(parseSpec(defaultSpecText()).spec) },
  { label: '20 workers', plan: buildPlan(parseSpec('preset: ha\nnodes:\n  worker:\n    count: 20\n', '20-worker spec').spec) },
];

interface Timing {
  fresh: number[];
  rerun: number;
}

async function time(plan: Plan, algorithm: KeyAlgorithm, runs: number): Promise<Timing> {
  const root = mkdtempSync(join(tmpdir(), 'hwl-pki-bench-'));
  try {
    const fresh: number[] = [];
    let lastPaths = labPaths(join(root, 'run-0'));
    for (let i = 0; i < runs; i++) {
      lastPaths = labPaths(join(root, `run-${i}`));
      const start = performance.now();
      await ensurePki(plan, lastPaths, { algorithm });
      fresh.push((performance.now() - start) / 1000);
    }
    const start = performance.now();
    const kept = await ensurePki(plan, lastPaths, { algorithm });
    const rerun = (performance.now() - start) / 1000;
    if (kept.created.length > 0) throw new Error(`a re-run re-issued ${kept.created.join(', ')}: the PKI is not stable`);
    return { fresh, rerun };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const seconds = (s: number) => `${s.toFixed(3)} s`;

console.log(`PKI generation, wall time (Node ${process.version}, ${availableParallelism()} CPUs)`);
const header = ['lab', 'algorithm', 'certs+keys', 'first run', 'median', 'runs', 're-run (keep)', 'note'];
const rows: string[][] = [];
for (const algorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
  for (const { label, plan } of labs) {
    const { fresh, rerun } = await time(plan, algorithm, RUNS[algorithm]);
    const typical = median(fresh);
    const note =
      label === 'ha preset' && algorithm === 'ecdsa-p256'
        ? `goal ≤ ${ECDSA_GOAL_SECONDS} s: ${typical <= ECDSA_GOAL_SECONDS ? 'met' : 'MISSED'}`
        : '';
    rows.push([label, algorithm, String(plan.certificates.length), seconds(fresh[0]!), seconds(typical), String(fresh.length), seconds(rerun), note]);
    console.log(rows.at(-1)!.join('  '));
  }
}

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`);
