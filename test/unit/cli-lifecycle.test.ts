// The lab's lifecycle commands on the CLI, without VMs: `destroy` under the lab lock (refused while
// another live process works on the lab, naming it; a stale lock is taken over), state.json
// emptied by destroy, and every `hardway-lab VERB` a message tells the user to run exists.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { main, USAGE } from '../../main/cli/cli.ts';
import { ARTIFACTS_USAGE } from '../../main/cli/artifact-commands.ts';
import { SNAPSHOT_SUBCOMMANDS } from '../../main/cli/snapshot-commands.ts';
import { DRILL_SUBCOMMANDS } from '../../main/cli/drill-commands.ts';
import { labPaths } from '../../main/lab/lab-dir.ts';
import { readLabState, writeLabState } from '../../main/engine/lab-state.ts';
import { HARDWAY_STEPS } from '../../main/steps/hardway-steps.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

function labWithDoneSteps(): string {
  const lab = mkdtempSync(join(tmpdir(), 'hwl-cli-lifecycle-'));
  const steps = Object.fromEntries(['preflight', 'compute', 'certificates'].map((id) => [id, { id, status: 'done' as const }]));
  writeLabState(labPaths(lab).state, { version: 1, updatedAt: '', steps });
  return lab;
}

test('destroy empties state.json: no step of a destroyed cluster claims to be done', async () => {
  const lab = labWithDoneSteps();
  try {
    const { io, out, err } = capture();
    assert.equal(await main(['destroy', '--lab', lab], io), 0, err.join('\n'));
    assert.deepEqual(readLabState(labPaths(lab).state).steps, {});
    assert.match(out.join('\n'), /`hardway-lab up` makes the cluster again/);
    assert.equal(existsSync(labPaths(lab).lock), false, 'the lock is released');
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
});

test('destroy is refused while another live process holds the lab lock, and says who and since when; a dead holder\'s lock is taken over', async () => {
  const lab = labWithDoneSteps();
  const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    const since = new Date().toISOString();
    writeFileSync(labPaths(lab).lock, `${JSON.stringify({ pid: holder.pid, purpose: 'up', since })}\n`);
    const { io, err } = capture();
    assert.equal(await main(['destroy', '--lab', lab], io), 1);
    const message = err.join('\n');
    assert.match(message, new RegExp(`another hardway-lab process \\(pid ${holder.pid}, up, since ${since.replace(/[.]/g, '\\.')}\\)`));
    assert.match(message, new RegExp(`kill ${holder.pid}`));
    assert.equal(Object.keys(readLabState(labPaths(lab).state).steps).length, 3, 'nothing was destroyed');

    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const again = capture();
    assert.equal(await main(['destroy', '--lab', lab], again.io), 0, again.err.join('\n'));
    assert.deepEqual(readLabState(labPaths(lab).state).steps, {});
  } finally {
    holder.kill('SIGKILL');
    rmSync(lab, { recursive: true, force: true });
  }
});

/** Every source file of the app: what the user can read in a message comes from these. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...sources(full));
    else if (/\.(ts|html)$/.test(name)) out.push(full);
  }
  return out;
}

test('every `hardway-lab VERB ...` a message names is a command of the CLI (and its sub-command or step exists)', () => {
  const verbs = new Set([...USAGE.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!));
  const subcommands: Record<string, Set<string>> = {
    artifacts: new Set(ARTIFACTS_USAGE.match(/<([a-z|]+)>/)![1]!.split('|')),
    image: new Set(['build']),
    check: new Set(HARDWAY_STEPS.map((s) => s.id)),
    rewind: new Set(HARDWAY_STEPS.map((s) => s.id)),
    snapshot: new Set(SNAPSHOT_SUBCOMMANDS),
    drill: new Set(DRILL_SUBCOMMANDS),
    exercise: new Set(DRILL_SUBCOMMANDS),
  };
  assert.ok(verbs.has('up') && verbs.has('destroy') && verbs.size > 10, [...verbs].join(' '));
  const wrong: string[] = [];
  let seen = 0;
  for (const file of [...sources(join(ROOT, 'main')), ...sources(join(ROOT, 'renderer'))]) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      // A cache key's salt, not a message.
      if (/hash\.update\(/.test(line)) return;
      for (const m of line.matchAll(/`(?:npx )?hardway-lab ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)) {
        seen++;
        const [verb, sub] = [m[1]!, m[2]];
        const where = `${file.slice(ROOT.length)}:${i + 1}: \`hardway-lab ${verb}${sub ? ` ${sub}` : ''}\``;
        if (!verbs.has(verb)) wrong.push(`${where}: no command "${verb}"`);
        else if (sub && subcommands[verb] && !subcommands[verb]!.has(sub)) wrong.push(`${where}: "${verb}" has no "${sub}"`);
      }
    });
  }
  assert.ok(seen > 50, `found ${seen} hints`);
  assert.deepEqual(wrong, []);
});
