// E2E in the real desktop window, with playwright-core's `_electron` (spectron is deprecated and
// does not install). The same smoke path as browser mode: the dashboard draws the plan, the
// walkthrough lists the steps, a terminal (to a real sshd on 127.0.0.1, via --ssh-override) shows
// `hostname`. Plus what only a real window can prove: the page has no Node and no ipcRenderer,
// the preload's bridge is exactly the API, and navigation / new windows are refused.
// Runs where an Electron binary is installed; elsewhere it skips and says why.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { _electron } from 'playwright-core';
import { API_METHODS } from '../../main/shared/api-contract.ts';
import { buildElectron } from '../../main/electron/build-electron.ts';
import { ensureRendererBuilt } from '../../main/server/build-renderer.ts';
import { ensureLabSshKey } from '../../main/ssh/lab-ssh-key.ts';
import { localSshdUnavailableReason, startLocalSshd } from '../helpers/local-sshd.ts';
import { waitForTerminalText } from './support/chromium.ts';

const root = new URL('../..', import.meta.url).pathname;

function electronBinary(): { path?: string; reason?: string } {
  try {
    const path = createRequire(import.meta.url)('electron') as unknown;
    if (typeof path === 'string' && existsSync(path)) return { path };
    return { reason: `the electron package points at ${String(path)}, which does not exist` };
  } catch (error) {
    return { reason: `no Electron binary is installed (${(error as Error).message.split('\n')[0]}); installs with ELECTRON_SKIP_BINARY_DOWNLOAD=1 have none` };
  }
}

const electron = electronBinary();
const skip = electron.reason ?? localSshdUnavailableReason();
if (skip) console.warn(`SKIPPED: Electron e2e: ${skip}`);

test('the desktop window: locked-down page, dashboard, walkthrough, and a terminal that shows hostname', { skip, timeout: 5 * 60_000 }, async () => {
  const labDir = await mkdtemp(join(tmpdir(), 'hwl-electron-e2e-'));
  execFileSync(process.execPath, [join(root, 'bin/hardway-lab.mjs'), 'render', '--lab', labDir], { stdio: 'pipe' });
  const key = await ensureLabSshKey(join(labDir, 'ssh'));
  const sshd = await startLocalSshd({ authorizedKeys: key.publicKey });
  await ensureRendererBuilt();
  const bundle = await buildElectron();
  const app = await _electron.launch({
    executablePath: electron.path!,
    args: [join(bundle.outDir, 'main.cjs'), ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--lab', labDir, '--ssh-override', `127.0.0.1:${sshd.port}`],
    timeout: 60_000,
  });
  try {
    const page = await app.firstWindow();
    await page.waitForSelector('svg.topology .topo-node[data-node="worker-1"]');
    assert.match(page.url(), /^hardway:\/\/app\//);

    // The page is a plain sandboxed web page: no Node, no ipcRenderer; the bridge is the API.
    const surface = await page.evaluate(() => ({
      require: typeof (globalThis as Record<string, unknown>).require,
      process: typeof (globalThis as Record<string, unknown>).process,
      bridge: Object.keys((window as unknown as { hardwayLab: object }).hardwayLab).sort(),
      ipc: Object.values((window as unknown as { hardwayLab: object }).hardwayLab).some((v) => typeof v === 'object'),
    }));
    assert.equal(surface.require, 'undefined');
    assert.equal(surface.process, 'undefined');
    assert.deepEqual(surface.bridge, [...API_METHODS, 'onEvent'].sort());
    assert.equal(surface.ipc, false);

    // Navigation away and new windows are refused.
    await page.evaluate(() => window.open('https://example.com/'));
    await page.evaluate(() => {
      location.href = 'https://example.com/';
    });
    await page.waitForTimeout(500);
    assert.match(page.url(), /^hardway:\/\/app\//);
    assert.equal(app.windows().length, 1);

    const nodes = await page.$$eval('svg.topology .topo-node', (els) => els.map((e) => e.getAttribute('data-node')));
    assert.equal(nodes.length, 6);
    await page.click('[data-view="walkthrough"]');
    await page.waitForSelector('.step-list .step-item');
    assert.ok((await page.$$('.step-list .step-item')).length >= 5);

    await page.click('[data-view="terminals"]');
    await page.click('[data-open-node="controller-0"]');
    const frame = '.term-panes .term-frame[data-node="controller-0"]';
    await page.waitForSelector(`${frame} .xterm-rows`);
    await page.locator(`${frame} .xterm`).click();
    await page.keyboard.type('hostname\n');
    await waitForTerminalText(page, frame, hostname());
  } finally {
    await app.close();
    await sshd.dispose();
    await rm(labDir, { recursive: true, force: true });
  }
});
