// Artifact preparation: building every binary from its Go module (cold: an empty Go build cache;
// warm: the same inputs again, where nothing is rebuilt), and the lab's images, compared in the
// same run with what it replaced: copying Debian's etcd, containerd, runc and CNI plugins (no
// Kubernetes at all).
//
//   npx tsx bench/artifacts-bench.ts [--cold]
//
// The module cache must hold the modules (`npx hardway-lab artifacts fetch`); everything else is
// offline (GOPROXY=off). --cold uses a fresh GOCACHE (about 15 minutes on 2 cores); without it the
// "first build" reuses the machine's Go build cache.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildFromGoModules } from '../main/artifacts/go-build.ts';
import { buildLabImages } from '../main/artifacts/lab-images.ts';
import { fillArtifactsFromDebian } from '../main/artifacts/fill-from-debian.ts';
import { DEFAULT_VERSIONS } from '../main/spec/cluster-spec.ts';
import { labImages } from '../main/plan/image-plan.ts';
import { OFFLINE_GO_ENV } from '../test/helpers/lab-artifacts.ts';

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await work();
  return [value, (Date.now() - started) / 1000];
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { cold: { type: 'boolean' } } });
  if (spawnSync('go', ['version']).status !== 0) {
    console.warn('SKIPPED: artifacts bench: the go command is not installed');
    return 0;
  }
  const root = mkdtempSync(join(tmpdir(), 'hwl-artbench-'));
  const gocache = values.cold ? mkdtempSync(join(tmpdir(), 'hwl-artbench-gocache-')) : undefined;
  const env = { ...OFFLINE_GO_ENV, ...(gocache ? { GOCACHE: gocache } : {}) };
  const cacheDir = join(root, 'cache');
  try {
    const [first, firstS] = await timed(() => buildFromGoModules({ root: join(root, 'set'), versions: DEFAULT_VERSIONS, cacheDir, env }));
    const [, imagesS] = await timed(() => buildLabImages({ root: join(root, 'set'), versions: DEFAULT_VERSIONS, references: labImages(DEFAULT_VERSIONS), env }));
    const [second, secondS] = await timed(() => buildFromGoModules({ root: join(root, 'set'), versions: DEFAULT_VERSIONS, cacheDir, env }));
    const [, imagesAgainS] = await timed(() => buildLabImages({ root: join(root, 'set'), versions: DEFAULT_VERSIONS, references: labImages(DEFAULT_VERSIONS), env }));
    let debianS: number | undefined;
    let debianNote = '';
    try {
      [, debianS] = await timed(() => fillArtifactsFromDebian(join(root, 'debian'), { haproxy: false }));
      debianNote = 'etcd 3.4, containerd 1.6, runc 1.1, CNI 1.1 from this host; no Kubernetes, no images';
    } catch (error) {
      debianNote = `not measured: ${(error as Error).message.split('\n')[0]}`;
    }

    console.log(`\nartifacts at the default versions (${values.cold ? 'cold Go build cache' : "this machine's Go build cache"}, 2 cores)`);
    console.log(`${'component'.padEnd(14)}${'first s'.padStart(10)}${'again s'.padStart(10)}  again`);
    for (const c of first) {
      const again = second.find((s) => s.component === c.component)!;
      console.log(`${c.component.padEnd(14)}${c.seconds.toFixed(0).padStart(10)}${again.seconds.toFixed(1).padStart(10)}  ${again.action}`);
    }
    console.log(`${'images'.padEnd(14)}${imagesS.toFixed(0).padStart(10)}${imagesAgainS.toFixed(1).padStart(10)}`);
    console.log(`${'all'.padEnd(14)}${(firstS + imagesS).toFixed(0).padStart(10)}${(secondS + imagesAgainS).toFixed(1).padStart(10)}`);
    console.log(`before: the Debian fill ${debianS === undefined ? '-' : `${debianS.toFixed(1)} s`} (${debianNote})`);
    return 0;
  } finally {
    rmSync(root, { recursive: true, force: true });
    if (gocache) rmSync(gocache, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`artifacts bench failed: ${error.message}`);
    process.exit(1);
  },
);
