// Which mirror the image builder uses: the host's main Debian archive from its apt sources.

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { DEFAULT_DEBIAN_MIRROR, defaultDebianMirror, hostDebianMirror, parseDeb822Sources, parseOneLineSources } from '../../main/image/debian-mirror.ts';

function aptDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-apt-'));
  mkdirSync(join(dir, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('deb822 sources: the first stanza with a Debian suite wins; security and foreign repos do not', () => {
  const dir = aptDir({
    'sources.list.d/0-cloud.sources': 'Types: deb\nURIs: https://packages.cloud.google.com/apt\nSuites: cloud-sdk-bookworm\nComponents: main\n',
    'sources.list.d/debian.sources':
      'Types: deb\n# comment\nURIs: http://mirror.local/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.local/debian-security\nSuites: bookworm-security\nComponents: main\n',
    'sources.list.d/old.list.disabled': 'deb http://wrong.example/debian bookworm main\n',
  });
  assert.equal(hostDebianMirror(dir), 'http://mirror.local/debian');
});

test('one-line sources.list with options; disabled stanzas are skipped', () => {
  assert.deepEqual(parseOneLineSources('# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m/debian trixie main\ndeb-src http://m/debian trixie main\n'), [{ uri: 'http://m/debian', suites: ['trixie'] }]);
  assert.deepEqual(parseDeb822Sources('Types: deb\nEnabled: no\nURIs: http://m/debian\nSuites: bookworm\n'), []);
  const dir = aptDir({ 'sources.list': 'deb http://ftp.example.org/debian bookworm main\n' });
  assert.equal(defaultDebianMirror(dir), 'http://ftp.example.org/debian');
});

test('no usable source: the standard Debian mirror', () => {
  const dir = aptDir({ 'sources.list.d/nodesource.sources': 'Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n' });
  assert.equal(hostDebianMirror(dir), undefined);
  assert.equal(defaultDebianMirror(dir), DEFAULT_DEBIAN_MIRROR);
});
