// The desktop app's boundary, provable without an Electron binary: the bundled preload exposes
// exactly one function per API call (plus the event subscription) through contextBridge and
// nothing else, requires nothing but electron, and never hands the page ipcRenderer; the main
// process keeps the window locked down. (That no code outside main/electron/ imports electron is a
// type error: test/unit/layers.test.ts.)
// (The same smoke path runs in a real window in test/e2e/electron-smoke.test.ts where Electron exists.)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { API_METHODS } from '../../main/shared/api-contract.ts';
import { buildElectron } from '../../main/electron/build-electron.ts';

const root = new URL('../..', import.meta.url).pathname;

test('the preload exposes one function per API call through contextBridge, and never ipcRenderer', async () => {
  const outDir = await mkdtemp(join(tmpdir(), 'hwl-preload-'));
  try {
    await buildElectron({ outDir, only: 'preload' });
    const code = await readFile(join(outDir, 'preload.cjs'), 'utf8');
    const required: string[] = [];
    const exposed: Record<string, unknown> = {};
    const invoked: Array<{ channel: string; args: unknown[] }> = [];
    const ipcRenderer = {
      invoke: (channel: string, ...args: unknown[]) => {
        invoked.push({ channel, args });
        return Promise.resolve({ result: 'ok' });
      },
      on: () => ipcRenderer,
      removeListener: () => ipcRenderer,
    };
    // The recording stand-ins record what the preload does with the two electron objects it may use.
    const electron = { contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) }, ipcRenderer };
    const module = { exports: {} };
    runInNewContext(code, {
      module,
      exports: module.exports,
      require: (name: string) => {
        required.push(name);
        if (name !== 'electron') throw new Error(`the preload must not require ${name}`);
        return electron;
      },
    });
    assert.deepEqual(required, ['electron']);
    assert.deepEqual(Object.keys(exposed), ['hardwayLab']);
    const api = exposed.hardwayLab as Record<string, unknown>;
    assert.deepEqual(Object.keys(api).sort(), [...API_METHODS, 'onEvent'].sort());
    for (const [name, value] of Object.entries(api)) {
      assert.equal(typeof value, 'function', `${name} is a function`);
      assert.notEqual(value, ipcRenderer.invoke);
      assert.notEqual(value, ipcRenderer.on);
    }
    assert.ok(!Object.values(api).includes(ipcRenderer), 'ipcRenderer itself is not exposed');
    await (api.openTerminal as (...a: unknown[]) => Promise<unknown>)('controller-0', 80, 24);
    assert.deepEqual(JSON.parse(JSON.stringify(invoked)), [{ channel: 'hardway-lab:call:openTerminal', args: [['controller-0', 80, 24]] }]);
    assert.doesNotMatch(code, /exposeInMainWorld\([^)]*ipcRenderer\)/);
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
});

test('the main process creates its window isolated, sandboxed, without Node, and refuses navigation', () => {
  const main = readFileSync(join(root, 'main/electron/main.ts'), 'utf8');
  for (const setting of ['contextIsolation: true', 'sandbox: true', 'nodeIntegration: false', 'webviewTag: false', 'webSecurity: true']) {
    assert.ok(main.includes(setting), `webPreferences has ${setting}`);
  }
  assert.match(main, /setWindowOpenHandler\(\(\) => \(\{ action: 'deny' \}\)\)/);
  assert.match(main, /'will-navigate'/);
  assert.match(main, /requestSingleInstanceLock\(\)/);
  assert.match(main, /'Content-Security-Policy': CONTENT_SECURITY_POLICY/);
  assert.doesNotMatch(main, /loadURL\(\s*['"`]https?:/, 'no remote pages');
});
