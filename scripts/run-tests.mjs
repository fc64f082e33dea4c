#!/usr/bin/env node
// The one test command (`npm test`): type-check, build the lab's artifacts, then every tier with
// node's test runner, one tier after the other, each timed.
//
// Tiers:
//   artifacts    `hardway-lab artifacts build` for the default spec: every binary from its Go module
//                and the lab's images, into the cache `up` uses (nothing is redone when warm); with
//                the full tier, also `--upgrade` (the next Kubernetes minor, for the upgrade exercise).
//                GOPROXY=off: it reads the Go module cache only (`hardway-lab artifacts fetch`, which
//                .ci/run runs, fills it), so no test sends traffic off this host.
//   unit         no VMs (test/unit)
//   integration  real VMs in a network namespace (test/integration)
//   e2e          the UI in Chromium (test/e2e)
//   fast         the unit tests that need no root (the rest skip, saying so), run in parallel: for
//                before each commit (`npm test -- fast`, under a minute)
//   full         opt-in (`npm test -- full`, or HWL_FULL=1): the slower matrix — libvirt and vagrant
//                providers, the other presets, the UI driving every step (test/full)
// `npm test -- unit` runs one tier. Tiers that cannot run on this host say so and skip.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const requested = process.argv.slice(2);
const defaultTiers = ['artifacts', 'unit', 'integration', 'e2e', ...(process.env.HWL_FULL ? ['full'] : [])];
const tiers = requested.length ? requested : defaultTiers;

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

const times = [];
function timed(name, work) {
  const started = Date.now();
  console.log(`\n==== tier ${name}`);
  const status = work();
  const seconds = (Date.now() - started) / 1000;
  times.push([name, seconds, status]);
  console.log(`==== tier ${name}: ${status} in ${(seconds / 60).toFixed(1)} min`);
  return status;
}

function summary() {
  console.log('\n==== tier times');
  for (const [name, seconds, status] of times) console.log(`  ${name.padEnd(12)} ${(seconds / 60).toFixed(1).padStart(5)} min  ${status}`);
  console.log(`  ${'total'.padEnd(12)} ${(times.reduce((a, t) => a + t[1], 0) / 60).toFixed(1).padStart(5)} min`);
}

let failed = false;
timed('typecheck', () => {
  // tsc -b: every layer (tsconfig.json's references) and then the tests on top of them.
  const tsc = spawnSync('npx', ['tsc', '-b', root], { stdio: 'inherit', cwd: root });
  if (tsc.status !== 0) failed = true;
  return tsc.status === 0 ? 'passed' : 'FAILED';
});
if (failed) {
  summary();
  process.exit(1);
}

/** The artifacts the VM tiers install, built from the Go module cache only. */
function buildArtifacts() {
  if (spawnSync('go', ['version']).status !== 0) {
    console.warn('SKIPPED: artifacts: the go command is not installed; the tiers that need the lab\'s binaries skip (install Go 1.26)');
    return 'SKIPPED (no go)';
  }
  const env = { ...process.env, GOPROXY: 'off', GOTOOLCHAIN: 'local', GOSUMDB: 'off' };
  // An empty lab directory: the embedded default spec, whatever the developer's own lab pins.
  const lab = mkdtempSync(join(tmpdir(), 'hwl-test-artifacts-'));
  // The full tier's upgrade exercise also needs the next Kubernetes minor.
  const upgrade = tiers.includes('full') ? ['--upgrade'] : [];
  let run = spawnSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'artifacts', 'build', '--lab', lab], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.status === 0 && upgrade.length) {
    process.stdout.write(run.stdout);
    run = spawnSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'artifacts', 'build', ...upgrade, '--lab', lab], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }
  process.stdout.write(run.stdout);
  process.stderr.write(run.stderr.split('\n').filter((l) => !/^\S+ [\d.]+: go build /.test(l)).join('\n'));
  if (run.status === 0) return 'passed';
  if (/module lookup disabled by GOPROXY=off|cannot find module providing/.test(run.stderr)) {
    console.warn('\nSKIPPED: artifacts: Go modules are missing from the module cache — run `npx hardway-lab artifacts fetch` (as .ci/run does); the tiers that need the lab\'s binaries skip');
    return 'SKIPPED (modules not fetched)';
  }
  failed = true;
  return 'FAILED';
}

const TIER_DIRS = { fast: 'unit', unit: 'unit', integration: 'integration', e2e: 'e2e', full: 'full' };
for (const tier of tiers) {
  if (tier === 'artifacts') {
    timed('artifacts', buildArtifacts);
    continue;
  }
  const dir = TIER_DIRS[tier];
  if (!dir) {
    console.error(`unknown tier ${tier}: use ${['artifacts', ...Object.keys(TIER_DIRS)].join(', ')}`);
    process.exit(2);
  }
  const files = testFiles(join(root, 'test', dir));
  if (files.length === 0) {
    console.error(`no test files found for tier ${tier}`);
    failed = true;
    continue;
  }
  timed(tier, () => {
    // One file at a time: the VM tiers boot VMs and must not compete for the two cores. The fast
    // tier has no VM: its files run side by side, and what needs root skips (HWL_FAST).
    const fast = tier === 'fast';
    const concurrency = fast ? Math.max(2, availableParallelism()) : 1;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', cwd: root, env: fast ? { ...process.env, HWL_FAST: '1' } : process.env });
    if (run.status !== 0) failed = true;
    return run.status === 0 ? 'passed' : 'FAILED';
  });
}
summary();
process.exit(failed ? 1 : 0);
