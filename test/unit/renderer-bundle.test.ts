// The renderer bundle is browser code only: no Node built-ins, no Electron, no ipcRenderer. The
// build targets the browser platform (a Node import fails the build), and the output is scanned
// as well. The page's own CSP forbids inline and remote scripts.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildRenderer } from '../../main/server/build-renderer.ts';

let outDir: string;
let bundle: string;

before(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'hwl-renderer-bundle-'));
  await buildRenderer({ outDir });
  bundle = await readFile(join(outDir, 'app.js'), 'utf8');
});

after(() => rm(outDir, { recursive: true, force: true }));

/** Every way a bundle could reach Node or Electron, each with what it found. */
export function forbiddenImports(code: string): string[] {
  const patterns: Array<[string, RegExp]> = [
    ['require("electron")', /require\(\s*["'`]electron["'`]\s*\)/],
    ['import from "electron"', /(?:from|import)\s*\(?\s*["'`]electron(?:\/[^"'`]*)?["'`]/],
    ['a node: import', /["'`]node:[a-z_/]+["'`]/],
    ['require of a Node built-in', /require\(\s*["'`](?:fs|child_process|net|os|path|crypto|http|https|tls|dgram|worker_threads|module|vm)["'`]\s*\)/],
    ['ipcRenderer', /ipcRenderer/],
    ['process.binding', /process\.binding\(/],
  ];
  return patterns.filter(([, re]) => re.test(code)).map(([what]) => what);
}

test('the built renderer contains no Node or Electron imports', () => {
  assert.ok(bundle.length > 50_000, 'the bundle was built (xterm.js included)');
  assert.deepEqual(forbiddenImports(bundle), []);
  assert.doesNotMatch(bundle, /\brequire\s*\(/, 'an IIFE browser bundle has no require() at all');
});

test('the scanner catches what it must (it can fail)', () => {
  assert.deepEqual(forbiddenImports('const { ipcRenderer } = require("electron");'), ['require("electron")', 'ipcRenderer']);
  assert.deepEqual(forbiddenImports('import fs from "node:fs"'), ['a node: import']);
  assert.deepEqual(forbiddenImports("var cp = require('child_process')"), ['require of a Node built-in']);
});

test('renderer code that imports Node fails to build for the browser', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'hwl-renderer-bad-'));
  try {
    await writeFile(join(dir, 'bad.ts'), "import { readFileSync } from 'node:fs';\nconsole.log(readFileSync('/etc/passwd', 'utf8'));\n");
    const esbuild = await import('esbuild');
    await assert.rejects(
      esbuild.build({ entryPoints: [join(dir, 'bad.ts')], bundle: true, platform: 'browser', write: false, logLevel: 'silent' }),
      /Could not resolve "node:fs"/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('index.html loads only the local bundle, with a strict CSP and no inline script', async () => {
  const html = await readFile(join(outDir, 'index.html'), 'utf8');
  const scripts = [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0]![0], /src="app.js"/);
  assert.equal(scripts[0]![1]!.trim(), '', 'no inline script');
  assert.doesNotMatch(html, /https?:\/\//, 'no remote content');
  const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1] ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self';/);
  assert.doesNotMatch(csp, /unsafe-eval/);
});
