// Artifacts: release URLs and checksum files, verified downloads from a local HTTP server on
// 127.0.0.1 standing in for dl.k8s.io and GitHub (no internet here), a wrong checksum refused, and
// the Debian fill for real from this host's packages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { DEFAULT_VERSIONS } from '../../main/spec/cluster-spec.ts';
import { labImages } from '../../main/plan/image-plan.ts';
import { expectedChecksum, releaseFiles } from '../../main/artifacts/release-catalog.ts';
import { ChecksumMismatchError, DownloadError, downloadVerified } from '../../main/artifacts/download-verified.ts';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import { ArtifactMissingError, ArtifactSet } from '../../main/artifacts/artifact-set.ts';
import { fillArtifactsFromDebian, upstreamVersion } from '../../main/artifacts/fill-from-debian.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Serves `files` (path → content) on 127.0.0.1; anything else is a 404. */
async function serve(files: Map<string, Buffer>): Promise<{ server: Server; base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

/** Fixed here (not the spec's defaults, which move): the URL shapes are what is tested. */
const PINNED = { kubernetes: '1.32.3', etcd: '3.5.17', containerd: '2.0.4', runc: '1.2.6', cniPlugins: '1.6.2', coredns: '1.12.0', crictl: '1.32.0' };

test('catalog: official locations and checksum files for the pinned versions', () => {
  const files = releaseFiles(PINNED, ['kubernetes', 'etcd', 'containerd', 'runc', 'cni-plugins', 'coredns', 'crictl']);
  const url = (component: string) => files.filter((f) => f.component === component).map((f) => `${f.url} ${f.checksumUrl}`);
  assert.deepEqual(url('kubernetes')[0], 'https://dl.k8s.io/v1.32.3/bin/linux/amd64/kube-apiserver https://dl.k8s.io/v1.32.3/bin/linux/amd64/kube-apiserver.sha256');
  assert.equal(url('kubernetes').length, 6);
  assert.deepEqual(url('etcd'), ['https://github.com/etcd-io/etcd/releases/download/v3.5.17/etcd-v3.5.17-linux-amd64.tar.gz https://github.com/etcd-io/etcd/releases/download/v3.5.17/SHA256SUMS']);
  assert.deepEqual(url('containerd'), [
    'https://github.com/containerd/containerd/releases/download/v2.0.4/containerd-2.0.4-linux-amd64.tar.gz https://github.com/containerd/containerd/releases/download/v2.0.4/containerd-2.0.4-linux-amd64.tar.gz.sha256sum',
  ]);
  assert.deepEqual(url('runc'), ['https://github.com/opencontainers/runc/releases/download/v1.2.6/runc.amd64 https://github.com/opencontainers/runc/releases/download/v1.2.6/runc.sha256sum']);
  assert.deepEqual(url('cni-plugins'), [
    'https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-amd64-v1.6.2.tgz https://github.com/containernetworking/plugins/releases/download/v1.6.2/cni-plugins-linux-amd64-v1.6.2.tgz.sha256',
  ]);
  assert.deepEqual(url('coredns'), ['https://github.com/coredns/coredns/releases/download/v1.12.0/coredns_1.12.0_linux_amd64.tgz https://github.com/coredns/coredns/releases/download/v1.12.0/coredns_1.12.0_linux_amd64.tgz.sha256']);
  assert.deepEqual(url('crictl'), [
    'https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-amd64.tar.gz https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-amd64.tar.gz.sha256',
  ]);
  // etcd's archive also carries etcdutl (offline snapshot restore).
  assert.deepEqual(
    files.filter((f) => f.component === 'etcd').flatMap((f) => (f.install.kind === 'archive' ? f.install.members.map((m) => m.to) : [])),
    ['bin/etcd', 'bin/etcdctl', 'bin/etcdutl'],
  );
});

test('checksum files: a bare hash, sha256sum lines, paths and the binary marker', () => {
  const h = 'a'.repeat(64);
  const g = 'b'.repeat(64);
  assert.equal(expectedChecksum(`${h}\n`, 'kubectl', 'u'), h);
  assert.equal(expectedChecksum(`${g}  runc.arm64\n${h}  runc.amd64\n`, 'runc.amd64', 'u'), h);
  assert.equal(expectedChecksum(`${h} *./etcd-v3.5.17-linux-amd64.tar.gz\n`, 'etcd-v3.5.17-linux-amd64.tar.gz', 'u'), h);
  assert.equal(expectedChecksum(`${h.toUpperCase()}  x.tgz`, 'x.tgz', 'u'), h);
  assert.throws(() => expectedChecksum(`${g}  runc.arm64\n`, 'runc.amd64', 'https://x/runc.sha256sum'), /https:\/\/x\/runc\.sha256sum has no SHA-256 for runc\.amd64/);
});

test('download: verified into the cache with progress, reused on the next run; a wrong checksum is refused and nothing is kept', async (t) => {
  const versions = { ...PINNED };
  const files = new Map<string, Buffer>();
  for (const name of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'kubelet', 'kube-proxy']) {
    const body = Buffer.from(`#!/bin/sh\necho ${name} v${versions.kubernetes}\n`.repeat(2000));
    files.set(`/k8s/v${versions.kubernetes}/bin/linux/amd64/${name}`, body);
    files.set(`/k8s/v${versions.kubernetes}/bin/linux/amd64/${name}.sha256`, Buffer.from(sha256(body)));
  }
  // An etcd release archive laid out like the real one, with its SHA256SUMS.
  const staging = mkdtempSync(join(tmpdir(), 'hwl-etcd-release-'));
  const dir = `etcd-v${versions.etcd}-linux-amd64`;
  mkdirSync(join(staging, dir));
  writeFileSync(join(staging, dir, 'etcd'), '#!/bin/sh\necho "etcd Version: fake"\n', { mode: 0o755 });
  writeFileSync(join(staging, dir, 'etcdctl'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(staging, dir, 'etcdutl'), '#!/bin/sh\n', { mode: 0o755 });
  execFileSync('tar', ['-czf', join(staging, `${dir}.tar.gz`), '-C', staging, dir]);
  const archive = readFileSync(join(staging, `${dir}.tar.gz`));
  files.set(`/gh/etcd-io/etcd/releases/download/v${versions.etcd}/${dir}.tar.gz`, archive);
  files.set(`/gh/etcd-io/etcd/releases/download/v${versions.etcd}/SHA256SUMS`, Buffer.from(`${'c'.repeat(64)}  etcd-v${versions.etcd}-linux-arm64.tar.gz\n${sha256(archive)}  ${dir}.tar.gz\n`));

  const { server, base, hits } = await serve(files);
  t.after(() => server.close());
  const cacheDir = mkdtempSync(join(tmpdir(), 'hwl-cache-'));
  const source = new ArtifactSource({ versions, cacheDir, env: {}, baseUrls: { kubernetes: `${base}/k8s`, github: `${base}/gh` } });
  assert.equal(source.kind, 'managed');
  assert.equal(source.kubeBinariesAvailable(), true);
  // auto: the "official" site answers, so the release downloads are used — and the reason says so.
  const choice = await source.chosen();
  assert.equal(choice.kind, 'release');
  assert.match(choice.reason, /the official release site answers \(http:\/\/127\.0\.0\.1:\d+\/k8s\/v1\.32\.3\/bin\/linux\/amd64\/kubectl\.sha256\)/);

  const progress: number[] = [];
  const set = await source.ensure(['kubernetes', 'etcd'], (e) => e.kind === 'download' && e.progress.fraction !== undefined && progress.push(e.progress.fraction));
  assert.equal(set.kubeBinaries, true);
  assert.equal(readFileSync(set.require('kubelet'), 'utf8').split('\n')[1], `echo kubelet v${versions.kubernetes}`);
  assert.equal(readFileSync(set.require('etcd'), 'utf8'), '#!/bin/sh\necho "etcd Version: fake"\n');
  assert.ok(progress.includes(1), 'progress reaches 1 for each file');
  assert.equal(JSON.parse(readFileSync(join(set.root, 'versions.json'), 'utf8')).kubernetes, versions.kubernetes);

  // Second run: everything is installed, nothing is fetched.
  const before = hits.length;
  await source.ensure(['kubernetes', 'etcd']);
  assert.equal(hits.length, before);

  // A release whose published checksum does not match: refused, with both hashes, and no file left.
  const runcBody = Buffer.from('not the published runc');
  files.set(`/gh/opencontainers/runc/releases/download/v${versions.runc}/runc.amd64`, runcBody);
  files.set(`/gh/opencontainers/runc/releases/download/v${versions.runc}/runc.sha256sum`, Buffer.from(`${sha256('the real runc')}  runc.amd64\n`));
  await assert.rejects(
    source.ensure(['runc']),
    (error: unknown) =>
      error instanceof ChecksumMismatchError &&
      error.expected === sha256('the real runc') &&
      error.actual === sha256(runcBody) &&
      /checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/gh\/opencontainers\/runc\/releases\/download\/v1\.2\.6\/runc\.amd64/.test(error.message) &&
      /the download was deleted/.test(error.message),
  );
  assert.equal(existsSync(join(set.root, 'bin', 'runc')), false);
  const runcDownloads = join(set.root, 'downloads', 'runc', versions.runc);
  assert.deepEqual(existsSync(runcDownloads) ? readdirSync(runcDownloads) : [], [], 'no partial or unverified file kept');

  // A version that does not exist upstream: a clear error naming the URL and --artifacts.
  await assert.rejects(
    downloadVerified(releaseFiles({ ...versions, containerd: '9.9.9' }, ['containerd'], { baseUrls: { github: `${base}/gh` } })[0]!, join(cacheDir, 'x')),
    (error: unknown) => error instanceof DownloadError && /HTTP 404/.test(error.message) && /--artifacts DIR/.test(error.message),
  );
});

test('artifact directory: the documented layout, and what is missing said plainly', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-artdir-'));
  const set = new ArtifactSet(dir, 'directory');
  assert.equal(set.kubeBinaries, false);
  assert.throws(
    () => set.require('etcd'),
    (e: unknown) => e instanceof ArtifactMissingError && /bin\/etcd is not in the artifacts directory/.test((e as Error).message) && /hardway-lab artifacts build --into /.test((e as Error).message),
  );
  assert.throws(() => set.require('kube-apiserver'), /kube-apiserver, kube-controller-manager.*artifacts build --into/);
  assert.throws(() => set.requireCniPlugins(), /cni\/bridge, cni\/host-local, cni\/loopback/);
  assert.throws(() => new ArtifactSource({ dir: join(dir, 'nope'), versions: DEFAULT_VERSIONS }), /does not exist/);
  const fromEnv = new ArtifactSource({ versions: DEFAULT_VERSIONS, env: { HARDWAY_ARTIFACTS_DIR: dir } });
  assert.equal(fromEnv.kind, 'directory');
  assert.equal(fromEnv.root, dir);
  assert.equal(fromEnv.kubeBinariesAvailable(), false);
});

test('Debian fill: upstream versions from Debian versions', () => {
  assert.equal(upstreamVersion('3.4.23-4+b4'), '3.4.23');
  assert.equal(upstreamVersion('1.6.20~ds1-1+deb12u3'), '1.6.20');
  assert.equal(upstreamVersion('1.1.5+ds1-1+deb12u1'), '1.1.5');
  assert.equal(upstreamVersion('1:2.6.12-1'), '2.6.12');
});

test('Debian fill: copies etcd, containerd, runc and CNI from this host, idempotently', async (t) => {
  const needed = ['etcd-server', 'etcd-client', 'containerd', 'runc', 'containernetworking-plugins'];
  const absent = needed.filter((pkg) => spawnSync('dpkg-query', ['-W', '-f', '${db:Status-Status}', pkg], { encoding: 'utf8' }).stdout !== 'installed');
  if (absent.length > 0) {
    console.warn(`SKIPPED: Debian fill needs these packages installed: ${absent.join(', ')}`);
    t.skip(`missing Debian packages: ${absent.join(', ')}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hwl-debfill-'));
  const result = await fillArtifactsFromDebian(dir, { haproxy: false });
  const set = new ArtifactSet(dir, 'directory');
  for (const name of ['etcd', 'etcdctl', 'containerd', 'containerd-shim-runc-v2', 'ctr', 'runc'] as const) assert.ok(set.has(name), `bin/${name}`);
  assert.deepEqual(set.requireCniPlugins().filter((p) => ['bridge', 'host-local', 'loopback'].includes(p)), ['bridge', 'host-local', 'loopback']);
  // The copies are the real programs.
  assert.match(execFileSync(set.require('etcd'), ['--version'], { encoding: 'utf8' }), new RegExp(`etcd Version: ${result.versions.etcd!.replace(/\./g, '\\.')}`));
  assert.match(execFileSync(set.require('runc'), ['--version'], { encoding: 'utf8' }), /runc version/);
  assert.deepEqual(Object.keys(set.versions()).sort(), ['cniPlugins', 'containerd', 'etcd', 'etcdctl', 'runc', 'source']);
  assert.equal(set.kubeBinaries, false, 'Debian does not package the Kubernetes server binaries');

  const again = await fillArtifactsFromDebian(dir, { haproxy: false });
  assert.deepEqual(again.written, [], 'a second fill rewrites nothing');
  assert.equal(again.unchanged.length, result.written.length);
});

test('another Kubernetes release (the upgrade\'s): a directory\'s upgrade/ folder when it has one, else the cache\'s set for those versions', () => {
  const cache = mkdtempSync(join(tmpdir(), 'hwl-cache-'));
  const dir = mkdtempSync(join(tmpdir(), 'hwl-artifacts-'));
  const images = labImages(DEFAULT_VERSIONS);
  const managed = new ArtifactSource({ versions: DEFAULT_VERSIONS, cacheDir: cache, images, env: {} });
  const next = managed.forKubernetes('1.37.2');
  assert.equal(next.kind, 'managed');
  assert.notEqual(next.root, managed.root);
  assert.equal(next.root, new ArtifactSource({ versions: { ...DEFAULT_VERSIONS, kubernetes: '1.37.2' }, cacheDir: cache, env: {} }).root, 'the set `artifacts build --upgrade` fills');

  const given = new ArtifactSource({ versions: DEFAULT_VERSIONS, cacheDir: cache, images, dir, env: {} });
  assert.equal(given.forKubernetes('1.37.2').root, next.root, 'a directory without upgrade/: the cache');
  mkdirSync(join(dir, 'upgrade', 'kubernetes-v1.37.2', 'bin'), { recursive: true });
  const own = given.forKubernetes('1.37.2');
  assert.deepEqual([own.kind, own.root], ['directory', join(dir, 'upgrade', 'kubernetes-v1.37.2')]);
  // The variable that points at the lab's directory does not point the upgrade back at it.
  const fromEnv = new ArtifactSource({ versions: DEFAULT_VERSIONS, cacheDir: cache, images, env: { HARDWAY_ARTIFACTS_DIR: cache } });
  assert.equal(fromEnv.kind, 'directory');
  assert.equal(fromEnv.forKubernetes('1.38.0').root, new ArtifactSource({ versions: { ...DEFAULT_VERSIONS, kubernetes: '1.38.0' }, cacheDir: cache, env: {} }).root);
});
