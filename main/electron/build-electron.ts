// Bundles the desktop app's main process and preload with esbuild:
//   dist/electron/main.cjs    (the main process: CommonJS, electron and ssh2 left external)
//   dist/electron/preload.cjs (sandboxed preloads must be one CommonJS file requiring only electron)
// Engine modules find their data files (the default spec, provision/ templates) through
// `import.meta.url`; in the bundle each such use is rewritten to the URL of its *source* file, so
// relative lookups keep working from the app root in development and inside the package.

import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Plugin } from 'esbuild';
import { PROJECT_ROOT } from '../server/build-renderer.ts';

export const ELECTRON_OUT = join(PROJECT_ROOT, 'dist', 'electron');

const sourceImportMetaUrl: Plugin = {
  name: 'source-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const fromRoot = relative(PROJECT_ROOT, args.path).split('\\').join('/');
      return { contents: text.replaceAll('import.meta.url', `__hwlSourceUrl(${JSON.stringify(fromRoot)})`), loader: 'ts' };
    });
  },
};

// dist/electron/ is two levels below the app root, in a checkout and in the packaged app alike.
const MAIN_BANNER = [
  '"use strict";',
  'const __hwlSourceUrl = (fromRoot) => require("node:url").pathToFileURL(require("node:path").join(__dirname, "..", "..", fromRoot)).href;',
].join('\n');

export async function buildElectron(options: { outDir?: string; minify?: boolean; only?: 'preload' } = {}): Promise<{ outDir: string; ms: number }> {
  const started = Date.now();
  const esbuild = await import('esbuild');
  const outDir = options.outDir ?? ELECTRON_OUT;
  const common = {
    bundle: true,
    platform: 'node' as const,
    format: 'cjs' as const,
    target: 'node20',
    minify: options.minify ?? false,
    sourcemap: false,
    logLevel: 'silent' as const,
    legalComments: 'none' as const,
  };
  if (options.only !== 'preload') {
    await esbuild.build({
    ...common,
    entryPoints: [join(PROJECT_ROOT, 'main', 'electron', 'main.ts')],
    outfile: join(outDir, 'main.cjs'),
    // Native and optional modules are loaded from node_modules at run time.
    external: ['electron', 'ssh2', 'cpu-features', 'esbuild', 'playwright-core'],
    banner: { js: MAIN_BANNER },
    plugins: [sourceImportMetaUrl],
    });
  }
  await esbuild.build({
    ...common,
    entryPoints: [join(PROJECT_ROOT, 'main', 'electron', 'preload.ts')],
    outfile: join(outDir, 'preload.cjs'),
    external: ['electron'],
  });
  return { outDir, ms: Date.now() - started };
}
