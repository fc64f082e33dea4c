// Building the lab's binaries from their Go modules, for real, with the module cache only
// (GOPROXY=off: no test sends traffic off this host): the Kubernetes wrapper module, a build with
// its version stamp, nothing redone on a second run, a damaged binary rebuilt; how `auto` picks a
// source (and says why); the lab's images as OCI archives, byte for byte reproducible.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { Readable } from 'node:stream';
import { DEFAULT_VERSIONS } from '../../main/spec/cluster-spec.ts';
import { goRecipe } from '../../main/artifacts/go-recipes.ts';
import { buildFromGoModules, readBuildManifest } from '../../main/artifacts/go-build.ts';
import { COMMITTED_GO_MODULES_DIR, stagingModules, wrapperGoMod } from '../../main/artifacts/go-wrapper-module.ts';
import { ArtifactSource, componentFiles } from '../../main/artifacts/artifact-source.ts';
import { COMPONENTS } from '../../main/artifacts/release-catalog.ts';
import { writeOciImage } from '../../main/artifacts/oci-image.ts';
import { buildLabImages } from '../../main/artifacts/lab-images.ts';
import { labImages } from '../../main/plan/image-plan.ts';
import { OFFLINE_GO_ENV, testArtifacts } from '../helpers/lab-artifacts.ts';

const goMissing = spawnSync('go', ['version']).status === 0 ? undefined : 'the go command is not installed';
/** The k8s.io/kubernetes module must be in the module cache (GOPROXY=off). */
const kubernetesModule = goMissing ?? (spawnSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@v${DEFAULT_VERSIONS.kubernetes}`], { env: OFFLINE_GO_ENV, cwd: '/' }).status === 0 ? undefined : 'k8s.io/kubernetes is not in the Go module cache (`npx hardway-lab artifacts fetch`)');
if (kubernetesModule) console.warn(`SKIPPED: Go builds from the module cache: ${kubernetesModule}`);

test('wrapper module for k8s.io/kubernetes: every staging module replaced by its published version, godebug copied', { skip: kubernetesModule }, async () => {
  const recipe = goRecipe('kubernetes', DEFAULT_VERSIONS);
  const text = await wrapperGoMod(recipe, OFFLINE_GO_ENV);
  const committed = readFileSync(join(COMMITTED_GO_MODULES_DIR, 'kubernetes', `v${DEFAULT_VERSIONS.kubernetes}`, 'go.mod'), 'utf8');
  const replaces = [...text.matchAll(/^\t(k8s\.io\/\S+) => (k8s\.io\/\S+) (v\S+)$/gm)];
  assert.ok(replaces.length >= 30, `${replaces.length} staging modules`);
  for (const [, from, to, version] of replaces) {
    assert.equal(from, to);
    assert.equal(version, `v0.${DEFAULT_VERSIONS.kubernetes.split('.').slice(1).join('.')}`);
    assert.ok(committed.includes(`\t${from} => ${to} ${version}\n`), `the committed go.mod replaces ${from} the same way`);
  }
  // Only the modules k8s.io/kubernetes requires: sample-controller and friends are not in its graph.
  assert.ok(!/sample-controller|sample-cli-plugin/.test(text));
  assert.match(text, /^godebug default=go1\.\d+$/m);
  for (const name of ['kube-apiserver', 'kubelet', 'kubectl']) assert.match(text, new RegExp(`^\\tk8s\\.io/kubernetes/cmd/${name}$`, 'm'));
  assert.deepEqual(stagingModules('\tk8s.io/api v0.0.0\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/x => ./staging/src/k8s.io/x\n'), ['k8s.io/api']);
});

test('go build: the CNI plugins at their pinned version; a second run builds nothing; a damaged binary is rebuilt', { skip: goMissing, timeout: 20 * 60_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'hwl-gobuild-'));
  const cacheDir = mkdtempSync(join(tmpdir(), 'hwl-gobuild-cache-'));
  const lines: string[] = [];
  const options = { root, versions: DEFAULT_VERSIONS, cacheDir, components: ['cni-plugins'] as const, env: OFFLINE_GO_ENV, log: (l: string) => lines.push(l) };
  const [first] = await buildFromGoModules(options);
  assert.equal(first!.action, 'built');
  assert.equal(first!.module.origin, 'committed', 'the pinned version has a committed wrapper module');
  for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
    assert.equal(first!.versionOutputs[`cni/${plugin}`], `CNI ${plugin} plugin v${DEFAULT_VERSIONS.cniPlugins}`);
    // The plugin speaks the CNI versions the lab's configs use.
    const r = spawnSync(join(root, 'cni', plugin), [], { env: { CNI_COMMAND: 'VERSION' }, input: '', encoding: 'utf8' });
    assert.ok((JSON.parse(r.stdout) as { supportedVersions: string[] }).supportedVersions.includes('1.0.0'));
  }
  const manifest = await readBuildManifest(root, 'cni-plugins');
  assert.equal(manifest?.files['cni/bridge'], createHash('sha256').update(readFileSync(join(root, 'cni', 'bridge'))).digest('hex'));

  const [second] = await buildFromGoModules(options);
  assert.equal(second!.action, 'up-to-date');
  assert.ok(lines.some((l) => /cni-plugins 1\.10\.0: up to date \(built .* same inputs\)/.test(l.replace(DEFAULT_VERSIONS.cniPlugins, '1.10.0'))), lines.join('\n'));

  writeFileSync(join(root, 'cni', 'bridge'), 'damaged');
  const [third] = await buildFromGoModules(options);
  assert.equal(third!.action, 'built', 'a binary that no longer matches its recorded sha256 is built again');
});

test('auto source: a complete cache is used as is; else the release site; else the Go module proxy; else an error naming both', { skip: kubernetesModule }, async () => {
  const versions = DEFAULT_VERSIONS;
  const images = labImages(versions);
  const closed = { kubernetes: 'http://127.0.0.1:9', github: 'http://127.0.0.1:9' };

  // Nothing reachable but the module cache: build from Go modules, and say why.
  const cacheDir = mkdtempSync(join(tmpdir(), 'hwl-auto-'));
  const source = new ArtifactSource({ versions, images, cacheDir, env: OFFLINE_GO_ENV, baseUrls: closed, probeTimeoutMs: 2000 });
  const choice = await source.chosen();
  assert.equal(choice.kind, 'go-build');
  assert.match(choice.reason, /release site cannot be reached \(http:\/\/127\.0\.0\.1:9\/v1\.36\.3\/bin\/linux\/amd64\/kubectl\.sha256: ECONNREFUSED\)/);
  assert.match(choice.reason, /Go module proxy serves k8s\.io\/kubernetes v1\.36\.3 \(GOPROXY=off\)/);

  // A version neither can give: one error with both reasons and what to do.
  const nowhere = new ArtifactSource({ versions: { ...versions, kubernetes: '1.99.0' }, images, cacheDir, env: OFFLINE_GO_ENV, baseUrls: closed, probeTimeoutMs: 2000 });
  await assert.rejects(nowhere.chosen(), (e: Error) => /release downloads: .*ECONNREFUSED/.test(e.message) && /Go module proxy: /.test(e.message) && /--artifacts DIR/.test(e.message) && /artifacts build/.test(e.message));

  // Every file present (as a build leaves them): used as is, nothing probed.
  const complete = new ArtifactSource({ versions, images, cacheDir: mkdtempSync(join(tmpdir(), 'hwl-auto-complete-')), env: OFFLINE_GO_ENV, baseUrls: closed });
  for (const file of [...COMPONENTS.flatMap(componentFiles), ...Object.keys(images).map((n) => `images/${n}.tar`), 'build/kubernetes.json']) {
    mkdirSync(join(complete.root, file, '..'), { recursive: true });
    writeFileSync(join(complete.root, file), 'x', { mode: 0o755 });
  }
  const cached = await complete.chosen();
  assert.equal(cached.kind, 'cache');
  assert.match(cached.reason, /already in .* \(built from Go modules earlier\)/);
});

async function tarEntries(archive: Buffer): Promise<Map<string, Buffer>> {
  const entries = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(Buffer.from(c as Uint8Array)));
      stream.on('end', () => {
        entries.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([archive]).pipe(ex);
  await done;
  return entries;
}

test('OCI image archive: the layout ctr imports, named by annotation, diff_ids of the uncompressed layer, reproducible', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-oci-'));
  const spec = {
    reference: 'hardway-lab.local/test:v1',
    files: [
      { path: '/bin/hello', type: 'file' as const, content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
      { path: '/bin/sh', type: 'symlink' as const, target: 'busybox' },
    ],
    config: { entrypoint: ['/bin/hello'] },
    createdBy: 'test',
  };
  const a = await writeOciImage(spec, join(dir, 'a.tar'));
  const b = await writeOciImage(spec, join(dir, 'b.tar'));
  assert.equal(createHash('sha256').update(readFileSync(a.archive)).digest('hex'), createHash('sha256').update(readFileSync(b.archive)).digest('hex'), 'same files, same bytes');
  const entries = await tarEntries(readFileSync(a.archive));
  assert.equal(entries.get('oci-layout')?.toString(), '{"imageLayoutVersion":"1.0.0"}');
  const index = JSON.parse(entries.get('index.json')!.toString()) as { manifests: { digest: string; annotations: Record<string, string>; platform: { os: string; architecture: string } }[] };
  assert.equal(index.manifests[0]!.annotations['io.containerd.image.name'], 'hardway-lab.local/test:v1');
  assert.equal(index.manifests[0]!.annotations['org.opencontainers.image.ref.name'], 'v1');
  assert.deepEqual(index.manifests[0]!.platform, { architecture: 'amd64', os: 'linux' });
  const blob = (digest: string) => entries.get(`blobs/sha256/${digest.slice(7)}`)!;
  const manifest = JSON.parse(blob(index.manifests[0]!.digest).toString()) as { config: { digest: string }; layers: { digest: string }[] };
  const config = JSON.parse(blob(manifest.config.digest).toString()) as { rootfs: { diff_ids: string[] }; config: { Entrypoint: string[] } };
  const layer = blob(manifest.layers[0]!.digest);
  assert.equal(config.rootfs.diff_ids[0], `sha256:${createHash('sha256').update(layer).digest('hex')}`);
  assert.deepEqual(config.config.Entrypoint, ['/bin/hello']);
  const files = await tarEntries(layer);
  assert.deepEqual([...files.keys()], ['bin/', 'bin/hello', 'bin/sh'], 'parent directories first, sorted');
});

const built = testArtifacts();
test('lab images: pause from Kubernetes\' pause.c, CoreDNS, Debian\'s nginx and busybox; a second build writes nothing', { skip: kubernetesModule ?? built.skip }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'hwl-images-'));
  mkdirSync(join(root, 'bin'));
  cpSync(join(built.artifacts!.root, 'bin', 'coredns'), join(root, 'bin', 'coredns'));
  const references = labImages(DEFAULT_VERSIONS);
  const first = await buildLabImages({ root, versions: DEFAULT_VERSIONS, references, env: OFFLINE_GO_ENV });
  assert.deepEqual(first.map((i) => `${i.name} ${i.reference} ${i.action}`), [
    `pause ${references.pause} built`,
    `coredns ${references.coredns} built`,
    `nginx ${references.nginx} built`,
    `busybox ${references.busybox} built`,
  ]);
  assert.ok(first.find((i) => i.name === 'pause')!.from.some((f) => f === `go:k8s.io/kubernetes@v${DEFAULT_VERSIONS.kubernetes}/build/pause/linux/pause.c`));
  assert.ok(first.find((i) => i.name === 'nginx')!.from.some((f) => /^debian:nginx(-light|-common)?=/.test(f)), 'nginx comes from a Debian package');
  assert.ok(first.find((i) => i.name === 'busybox')!.from.some((f) => /^debian:busybox-static=/.test(f)));
  const again = await buildLabImages({ root, versions: DEFAULT_VERSIONS, references, env: OFFLINE_GO_ENV });
  assert.deepEqual(again.map((i) => i.action), ['up-to-date', 'up-to-date', 'up-to-date', 'up-to-date']);
});
