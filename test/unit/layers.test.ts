// The layers the compiler enforces (tsconfig.json and one tsconfig per layer): the shared contract
// sees neither the DOM nor Node, the engine sees Node and never electron, the renderer sees the DOM
// and of the engine only the shared contract, and main/electron/ is the one place that imports
// electron. Proven with the repository's own tsconfig files on a scratch copy of the layout: each
// wrong import is a type error on the line that makes it, and the right ones compile.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
const CONFIGS = ['tsconfig.base.json', 'main/shared/tsconfig.json', 'main/tsconfig.json', 'main/electron/tsconfig.json', 'renderer/tsconfig.json', 'main/electron/only-main-electron-imports-electron.ts'];

/** A scratch repository with the real layer configs and the given files; the errors of `tsc -b` on it. */
function compile(files: Record<string, string>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-layers-'));
  try {
    for (const config of CONFIGS) {
      mkdirSync(dirname(join(dir, config)), { recursive: true });
      copyFileSync(join(root, config), join(dir, config));
    }
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    // The layers' build output goes into node_modules/.cache: keep it in the scratch directory.
    for (const config of CONFIGS.filter((c) => c.endsWith('tsconfig.json'))) {
      const file = join(dir, config);
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll('node_modules/.cache/hardway-tsc', '.tsc-out'));
    }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ files: [], references: ['main/shared', 'main', 'main/electron', 'renderer'].map((path) => ({ path })) }));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, name)), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    const run = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', '--pretty', 'false'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    return run.stdout.split('\n').filter((line) => / error TS\d+/.test(line));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SHARED = { 'main/shared/contract.ts': 'export interface Reply { ok: boolean }\n' };
const ENGINE = { 'main/engine/run.ts': "import { readFileSync } from 'node:fs';\nimport type { Reply } from '../shared/contract.ts';\nexport const reply = (file: string): Reply => ({ ok: readFileSync(file, 'utf8').length > 0 });\n" };

test('the right imports compile: engine → shared and Node, renderer → shared and the DOM, electron → engine', () => {
  assert.deepEqual(
    compile({
      ...SHARED,
      ...ENGINE,
      'renderer/view.ts': "import type { Reply } from '../main/shared/contract.ts';\nexport const show = (r: Reply): void => void (document.title = String(r.ok));\n",
      'main/electron/main.ts': "import { app } from 'electron';\nimport { reply } from '../engine/run.ts';\nexport const start = () => app.whenReady().then(() => reply('x'));\n",
    }),
    [],
  );
});

test('each wrong import is a type error where it is made', () => {
  const errors = compile({
    ...SHARED,
    ...ENGINE,
    'main/shared/uses-node.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
    'main/shared/uses-dom.ts': 'export const title = (): string => document.title;\n',
    'main/engine/uses-electron.ts': "import { app } from 'electron';\nexport const quit = () => app.quit();\n",
    'main/engine/uses-dom.ts': 'export const title = (): string => document.title;\n',
    'renderer/uses-engine.ts': "import { reply } from '../main/engine/run.ts';\nexport const r = reply;\n",
    'renderer/uses-node.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
  });
  const at = (file: string, code: string) => errors.some((e) => e.startsWith(`${file}(`) && e.includes(`error ${code}`));
  assert.ok(at('main/shared/uses-node.ts', 'TS2307'), `the shared layer cannot see Node:\n${errors.join('\n')}`);
  assert.ok(at('main/shared/uses-dom.ts', 'TS2584'), `the shared layer cannot see the DOM:\n${errors.join('\n')}`);
  assert.ok(errors.some((e) => e.includes('TS6307') && e.includes('only-main-electron-imports-electron.ts') && e.includes('main/tsconfig.json')), `the engine cannot import electron:\n${errors.join('\n')}`);
  assert.ok(at('main/engine/uses-dom.ts', 'TS2584'), `the engine cannot see the DOM:\n${errors.join('\n')}`);
  assert.ok(errors.some((e) => e.includes('TS6307') && e.includes('main/engine/run.ts') && e.includes('renderer/tsconfig.json')), `the renderer cannot import the engine:\n${errors.join('\n')}`);
  assert.ok(at('renderer/uses-node.ts', 'TS2307'), `the renderer cannot see Node:\n${errors.join('\n')}`);
});
