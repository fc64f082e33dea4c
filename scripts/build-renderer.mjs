#!/usr/bin/env node
// Builds the renderer bundle into dist/renderer (esbuild). `--if-needed` skips an up-to-date build.
// The build itself is main/server/build-renderer.ts, shared with the browser-mode server.
import { register } from 'tsx/esm/api';

register();
const { buildRenderer, ensureRendererBuilt } = await import('../main/server/build-renderer.ts');
const result = process.argv.includes('--if-needed') ? await ensureRendererBuilt() : await buildRenderer();
console.log(result.built ? `built ${result.files.join(', ')} into ${result.outDir} in ${result.ms} ms` : `${result.outDir} is up to date`);
