#!/usr/bin/env node
// The one test command (`npm test`): type-check, then every tier with node's test runner.
// Tiers: unit (no VMs), integration (real VMs in a network namespace), e2e (the UI in Chromium).
// `npm test -- unit` runs one tier. Tiers that cannot run on this host say so and skip.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const tiers = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];

function testFiles(dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out = out.concat(testFiles(full));
    else if (name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', root], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) {
  console.error('type check failed');
  process.exit(1);
}

const files = tiers.flatMap((tier) => testFiles(join(root, 'test', tier)));
if (files.length === 0) {
  console.error(`no test files found for tiers: ${tiers.join(', ')}`);
  process.exit(1);
}
// One process at a time: integration tests boot VMs and must not compete for the two cores.
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(run.status ?? 1);
