#!/usr/bin/env node
// `npm start [-- --lab DIR] [--spec FILE] [--port N]`: the desktop app where an Electron binary is
// installed; otherwise (headless hosts, CI, or ELECTRON_SKIP_BINARY_DOWNLOAD installs) browser
// mode on 127.0.0.1, printing the URL to open. `--browser` forces browser mode.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { register } from 'tsx/esm/api';

register();
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);

/** The Electron binary's path, or why there is none. */
function electronBinary() {
  if (argv.includes('--browser')) return { reason: '--browser was given' };
  try {
    // The electron package exports the path of its binary, and throws when the download was skipped.
    const path = require('electron');
    if (typeof path === 'string' && existsSync(path)) return { path };
    return { reason: `the electron package points at ${path}, which does not exist` };
  } catch (error) {
    return { reason: `no Electron binary is installed (${String(error.message).split('\n')[0]})` };
  }
}

const { ensureRendererBuilt } = await import('../main/server/build-renderer.ts');
const renderer = await ensureRendererBuilt();
if (renderer.built) console.log(`built the renderer in ${renderer.ms} ms`);

const electron = electronBinary();
if (electron.path) {
  const { buildElectron } = await import('../main/electron/build-electron.ts');
  const bundle = await buildElectron();
  const extra = [];
  // Chromium refuses to run as root with its sandbox; the window's own isolation settings stay on.
  if (process.getuid?.() === 0) {
    console.warn('warning: running as root, so Electron is started with --no-sandbox');
    extra.push('--no-sandbox');
  }
  const child = spawn(electron.path, [`${bundle.outDir}/main.cjs`, ...extra, ...argv.filter((a) => a !== '--browser')], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  console.log(`Desktop window not available: ${electron.reason}. Starting browser mode instead.`);
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ args: argv, options: { lab: { type: 'string' }, spec: { type: 'string' }, port: { type: 'string' }, browser: { type: 'boolean' } }, strict: true });
  const { startServer } = await import('../main/server/serve.ts');
  const server = await startServer({ lab: values.lab, spec: values.spec, port: values.port ? Number(values.port) : 0, log: (line) => console.log(line) });
  console.log(`\nHardway Lab is running in browser mode. Open:\n\n  ${server.url}\n\n(127.0.0.1 only; from another machine: ssh -L ${server.port}:127.0.0.1:${server.port} this-host). Ctrl-C stops it.`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
