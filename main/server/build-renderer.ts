// Bundles the renderer (renderer/*.ts + CSS + index.html) into dist/renderer with esbuild, for the
// browser mode and the Electron window alike. The bundle targets the browser platform: a Node or
// Electron import in renderer code is a build error, and a test scans the output as well.

import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const RENDERER_SOURCE = join(PROJECT_ROOT, 'renderer');
export const RENDERER_OUT = join(PROJECT_ROOT, 'dist', 'renderer');

export interface BuildRendererOptions {
  outDir?: string;
  minify?: boolean;
  /** Build even when the bundle is newer than every source. */
  force?: boolean;
}

export interface BuildRendererResult {
  outDir: string;
  built: boolean;
  files: string[];
  ms: number;
}

/** Builds when the bundle is missing or older than a renderer source; otherwise does nothing. */
export async function ensureRendererBuilt(options: BuildRendererOptions = {}): Promise<BuildRendererResult> {
  const outDir = options.outDir ?? RENDERER_OUT;
  if (!options.force && (await isUpToDate(outDir))) return { outDir, built: false, files: await readdir(outDir), ms: 0 };
  return buildRenderer({ ...options, outDir });
}

export async function buildRenderer(options: BuildRendererOptions = {}): Promise<BuildRendererResult> {
  const started = Date.now();
  const outDir = options.outDir ?? RENDERER_OUT;
  // esbuild is a build-time tool: imported only when a build is needed.
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new Error(
      `The renderer bundle ${outDir} is missing and esbuild is not installed to build it (${(error as Error).message}). ` +
        'Run `npm install` in the project (esbuild is a dev dependency), then `node scripts/build-renderer.mjs`.',
    );
  }
  await mkdir(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: { app: join(RENDERER_SOURCE, 'app.ts'), styles: join(RENDERER_SOURCE, 'styles.css') },
    outdir: outDir,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120'],
    minify: options.minify ?? true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    loader: { '.woff2': 'file', '.svg': 'file' },
  });
  await copyFile(join(RENDERER_SOURCE, 'index.html'), join(outDir, 'index.html'));
  return { outDir, built: true, files: await readdir(outDir), ms: Date.now() - started };
}

async function isUpToDate(outDir: string): Promise<boolean> {
  const outputs = ['index.html', 'app.js', 'styles.css'].map((f) => join(outDir, f));
  if (!outputs.every((f) => existsSync(f))) return false;
  // A packaged app ships the bundle without its sources: what is there is what runs.
  if (!existsSync(RENDERER_SOURCE)) return true;
  const oldestOutput = Math.min(...(await Promise.all(outputs.map(async (f) => (await stat(f)).mtimeMs))));
  const sources = await newestMtime(RENDERER_SOURCE);
  const contract = await newestMtime(join(PROJECT_ROOT, 'main', 'api'));
  return Math.max(sources, contract) <= oldestOutput;
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestMtime(full) : (await stat(full)).mtimeMs);
  }
  return newest;
}
