// The wrapper modules that build each component from its upstream Go module. One wrapper per
// upstream, so that Go's version selection keeps exactly what each project pinned and tested:
//
//   gobuild/<component>/v<version>/go.mod, go.sum    committed for the versions the lab pins
//   <cache>/go-modules/<component>/v<version>/       generated for any other version a spec asks for
//
// A wrapper `require`s the upstream module at its tag and lists the main packages as `tool`
// lines, so `go mod tidy` keeps everything they import. k8s.io/kubernetes needs more: its go.mod
// points every staging module (k8s.io/api, client-go, ...) at ./staging/..., which only works in
// its own tree, so the wrapper replaces each with its published v0.<minor>.<patch>, and copies the
// upstream `godebug` line (the binaries must run with the GODEBUG defaults Kubernetes chose).

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { GoRecipe } from './go-recipes.ts';

const run = promisify(execFile);

/** The committed wrapper modules, next to main/ in the app. */
export const COMMITTED_GO_MODULES_DIR = fileURLToPath(new URL('../../gobuild/', import.meta.url));

export const WRAPPER_MODULE_PREFIX = 'hardway-lab.local/gobuild';

export interface WrapperModule {
  dir: string;
  /** committed: shipped with the app (go.sum reviewed in git); generated: made here by `go mod tidy`. */
  origin: 'committed' | 'generated';
}

export function wrapperDirName(recipe: Pick<GoRecipe, 'component' | 'version'>): string {
  return join(recipe.component, `v${recipe.version}`);
}

/** The committed wrapper for this recipe's version, if the app ships one. */
export function committedWrapper(recipe: GoRecipe, root = COMMITTED_GO_MODULES_DIR): WrapperModule | undefined {
  const dir = join(root, wrapperDirName(recipe));
  return existsSync(join(dir, 'go.mod')) && existsSync(join(dir, 'go.sum')) ? { dir, origin: 'committed' } : undefined;
}

export class GoCommandError extends Error {
  constructor(
    message: string,
    readonly command: string,
    readonly output: string,
    readonly hint: string,
  ) {
    super(`${message}\n  command: ${command}\n  last output:\n${output.trimEnd().split('\n').slice(-15).map((l) => `    ${l}`).join('\n')}\n  what to do: ${hint}`);
    this.name = 'GoCommandError';
  }
}

/** Runs the go command; errors carry the command, its output and a hint about the module proxy. */
export async function goCommand(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await run('go', args, { cwd: options.cwd, env: options.env ?? process.env, maxBuffer: 256 * 1024 * 1024, timeout: options.timeoutMs ?? 60 * 60_000 });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === 'ENOENT') {
      throw new GoCommandError('the go command is not installed', `go ${args.join(' ')}`, '', 'install Go 1.26 or newer (https://go.dev/dl/ or your distribution), or use `artifacts.source: release` / `directory`');
    }
    const output = `${e.stderr ?? ''}${e.stdout ?? ''}` || e.message;
    const proxy = (options.env ?? process.env).GOPROXY ?? 'the default (proxy.golang.org)';
    throw new GoCommandError(
      `go ${args[0]} failed${options.cwd ? ` in ${options.cwd}` : ''}`,
      `go ${args.join(' ')}`,
      output,
      /GOPROXY|dial tcp|no such host|proxyconnect|connection refused|i\/o timeout|403|404|410|not found: /i.test(output)
        ? `the Go module proxy (GOPROXY=${proxy}) must serve these modules: check GOPROXY/GOFLAGS/GONOSUMDB, or use \`artifacts.source: release\` / \`directory\``
        : 'read the output above; the Go toolchain must be 1.26 or newer (`go version`)',
    );
  }
}

interface DownloadedModule {
  Path: string;
  Version: string;
  GoMod?: string;
  Dir?: string;
  Info?: string;
  Error?: string;
}

/** `go mod download -json PATH@VERSION`: the module's files in the module cache. */
export async function downloadModule(path: string, version: string, env?: NodeJS.ProcessEnv): Promise<DownloadedModule> {
  const out = await goCommand(['mod', 'download', '-json', `${path}@${version}`], { env, cwd: emptyDirForGo() });
  const parsed = JSON.parse(out) as DownloadedModule;
  if (parsed.Error) throw new GoCommandError(`the Go module proxy cannot give ${path}@${version}`, `go mod download -json ${path}@${version}`, parsed.Error, 'check that the version exists (`go list -m -versions ' + path + '`) and that GOPROXY serves it');
  return parsed;
}

/** Go refuses `go mod download` inside a module with a broken go.mod; run it where no module is. */
function emptyDirForGo(): string {
  return '/';
}

/** The `go` directive of a go.mod text ("1.26.0"), or undefined. */
export function goDirective(goMod: string): string | undefined {
  return /^go\s+(\S+)/m.exec(goMod)?.[1];
}

/** k8s.io/kubernetes' staging modules: `k8s.io/x => ./staging/src/k8s.io/x` replaced and also required. */
export function stagingModules(goMod: string): string[] {
  const required = new Set([...goMod.matchAll(/^\s+(k8s\.io\/[\w.-]+)\s+v0\.0\.0\b/gm)].map((m) => m[1]!));
  return [...goMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!).filter((m) => required.has(m)).sort();
}

export function godebugLines(goMod: string): string[] {
  const lines: string[] = [];
  const block = /^godebug\s*\(\n([\s\S]*?)\n\)/m.exec(goMod);
  if (block) for (const l of block[1]!.split('\n').map((x) => x.trim()).filter(Boolean)) lines.push(`godebug ${l}`);
  for (const m of goMod.matchAll(/^godebug\s+([^(\s].*)$/gm)) lines.push(`godebug ${m[1]!.trim()}`);
  return lines;
}

function maxGoVersion(versions: (string | undefined)[]): string {
  const parsed = versions.filter((v): v is string => !!v).map((v) => v.split('.').map(Number));
  parsed.sort((a, b) => (a[0]! - b[0]!) || ((a[1] ?? 0) - (b[1] ?? 0)) || ((a[2] ?? 0) - (b[2] ?? 0)));
  const top = parsed.at(-1) ?? [1, 26, 0];
  return top.length === 2 ? `${top.join('.')}.0` : top.join('.');
}

/** The go.mod of a wrapper (before `go mod tidy` adds the indirect requirements). */
export async function wrapperGoMod(recipe: GoRecipe, env?: NodeJS.ProcessEnv): Promise<string> {
  const upstream: string[] = [];
  for (const r of recipe.requires) {
    const m = await downloadModule(r.path, r.version, env);
    upstream.push(m.GoMod ? await readFile(m.GoMod, 'utf8') : '');
  }
  const lines = [
    `// Wrapper module: builds ${recipe.component} ${recipe.version} from its upstream Go module${recipe.requires.length > 1 ? 's' : ''}.`,
    '// Written by `hardway-lab artifacts modules`; see main/artifacts/go-wrapper-module.ts.',
    `module ${WRAPPER_MODULE_PREFIX}/${recipe.component}`,
    '',
    `go ${maxGoVersion(upstream.map(goDirective))}`,
    '',
  ];
  const godebug = [...new Set(upstream.flatMap(godebugLines))];
  if (godebug.length) lines.push(...godebug, '');
  lines.push('require (', ...recipe.requires.map((r) => `\t${r.path} ${r.version}`), ')', '');
  lines.push('tool (', ...[...new Set(recipe.targets.map((t) => t.pkg))].map((p) => `\t${p}`), ')', '');
  if (recipe.component === 'kubernetes') {
    const staging = stagingModules(upstream[0] ?? '');
    if (staging.length === 0) throw new Error(`k8s.io/kubernetes v${recipe.version}: no staging modules found in its go.mod; the module layout changed`);
    const stagingVersion = `v0.${recipe.version.split('.').slice(1).join('.')}`;
    lines.push('// Each staging module at the version published from this release.', 'replace (', ...staging.map((m) => `\t${m} => ${m} ${stagingVersion}`), ')', '');
  }
  return lines.join('\n');
}

/**
 * Writes a wrapper module for the recipe into `dir` (go.mod, then `go mod tidy` for go.sum) and
 * returns it. Written to a temporary directory first, so a failed tidy leaves nothing half-made.
 */
export async function writeWrapperModule(recipe: GoRecipe, dir: string, env?: NodeJS.ProcessEnv): Promise<WrapperModule> {
  const scratch = `${dir}.writing`;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  try {
    await writeFile(join(scratch, 'go.mod'), await wrapperGoMod(recipe, env));
    // -mod=mod would be refused by tidy; the environment's other GOFLAGS are honoured.
    await goCommand(['mod', 'tidy'], { cwd: scratch, env: withoutModFlag(env ?? process.env) });
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    await rename(scratch, dir);
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
  return { dir, origin: 'generated' };
}

function withoutModFlag(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const flags = (env.GOFLAGS ?? '').split(/\s+/).filter((f) => f && !f.startsWith('-mod='));
  return { ...env, GOFLAGS: flags.join(' ') };
}

/** The committed wrapper when the app has one for this version, else one generated in the cache. */
export async function ensureWrapperModule(recipe: GoRecipe, cacheDir: string, options: { env?: NodeJS.ProcessEnv; committedRoot?: string } = {}): Promise<WrapperModule> {
  const committed = committedWrapper(recipe, options.committedRoot);
  if (committed) return committed;
  const dir = join(cacheDir, 'go-modules', wrapperDirName(recipe));
  if (existsSync(join(dir, 'go.mod')) && existsSync(join(dir, 'go.sum'))) return { dir, origin: 'generated' };
  return writeWrapperModule(recipe, dir, options.env);
}
