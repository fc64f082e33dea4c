// electron-builder.yml is checked with electron-builder's own validator (the JSON schema it ships
// and its extra rules), the same one `electron-builder` runs before packaging. Building the
// installers needs downloads (Electron, AppImage/NSIS/dmg tools) that an offline machine cannot
// make, so this is what can be proven here.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const root = new URL('../..', import.meta.url).pathname;
const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  validateConfiguration(config: unknown, logger: unknown): Promise<void>;
};
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };

function loadConfig(): Record<string, any> {
  return parse(readFileSync(`${root}/electron-builder.yml`, 'utf8')) as Record<string, any>;
}

const validate = (config: unknown) => validateConfiguration(config, new DebugLogger(false));

test('electron-builder.yml passes electron-builder\'s configuration validator', async () => {
  await validate(loadConfig());
});

test('it targets AppImage + deb, dmg and nsis, with the app metadata', () => {
  const config = loadConfig();
  assert.equal(config.appId, 'dev.hardwaylab.app');
  assert.equal(config.productName, 'Hardway Lab');
  assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
  assert.deepEqual(config.mac.target, ['dmg']);
  assert.deepEqual(config.win.target, ['nsis']);
  assert.equal(config.extraMetadata.main, 'dist/electron/main.cjs');
  for (const needed of ['dist/electron/**', 'dist/renderer/**', 'provision/**', 'main/spec/default-hardway-lab.yaml']) {
    assert.ok(config.files.includes(needed), `files includes ${needed}`);
  }
});

test('a broken configuration fails the validator', async () => {
  const typo = loadConfig();
  typo.linux.targett = ['AppImage'];
  await assert.rejects(validate(typo), /configuration\.linux/);

  const wrongType = loadConfig();
  wrongType.nsis.oneClick = 'sometimes';
  await assert.rejects(validate(wrongType), /configuration\.nsis/);

  const unknownTop = loadConfig();
  unknownTop.electronDownlaod = {};
  await assert.rejects(validate(unknownTop), /unknown property 'electronDownlaod'/);
});
