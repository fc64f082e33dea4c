// `hardway-lab artifacts build`: every binary the lab installs, built here from the upstream Go
// modules at the versions the spec pins, into an artifacts directory (the layout the engine reads).
//
// Each component is built in its wrapper module (go-wrapper-module.ts) with the environment's
// GOPROXY, GOFLAGS and friends. What went in (Go version, recipe, go.mod/go.sum, flags) is hashed
// and kept with the sha256 of every binary in build/<component>.json; a second run with the same
// inputs finds the binaries intact and builds nothing.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { VersionsSpec } from '../spec/cluster-spec.ts';
import { GO_COMPONENTS, goRecipe, type GoComponent, type GoRecipe, type GoTarget } from './go-recipes.ts';
import { downloadModule, ensureWrapperModule, goCommand, GoCommandError, type WrapperModule } from './go-wrapper-module.ts';

const run = promisify(execFile);

/** Bump when the build procedure changes in a way the hashed inputs do not show. */
export const GO_BUILD_VERSION = 1;

export interface GoBuildOptions {
  /** The artifacts directory to build into. */
  root: string;
  versions: VersionsSpec;
  /** Where generated wrapper modules go (versions the app has no committed wrapper for). */
  cacheDir: string;
  components?: readonly GoComponent[];
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Only for tests: another root of committed wrapper modules. */
  committedRoot?: string;
}

export interface ComponentBuild {
  component: GoComponent;
  version: string;
  /** built now, or already up to date (nothing done). */
  action: 'built' | 'up-to-date';
  seconds: number;
  files: Record<string, string>;
  /** What each binary printed for its version. */
  versionOutputs: Record<string, string>;
  module: WrapperModule;
}

export interface BuildManifest {
  component: GoComponent;
  version: string;
  inputsHash: string;
  goVersion: string;
  module: { origin: WrapperModule['origin']; dir: string; requires: string[] };
  files: Record<string, string>;
  versionOutputs: Record<string, string>;
  builtAt: string;
  seconds: number;
}

export function buildManifestPath(root: string, component: GoComponent): string {
  return join(root, 'build', `${component}.json`);
}

export async function readBuildManifest(root: string, component: GoComponent): Promise<BuildManifest | undefined> {
  try {
    return JSON.parse(await readFile(buildManifestPath(root, component), 'utf8')) as BuildManifest;
  } catch {
    return undefined;
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The environment variables that change what `go build` makes; part of the inputs hash. */
const GO_ENV_INPUTS = ['GOFLAGS', 'GOEXPERIMENT', 'GOAMD64', 'GOARCH', 'GOOS', 'CC', 'CGO_CFLAGS', 'CGO_LDFLAGS', 'GOTOOLCHAIN'];

async function goVersion(env: NodeJS.ProcessEnv): Promise<string> {
  return (await goCommand(['env', 'GOVERSION'], { env, cwd: '/' })).trim();
}

/** The executable name `go build -o DIR/` gives a main package: its last element, skipping a /vN suffix. */
export function goExecutableName(pkg: string): string {
  const parts = pkg.split('/');
  const last = parts.at(-1)!;
  return /^v\d+$/.test(last) && parts.length > 1 ? parts.at(-2)! : last;
}

async function cgoInputs(recipe: GoRecipe, env: NodeJS.ProcessEnv): Promise<string> {
  if (!recipe.cgo) return '';
  const cc = env.CC || 'gcc';
  let compiler = '';
  try {
    compiler = (await run(cc, ['--version'])).stdout.split('\n')[0] ?? '';
  } catch {
    throw new GoCommandError(`${recipe.component} needs a C compiler (cgo), and ${cc} is not installed`, `${cc} --version`, '', 'install gcc (Debian: `apt-get install gcc libc6-dev`)');
  }
  const parts = [compiler];
  for (const need of recipe.hostNeeds ?? []) {
    const path = need.file.startsWith('/') ? need.file : await findLibrary(cc, need.file);
    if (!path || !existsSync(path)) {
      throw new GoCommandError(`${recipe.component} needs ${need.file}, which is not on this host`, `${cc} -print-file-name=${need.file}`, '', `install it (Debian: \`apt-get install ${need.debianPackage}\`)`);
    }
    parts.push(`${need.file}=${await sha256File(path)}`);
  }
  return parts.join('\n');
}

async function findLibrary(cc: string, name: string): Promise<string | undefined> {
  try {
    const path = (await run(cc, [`-print-file-name=${name}`])).stdout.trim();
    return path && path !== name ? path : undefined;
  } catch {
    return undefined;
  }
}

async function inputsHash(recipe: GoRecipe, module: WrapperModule, go: string, env: NodeJS.ProcessEnv): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`hardway-lab go-build ${GO_BUILD_VERSION}\n${go}\n${JSON.stringify(recipe)}\n`);
  for (const file of ['go.mod', 'go.sum']) hash.update(`${file}\n${await readFile(join(module.dir, file), 'utf8')}\n`);
  for (const key of GO_ENV_INPUTS) hash.update(`${key}=${env[key] ?? ''}\n`);
  hash.update(await cgoInputs(recipe, env));
  return hash.digest('hex');
}

async function upToDate(root: string, recipe: GoRecipe, hash: string): Promise<BuildManifest | undefined> {
  const manifest = await readBuildManifest(root, recipe.component);
  if (!manifest || manifest.inputsHash !== hash) return undefined;
  for (const target of recipe.targets) {
    const path = join(root, target.out);
    if (!existsSync(path) || (await sha256File(path)) !== manifest.files[target.out]) return undefined;
  }
  return manifest;
}

/** Runs a built binary for its version and checks that the pinned version shows. */
async function versionOf(recipe: GoRecipe, target: GoTarget, path: string): Promise<string> {
  let output: string;
  try {
    const r = await run(path, target.versionArgs, { timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    output = `${r.stdout}${r.stderr}`;
  } catch (error) {
    // Some tools print their version and exit non-zero when given no command (the CNI plugins).
    const e = error as { stdout?: string; stderr?: string; message: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
  }
  const line = output.split('\n').find((l) => l.includes(recipe.expectVersion));
  if (!line) {
    throw new GoCommandError(
      `${basename(path)} does not report ${recipe.component} ${recipe.version}`,
      `${target.out} ${target.versionArgs.join(' ')}`,
      output,
      'the version stamp (-ldflags -X ...) in main/artifacts/go-recipes.ts no longer matches the upstream package; report this with the version',
    );
  }
  return line.trim();
}

async function buildComponent(recipe: GoRecipe, options: GoBuildOptions, go: string): Promise<ComponentBuild> {
  const env = { ...(options.env ?? process.env) };
  const log = options.log ?? (() => undefined);
  const started = Date.now();
  const module = await ensureWrapperModule(recipe, options.cacheDir, { env, committedRoot: options.committedRoot });
  const hash = await inputsHash(recipe, module, go, env);
  const current = await upToDate(options.root, recipe, hash);
  if (current) {
    log(`${recipe.component} ${recipe.version}: up to date (built ${current.builtAt} in ${current.seconds.toFixed(0)} s; same inputs)`);
    return { component: recipe.component, version: recipe.version, action: 'up-to-date', seconds: (Date.now() - started) / 1000, files: current.files, versionOutputs: current.versionOutputs, module };
  }

  const names = recipe.targets.map((t) => goExecutableName(t.pkg));
  if (new Set(names).size !== names.length) throw new Error(`${recipe.component}: two targets build to the same name (${names.join(', ')})`);
  await mkdir(join(options.root, 'build'), { recursive: true });
  const scratch = await mkdtemp(join(options.root, 'build', `${recipe.component}-`));
  try {
    const args = ['build', '-trimpath'];
    if (recipe.buildmode) args.push(`-buildmode=${recipe.buildmode}`);
    if (recipe.tags.length) args.push('-tags', recipe.tags.join(','));
    args.push('-ldflags', ['-s', '-w', ...recipe.ldflags].join(' '), '-o', `${scratch}/`, ...recipe.targets.map((t) => t.pkg));
    log(`${recipe.component} ${recipe.version}: go ${args.join(' ')}  (in ${module.dir}, ${module.origin} wrapper)`);
    options.signal?.throwIfAborted();
    await goCommand(args, { cwd: module.dir, env: { ...env, CGO_ENABLED: recipe.cgo ? '1' : '0' } });
    const files: Record<string, string> = {};
    const versionOutputs: Record<string, string> = {};
    for (const [i, target] of recipe.targets.entries()) {
      const inScratch = await placed(join(scratch, names[i]!), join(scratch, target.out));
      versionOutputs[target.out] = await versionOf(recipe, target, inScratch);
    }
    for (const target of recipe.targets) {
      const to = join(options.root, target.out);
      await mkdir(dirname(to), { recursive: true });
      await chmod(join(scratch, target.out), 0o755);
      await rename(join(scratch, target.out), to);
      files[target.out] = await sha256File(to);
    }
    const seconds = (Date.now() - started) / 1000;
    const manifest: BuildManifest = {
      component: recipe.component,
      version: recipe.version,
      inputsHash: hash,
      goVersion: go,
      module: { origin: module.origin, dir: module.dir, requires: recipe.requires.map((r) => `${r.path}@${r.version}`) },
      files,
      versionOutputs,
      builtAt: new Date().toISOString(),
      seconds,
    };
    await writeFile(buildManifestPath(options.root, recipe.component), `${JSON.stringify(manifest, null, 2)}\n`);
    log(`${recipe.component} ${recipe.version}: built in ${seconds.toFixed(0)} s (${Object.values(versionOutputs).join('; ')})`);
    return { component: recipe.component, version: recipe.version, action: 'built', seconds, files, versionOutputs, module };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Moves a freshly built binary to its layout path inside the scratch directory; returns the new path. */
async function placed(from: string, to: string): Promise<string> {
  await mkdir(dirname(to), { recursive: true });
  if (from !== to) await rename(from, to);
  return to;
}

/** The publication time of the Kubernetes module (its buildDate stamp, for reproducible binaries). */
async function kubernetesReleaseTime(versions: VersionsSpec, env: NodeJS.ProcessEnv): Promise<string> {
  const module = await downloadModule('k8s.io/kubernetes', `v${versions.kubernetes}`, env);
  try {
    const info = JSON.parse(await readFile(module.Info!, 'utf8')) as { Time?: string };
    return info.Time ?? '1970-01-01T00:00:00Z';
  } catch {
    return '1970-01-01T00:00:00Z';
  }
}

export async function recipesFor(versions: VersionsSpec, components: readonly GoComponent[], env: NodeJS.ProcessEnv): Promise<GoRecipe[]> {
  const releaseTime = components.includes('kubernetes') ? await kubernetesReleaseTime(versions, env) : undefined;
  return components.map((c) => goRecipe(c, versions, releaseTime));
}

/** Builds (or finds up to date) every requested component; components are built one after another. */
export async function buildFromGoModules(options: GoBuildOptions): Promise<ComponentBuild[]> {
  const env = options.env ?? process.env;
  const go = await goVersion(env);
  const minor = /^go1\.(\d+)/.exec(go)?.[1];
  if (minor !== undefined && Number(minor) < 26) {
    throw new GoCommandError(`${go} is too old to build these versions`, 'go env GOVERSION', go, 'install Go 1.26 or newer, or set GOTOOLCHAIN=go1.26.8 to let the go command fetch it from the module proxy');
  }
  await mkdir(options.root, { recursive: true });
  const recipes = await recipesFor(options.versions, options.components ?? GO_COMPONENTS, env);
  const results: ComponentBuild[] = [];
  for (const recipe of recipes) {
    options.signal?.throwIfAborted();
    results.push(await buildComponent(recipe, { ...options, env }, go));
  }
  return results;
}

/** Downloads every module the builds need into the module cache (what `.ci/run` does before the tests). */
export async function downloadGoModules(options: Pick<GoBuildOptions, 'versions' | 'cacheDir' | 'components' | 'env' | 'log' | 'committedRoot'>): Promise<void> {
  const env = options.env ?? process.env;
  for (const recipe of await recipesFor(options.versions, options.components ?? GO_COMPONENTS, env)) {
    const module = await ensureWrapperModule(recipe, options.cacheDir, { env, committedRoot: options.committedRoot });
    const started = Date.now();
    // `go mod download` alone fetches the whole graph; listing the build's packages fetches only what it compiles.
    await goCommand(['list', '-deps', '-tags', recipe.tags.join(','), ...recipe.targets.map((t) => t.pkg)], { cwd: module.dir, env: { ...env, CGO_ENABLED: recipe.cgo ? '1' : '0' } });
    options.log?.(`${recipe.component} ${recipe.version}: modules in the cache (${((Date.now() - started) / 1000).toFixed(0)} s, ${module.origin} wrapper ${module.dir})`);
  }
}
