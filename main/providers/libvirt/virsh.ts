// A small typed wrapper over the `virsh` CLI. We shell out instead of binding libvirt's C API: the
// commands are the ones a person would type, so every error shows a command they can re-run.

import { execFile } from 'node:child_process';
import { ProviderError } from '../provider.ts';

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';

/** `virsh domstate` words (libvirt's virDomainState), as printed. */
export type DomainState =
  | 'running'
  | 'idle'
  | 'paused'
  | 'in shutdown'
  | 'shut off'
  | 'crashed'
  | 'pmsuspended'
  | 'no state';

export interface NetworkInfo {
  name: string;
  active: boolean;
  autostart: boolean;
  persistent: boolean;
}

export interface VirshOptions {
  /** Connection URI; default: the option, else $LIBVIRT_DEFAULT_URI, else qemu:///system. */
  uri?: string;
  /** Path or name of the virsh binary. */
  binary?: string;
  /** Per-command time limit. `virsh` itself never needs long; libvirtd's first QEMU probe takes ~10 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface VirshRunOptions {
  /** The node the command is about, for error messages. */
  node?: string;
  timeoutMs?: number;
}

export function resolveLibvirtUri(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  return option || env.LIBVIRT_DEFAULT_URI || DEFAULT_LIBVIRT_URI;
}

/** Messages libvirt prints when the object is already gone (or never existed). */
const NOT_FOUND = /(failed to get (domain|network)|Domain not found|Network not found|no (domain|network) with matching name)/i;
const NOT_RUNNING = /(domain is not running|network is not active|Requested operation is not valid: (domain|network) is not (running|active))/i;

export class Virsh {
  readonly uri: string;
  private readonly binary: string;
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: VirshOptions = {}) {
    this.env = options.env ?? process.env;
    this.uri = resolveLibvirtUri(options.uri, this.env);
    this.binary = options.binary ?? 'virsh';
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  /** Runs `virsh -c URI ARGS...` and returns stdout; any failure becomes a ProviderError with the command and output. */
  run(args: string[], options: VirshRunOptions = {}): Promise<string> {
    const argv = ['-c', this.uri, ...args];
    const command = [this.binary, ...argv].map(shellQuote).join(' ');
    return new Promise((resolvePromise, reject) => {
      execFile(
        this.binary,
        argv,
        { env: { ...this.env, LC_ALL: 'C' }, timeout: options.timeoutMs ?? this.timeoutMs, maxBuffer: 32 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (!error) {
            resolvePromise(stdout);
            return;
          }
          const output = lastLines(`${stdout}${stderr}`, 20) || error.message;
          const errno = (error as NodeJS.ErrnoException).code;
          const hint =
            errno === 'ENOENT'
              ? 'install the libvirt client: `apt install libvirt-clients libvirt-daemon-system` (Debian/Ubuntu).'
              : /failed to connect|No such file or directory|Connection refused/i.test(output)
                ? `start libvirtd (and virtlogd) and check you may use ${this.uri}: \`virsh -c ${this.uri} version\`; non-root users need the "libvirt" group.`
                : undefined;
          reject(
            new ProviderError(`virsh ${args[0] ?? ''} failed${options.node ? ` for ${options.node}` : ''}`, {
              node: options.node,
              command,
              output,
              hint,
              cause: error,
            }),
          );
        },
      );
    });
  }

  async version(): Promise<string> {
    return (await this.run(['version'])).trim();
  }

  /** Every domain name, running or not (`list --all --name`). */
  async listDomains(): Promise<string[]> {
    return parseNameList(await this.run(['list', '--all', '--name']));
  }

  /** The domain's state, or undefined when no such domain is defined. */
  async domainState(name: string): Promise<DomainState | undefined> {
    try {
      return parseDomState(await this.run(['domstate', name], { node: name }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async dumpXml(name: string): Promise<string | undefined> {
    try {
      return await this.run(['dumpxml', name], { node: name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** `virsh define FILE` (persistent domain); `--validate` checks it against libvirt's schema first. */
  async define(xmlFile: string, node?: string): Promise<void> {
    await this.run(['define', '--validate', xmlFile], { node });
  }

  async start(name: string): Promise<void> {
    await this.run(['start', name], { node: name });
  }

  /** Asks the guest to power off (ACPI). Returns at once; poll domainState to see it stop. */
  async shutdown(name: string): Promise<void> {
    try {
      await this.run(['shutdown', name], { node: name });
    } catch (error) {
      if (!isNotFound(error) && !isNotRunning(error)) throw error;
    }
  }

  /** Hard power-off; a no-op when the domain is absent or already off. */
  async destroy(name: string): Promise<void> {
    try {
      await this.run(['destroy', name], { node: name });
    } catch (error) {
      if (!isNotFound(error) && !isNotRunning(error)) throw error;
    }
  }

  /** Removes the definition (and any NVRAM file and snapshot metadata); a no-op when the domain is absent. */
  async undefine(name: string): Promise<void> {
    try {
      await this.run(['undefine', '--nvram', '--snapshots-metadata', name], { node: name });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** `virsh suspend`/`resume`: pause and continue a running domain's vCPUs. */
  async suspend(name: string): Promise<void> {
    await this.run(['suspend', name], { node: name });
  }

  async resume(name: string): Promise<void> {
    await this.run(['resume', name], { node: name });
  }

  /**
   * `virsh snapshot-create-as`: an internal snapshot in the domain's qcow2 disk, with the RAM when
   * the domain runs (a system checkpoint, libvirt's default), of the disk alone when it is off.
   */
  async snapshotCreate(name: string, snapshot: string): Promise<void> {
    await this.run(['snapshot-create-as', '--domain', name, '--name', snapshot, '--atomic'], { node: name, timeoutMs: 10 * 60_000 });
  }

  /** `virsh snapshot-revert --running`: back to the snapshot, and running whatever it was then. */
  async snapshotRevert(name: string, snapshot: string): Promise<void> {
    await this.run(['snapshot-revert', '--domain', name, '--snapshotname', snapshot, '--running', '--force'], { node: name, timeoutMs: 10 * 60_000 });
  }

  async snapshotDelete(name: string, snapshot: string): Promise<void> {
    await this.run(['snapshot-delete', '--domain', name, '--snapshotname', snapshot], { node: name, timeoutMs: 10 * 60_000 });
  }

  /** The domain's snapshot names; none when the domain does not exist. */
  async snapshotNames(name: string): Promise<string[]> {
    try {
      return parseNameList(await this.run(['snapshot-list', '--domain', name, '--name'], { node: name }));
    } catch (error) {
      if (isNotFound(error)) return [];
      throw error;
    }
  }

  async listNetworks(): Promise<NetworkInfo[]> {
    return parseNetList(await this.run(['net-list', '--all']));
  }

  async networkXml(name: string): Promise<string | undefined> {
    try {
      return await this.run(['net-dumpxml', name]);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async netDefine(xmlFile: string): Promise<void> {
    await this.run(['net-define', '--validate', xmlFile]);
  }

  async netStart(name: string): Promise<void> {
    await this.run(['net-start', name]);
  }

  async netDestroy(name: string): Promise<void> {
    try {
      await this.run(['net-destroy', name]);
    } catch (error) {
      if (!isNotFound(error) && !isNotRunning(error)) throw error;
    }
  }

  async netUndefine(name: string): Promise<void> {
    try {
      await this.run(['net-undefine', name]);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ProviderError && NOT_FOUND.test(error.output ?? '');
}

export function isNotRunning(error: unknown): boolean {
  return error instanceof ProviderError && NOT_RUNNING.test(error.output ?? '');
}

/** `virsh list --name` style output: one name a line, a trailing blank line. */
export function parseNameList(stdout: string): string[] {
  return stdout
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

const DOMAIN_STATES: readonly DomainState[] = ['running', 'idle', 'paused', 'in shutdown', 'shut off', 'crashed', 'pmsuspended', 'no state'];

export function parseDomState(stdout: string): DomainState {
  const word = stdout.trim().split('\n')[0]?.trim() ?? '';
  const state = DOMAIN_STATES.find((s) => s === word);
  if (!state) throw new ProviderError(`virsh domstate printed an unknown state "${word}"`, { output: stdout });
  return state;
}

/**
 * `virsh net-list --all`:
 *
 *      Name          State      Autostart   Persistent
 *     ----------------------------------------------------
 *      default       active     yes         yes
 */
export function parseNetList(stdout: string): NetworkInfo[] {
  const lines = stdout.split('\n');
  const ruler = lines.findIndex((line) => /^\s*-{5,}\s*$/.test(line));
  if (ruler < 0) throw new ProviderError('could not read `virsh net-list --all` output (no header ruler)', { output: stdout });
  const networks: NetworkInfo[] = [];
  for (const line of lines.slice(ruler + 1)) {
    const fields = line.trim().split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    if (fields.length !== 4) throw new ProviderError(`could not read a \`virsh net-list\` row: "${line.trim()}"`, { output: stdout });
    const [name, state, autostart, persistent] = fields as [string, string, string, string];
    networks.push({ name, active: state === 'active', autostart: autostart === 'yes', persistent: persistent === 'yes' });
  }
  return networks;
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
