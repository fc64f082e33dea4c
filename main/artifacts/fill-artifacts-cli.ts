// Fills an artifacts directory from this host's Debian packages, for air-gapped labs:
//
//   npx tsx main/artifacts/fill-artifacts-cli.ts DIR [--no-haproxy]
//
// then `hardway-lab up --artifacts DIR` (or HARDWAY_ARTIFACTS_DIR=DIR). Kubernetes server binaries
// are not packaged by Debian: add them to DIR/bin yourself to run the control-plane steps.

import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { fillArtifactsFromDebian } from './fill-from-debian.ts';
import { ArtifactSet } from './artifact-set.ts';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { 'no-haproxy': { type: 'boolean' } }, allowPositionals: true });
  const dir = positionals[0];
  if (!dir) {
    process.stderr.write('usage: fill-artifacts-cli.ts DIR [--no-haproxy]\n');
    return 2;
  }
  const target = resolve(dir);
  const result = await fillArtifactsFromDebian(target, { haproxy: !values['no-haproxy'], log: (line) => process.stdout.write(`${line}\n`) });
  process.stdout.write(`${result.written.length} file(s) written, ${result.unchanged.length} unchanged, ${result.debs.length} .deb file(s)\n`);
  process.stdout.write(`${new ArtifactSet(target, 'directory').describe()}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`fill-artifacts: ${error.message}\n`);
    process.exit(1);
  },
);
