// Network-namespace harness for tests that boot VMs.
//
// Design: a test never talks to lab addresses (10.x) from the host's own network. Instead it
// creates a fresh, uniquely named namespace (`ip netns add hwl-<task>-<pid>-<n>`), brings up its
// loopback, and runs a *scenario* inside it as a separate Node process:
//
//     ip netns exec NS node --import tsx test/helpers/netns-scenario-runner.ts MODULE EXPORT ARGS
//
// so QEMU, the lab bridge, the taps and every SSH client live in that namespace and nothing can
// leak onto the host's networks. The scenario is an exported async function of a module; the
// runner calls it with JSON arguments and prints its JSON result on a marked line, which
// runScenario() parses and returns (or rethrows as ScenarioError, with the scenario's own
// message). The namespace is always deleted at the end, also on failure: first every process
// still in it (`ip netns pids NS`) gets SIGTERM, then SIGKILL; deleting the namespace then removes
// its bridge and taps. A process-exit hook does the same if the test runner is interrupted.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = fileURLToPath(new URL('./netns-scenario-runner.ts', import.meta.url));
export const RESULT_MARK = '@@HWL-SCENARIO-RESULT@@';
export const ERROR_MARK = '@@HWL-SCENARIO-ERROR@@';

let counter = 0;
const live = new Set<string>();

/** Why this host cannot run namespace tests, or undefined when it can. */
export function netnsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (run the integration tests as root)';
  const probe = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return `\`ip netns\` does not work here: ${probe.error?.message ?? probe.stderr.trim()}`;
  return undefined;
}

export class ScenarioError extends Error {
  readonly output: string;
  constructor(message: string, output: string) {
    super(message);
    this.name = 'ScenarioError';
    this.output = output;
  }
}

export interface ScenarioRun<T> {
  result: T;
  /** Everything the scenario printed (its progress log). */
  output: string;
  seconds: number;
}

export class NetworkNamespace {
  readonly name: string;
  private deleted = false;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates `hwl-<task>-<pid>-<n>` (at most 15 characters of task) with loopback up. */
  static create(task: string): NetworkNamespace {
    const name = `hwl-${task.replace(/[^a-z0-9-]/gi, '').slice(0, 15)}-${process.pid}-${++counter}`;
    ipSync(['netns', 'add', name]);
    live.add(name);
    try {
      ipSync(['-n', name, 'link', 'set', 'lo', 'up']);
    } catch (error) {
      deleteNamespaceSync(name);
      throw error;
    }
    return new NetworkNamespace(name);
  }

  /** Runs `module`'s exported async function `exportName(args)` in a Node process inside the namespace. */
  async runScenario<T>(module: string, exportName: string, args: unknown, options: { timeoutMs: number; log?: (line: string) => void } ): Promise<ScenarioRun<T>> {
    const argv = ['netns', 'exec', this.name, process.execPath, '--import', 'tsx', RUNNER, module, exportName, JSON.stringify(args)];
    const started = Date.now();
    const log = options.log ?? ((line: string) => console.log(`[${this.name}] ${line}`));
    return new Promise((resolvePromise, reject) => {
      const child = spawn('ip', argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HWL_NETNS: this.name } });
      let output = '';
      let resultLine: string | undefined;
      let errorLine: string | undefined;
      const pending = { out: '', err: '' };
      const take = (which: 'out' | 'err', chunk: Buffer) => {
        const lines = (pending[which] + chunk.toString('utf8')).split('\n');
        pending[which] = lines.pop() ?? '';
        for (const line of lines) handle(line);
      };
      const handle = (line: string) => {
        if (line.startsWith(RESULT_MARK)) resultLine = line.slice(RESULT_MARK.length);
        else if (line.startsWith(ERROR_MARK)) errorLine = line.slice(ERROR_MARK.length);
        else {
          output += `${line}\n`;
          log(line);
        }
      };
      child.stdout.on('data', (c: Buffer) => take('out', c));
      child.stderr.on('data', (c: Buffer) => take('err', c));
      const timer = setTimeout(() => {
        log(`scenario ${exportName} timed out after ${options.timeoutMs / 1000} s; killing everything in ${this.name}`);
        killNamespacePids(this.name);
        child.kill('SIGKILL');
      }, options.timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (pending.out) handle(pending.out);
        if (pending.err) handle(pending.err);
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        if (resultLine !== undefined && code === 0) {
          resolvePromise({ result: JSON.parse(resultLine) as T, output, seconds });
          return;
        }
        const message = errorLine ? (JSON.parse(errorLine) as { message: string }).message : `scenario ${exportName} exited with ${signal ?? `code ${code}`} and no result`;
        reject(new ScenarioError(message, output));
      });
    });
  }

  /** Kills every process left in the namespace and deletes it (with its bridge and taps). */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    deleteNamespaceSync(this.name);
  }

  /** Network devices in the namespace other than loopback. */
  links(): string[] {
    const out = ipSync(['-n', this.name, '-o', 'link', 'show']);
    return out
      .split('\n')
      .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1])
      .filter((n): n is string => !!n && n !== 'lo');
  }

  pids(): number[] {
    return namespacePids(this.name);
  }
}

/** Creates a namespace, runs `use`, and always deletes it afterwards. */
export async function withNetworkNamespace<T>(task: string, use: (ns: NetworkNamespace) => Promise<T>): Promise<T> {
  const ns = NetworkNamespace.create(task);
  try {
    return await use(ns);
  } finally {
    ns.delete();
  }
}

function ipSync(args: string[]): string {
  const result = spawnSync('ip', args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(`ip ${args.join(' ')} failed: ${result.error?.message ?? result.stderr.trim()}`);
  }
  return result.stdout;
}

function namespacePids(name: string): number[] {
  const result = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  if (result.status !== 0) return [];
  return result.stdout
    .split(/\s+/)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 1 && pid !== process.pid);
}

function alive(pid: number): boolean {
  try {
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** SIGTERM to everything in the namespace, up to 5 s for them to go, then SIGKILL. */
export function killNamespacePids(name: string): void {
  let pids = namespacePids(name);
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (pids.some(alive) && Date.now() < deadline) {
    spawnSync('sleep', ['0.2']);
    pids = pids.filter(alive);
  }
  for (const pid of namespacePids(name)) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (namespacePids(name).some(alive) && Date.now() < killDeadline) spawnSync('sleep', ['0.2']);
}

function deleteNamespaceSync(name: string): void {
  killNamespacePids(name);
  spawnSync('ip', ['netns', 'delete', name], { encoding: 'utf8' });
  live.delete(name);
}

function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

// If the test process is interrupted, still remove what it created.
process.on('exit', () => {
  for (const name of [...live]) deleteNamespaceSync(name);
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const name of [...live]) deleteNamespaceSync(name);
    process.exit(130);
  });
}
