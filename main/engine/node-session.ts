// One node as a step sees it: run commands and the scripts from provision/, and put files in
// place only when they differ (hash and mode compared first), so re-running a step changes nothing.
// Everything it does is logged to logs/<step>/<node>.log.

import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { PlannedNode } from '../plan/address-plan.ts';
import type { ExecResult, NodeExecutor, WaitForSshOptions } from './node-executor.ts';
import { provisionScript, shellJoin } from './shell.ts';
import { StepError } from './step-definition.ts';
import type { StepLog } from './step-log.ts';

export interface CommandOptions {
  stdin?: string | Buffer;
  /** For script(): function libraries from provision/ sent ahead of the script (e.g. checks/lib-unit-health.sh). */
  include?: readonly string[];
  timeoutMs?: number;
  /** Do not copy stdout into the log (it holds key material, or is large and parsed anyway). */
  quietStdout?: boolean;
  /** A hint for the error when the command fails (run/runScript). */
  hint?: string;
}

export interface RemoteFileFact {
  sha256: string;
  /** Octal permission bits, e.g. 0o600. */
  mode: number;
}

export interface SyncFile {
  /** A local file, or in-memory content. */
  local?: string;
  content?: string | Buffer;
  remote: string;
  mode: number;
}

export interface RemoteFile {
  mode: number;
  content: Buffer;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const PARALLEL_UPLOADS = 4;
const OUTPUT_TAIL_LINES = 15;

export class NodeSession {
  constructor(
    readonly node: PlannedNode,
    private readonly executor: NodeExecutor,
    private readonly log: StepLog,
    private readonly signal: AbortSignal,
  ) {}

  get name(): string {
    return this.node.name;
  }

  info(message: string): void {
    this.log.line(this.name, 'info', message);
  }

  /** Waits until the node accepts SSH (a booting VM); the error names the node and shows its console. */
  async waitForSsh(options: WaitForSshOptions): Promise<void> {
    this.info('waiting for SSH');
    const started = Date.now();
    await this.executor.waitForSsh(this.name, { ...options, signal: this.signal });
    this.info(`SSH answers (after ${Math.round((Date.now() - started) / 1000)} s)`);
  }

  /** Runs a command and returns its result whatever the exit code. */
  async exec(command: string, options: CommandOptions = {}): Promise<ExecResult> {
    return this.execLogged(command, command, options);
  }

  /** Runs a command; a non-zero exit is a StepError with the command and the end of its output. */
  async run(command: string, options: CommandOptions = {}): Promise<ExecResult> {
    const result = await this.exec(command, options);
    if (result.code !== 0) throw this.failure(command, result, options.hint);
    return result;
  }

  /** Runs provision/<name> with bash on the node (the script goes in on stdin). */
  async script(name: string, args: readonly string[] = [], options: CommandOptions = {}): Promise<ExecResult> {
    const command = `bash -s -- ${shellJoin(args)}`.trimEnd();
    const text = [...(options.include ?? []).map(provisionScript), provisionScript(name)].join('\n');
    return this.execLogged(command, `provision/${name} ${shellJoin(args)}`.trimEnd(), { ...options, stdin: text });
  }

  async runScript(name: string, args: readonly string[] = [], options: CommandOptions = {}): Promise<ExecResult> {
    const result = await this.script(name, args, options);
    if (result.code !== 0) throw this.failure(`provision/${name} ${shellJoin(args)}`, result, options.hint);
    return result;
  }

  /** sha256 and mode of each path; undefined for paths that are not regular files. */
  async fileFacts(paths: readonly string[]): Promise<Map<string, RemoteFileFact | undefined>> {
    const facts = new Map<string, RemoteFileFact | undefined>();
    if (paths.length === 0) return facts;
    const result = await this.runScript('checks/file-facts.sh', paths, { quietStdout: true });
    for (const [path, fact] of parseFileFacts(result.stdout)) facts.set(path, fact);
    for (const path of paths) if (!facts.has(path)) facts.set(path, undefined);
    return facts;
  }

  /** Contents and modes of files (not logged: they may be private keys). */
  async readFiles(paths: readonly string[]): Promise<Map<string, RemoteFile | undefined>> {
    const files = new Map<string, RemoteFile | undefined>();
    if (paths.length === 0) return files;
    const result = await this.runScript('checks/read-files.sh', paths, { quietStdout: true });
    for (const [path, file] of parseReadFiles(result.stdout)) files.set(path, file);
    for (const path of paths) if (!files.has(path)) files.set(path, undefined);
    return files;
  }

  /**
   * Makes each remote file equal to its source, with its mode. Files already identical are not
   * touched; a wrong mode alone is fixed with chmod. Returns the remote paths that changed.
   */
  async syncFiles(files: readonly SyncFile[]): Promise<string[]> {
    const facts = await this.fileFacts(files.map((f) => f.remote));
    const changed: string[] = [];
    const uploads: SyncFile[] = [];
    for (const file of files) {
      const want = file.local !== undefined ? await sha256OfLocal(file.local) : sha256(file.content ?? '');
      const have = facts.get(file.remote);
      if (have && have.sha256 === want) {
        if (have.mode !== file.mode) {
          await this.run(`chmod ${file.mode.toString(8)} ${shellJoin([file.remote])}`);
          changed.push(file.remote);
        }
        continue;
      }
      this.info(`${have ? 'updating' : 'installing'} ${file.remote} (mode ${file.mode.toString(8)})`);
      uploads.push(file);
    }
    // A few uploads at a time: one SFTP round trip per chunk is what makes copying slow.
    for (let i = 0; i < uploads.length; i += PARALLEL_UPLOADS) {
      await Promise.all(
        uploads.slice(i, i + PARALLEL_UPLOADS).map((file) =>
          file.local !== undefined
            ? this.executor.uploadFile(this.name, file.local, file.remote, file.mode)
            : this.executor.upload(this.name, file.content ?? '', file.remote, file.mode),
        ),
      );
      changed.push(...uploads.slice(i, i + PARALLEL_UPLOADS).map((f) => f.remote));
    }
    if (changed.length === 0) this.info(`${files.length} file(s) already in place`);
    return changed;
  }

  private async execLogged(command: string, shown: string, options: CommandOptions): Promise<ExecResult> {
    this.signal.throwIfAborted();
    this.log.line(this.name, 'info', `$ ${shown.split('\n')[0]}`);
    try {
      const result = await this.executor.exec(this.name, command, {
        stdin: options.stdin,
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        signal: this.signal,
        onStdout: options.quietStdout ? undefined : (chunk) => this.log.chunk(this.name, 'stdout', chunk),
        onStderr: (chunk) => this.log.chunk(this.name, 'stderr', chunk),
      });
      this.log.flush(this.name);
      if (result.code !== 0) this.log.line(this.name, 'info', `exit code ${result.code}${result.signal ? ` (${result.signal})` : ''}`);
      return result;
    } catch (error) {
      this.log.flush(this.name);
      this.log.line(this.name, 'stderr', `${(error as Error).message.split('\n')[0]}`);
      throw error;
    }
  }

  private failure(command: string, result: ExecResult, hint?: string): StepError {
    const output = [result.stderr, result.stdout]
      .map((s) => s.trimEnd())
      .filter(Boolean)
      .join('\n')
      .split('\n')
      .slice(-OUTPUT_TAIL_LINES)
      .join('\n');
    return new StepError(`command failed on ${this.name} with exit code ${result.code}`, {
      node: this.name,
      command: command.split('\n')[0],
      output,
      hint: hint ?? `see ${this.log.fileFor(this.name)}, fix the cause on ${this.name} (\`hardway-lab ssh ${this.name}\`), then run the step again`,
    });
  }
}

/** Parses provision/checks/file-facts.sh output: `SHA256 MODE PATH` or `missing - PATH`. */
export function parseFileFacts(output: string): Map<string, RemoteFileFact | undefined> {
  const facts = new Map<string, RemoteFileFact | undefined>();
  for (const line of output.split('\n')) {
    const match = /^(\S+) (\S+) (\/.*)$/.exec(line);
    if (!match) continue;
    const [, hash, mode, path] = match;
    facts.set(path!, hash === 'missing' ? undefined : { sha256: hash!, mode: parseInt(mode!, 8) });
  }
  return facts;
}

/** Parses provision/checks/read-files.sh output: `==> MODE PATH` + base64 line, or `==> missing PATH`. */
export function parseReadFiles(output: string): Map<string, RemoteFile | undefined> {
  const files = new Map<string, RemoteFile | undefined>();
  const lines = output.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const header = /^==> (\S+) (\/.*)$/.exec(lines[i]!);
    if (!header) continue;
    const [, mode, path] = header;
    if (mode === 'missing') {
      files.set(path!, undefined);
      continue;
    }
    const body = lines[i + 1] ?? '';
    files.set(path!, { mode: parseInt(mode!, 8), content: Buffer.from(body.trim(), 'base64') });
    i++;
  }
  return files;
}

function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

const localHashes = new Map<string, { size: number; mtimeMs: number; hash: string }>();

/** sha256 of a local file, remembered while its size and mtime stay the same (binaries are big). */
export async function sha256OfLocal(path: string): Promise<string> {
  const stat = statSync(path);
  const known = localHashes.get(path);
  if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return known.hash;
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  const hex = hash.digest('hex');
  localHashes.set(path, { size: stat.size, mtimeMs: stat.mtimeMs, hash: hex });
  return hex;
}
