// A typed wrapper over `vagrant --machine-readable`. Vagrant prints one record a line:
//
//   timestamp,target,type,data,data...
//
// with commas inside data written as `%!(VAGRANT_COMMA)` and newlines as a literal `\n`. The
// environment (VAGRANT_CWD, VAGRANT_DOTFILE_PATH, VAGRANT_HOME) keeps each lab's Vagrant state in
// the lab dir and lets tests keep boxes out of ~/.vagrant.d.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ProviderError } from '../provider.ts';

export interface MachineReadableRecord {
  timestamp: number;
  /** The machine name, or '' for records about the whole run. */
  target: string;
  type: string;
  data: string[];
}

export interface VagrantCliOptions {
  /** The directory holding the Vagrantfile (VAGRANT_CWD). */
  cwd: string;
  /** Where `.vagrant` machine state lives (VAGRANT_DOTFILE_PATH); default `<cwd>/.vagrant`. */
  dotfilePath?: string;
  /** Boxes and plugins (VAGRANT_HOME); default Vagrant's own (~/.vagrant.d). */
  home?: string;
  /** More environment for the Vagrantfile, e.g. HARDWAY_LAB_DIR. */
  env?: NodeJS.ProcessEnv;
  binary?: string;
}

export interface VagrantRunOptions {
  timeoutMs?: number;
  /** Every human-readable line Vagrant prints (`ui` records), as it arrives. */
  onUi?: (line: string, target: string) => void;
  node?: string;
}

export interface VagrantRunResult {
  records: MachineReadableRecord[];
  /** Lines that were not machine-readable records (plugins and subprocesses may print directly). */
  otherLines: string[];
}

export interface MachineStatus {
  name: string;
  /** Vagrant's state id: `not_created`, `running`, `shutoff`, `preparing`, `inaccessible`, ... */
  state: string;
  provider?: string;
  human?: string;
}

export interface SshConfig {
  host: string;
  hostName: string;
  user: string;
  port: number;
  identityFiles: string[];
  /** Every option as printed, keys as written (HostName, User, Port, IdentityFile, ...). */
  options: Record<string, string[]>;
}

const COMMA = '%!(VAGRANT_COMMA)';

/** Unescapes one data field of a machine-readable record. */
export function unescapeField(field: string): string {
  return field.split(COMMA).join(',').replace(/\\n/g, '\n').replace(/\\r/g, '\r');
}

/**
 * Parses machine-readable output. Some records carry raw multi-line text (`ssh-config` prints the
 * config unescaped): a line that is not a record continues the previous record's last field.
 * Lines before any record are returned separately.
 */
export function parseMachineReadable(stdout: string): VagrantRunResult {
  const records: MachineReadableRecord[] = [];
  const otherLines: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const record = parseRecordLine(line);
    if (record) {
      records.push(record);
      continue;
    }
    if (!line.trim()) continue;
    const previous = records[records.length - 1];
    if (previous && previous.type !== 'ui') {
      if (previous.data.length === 0) previous.data.push('');
      previous.data[previous.data.length - 1] += `\n${line}`;
    } else {
      otherLines.push(line);
    }
  }
  return { records, otherLines };
}

export function parseRecordLine(line: string): MachineReadableRecord | undefined {
  const match = /^(\d+),([^,]*),([^,]+),?(.*)$/.exec(line);
  if (!match) return undefined;
  const rest = match[4]!;
  return {
    timestamp: Number(match[1]),
    target: match[2]!,
    type: match[3]!,
    data: rest === '' ? [] : rest.split(',').map(unescapeField),
  };
}

/** Machine states from `vagrant status --machine-readable`. */
export function parseStatus(records: MachineReadableRecord[]): MachineStatus[] {
  const byName = new Map<string, MachineStatus>();
  const entry = (name: string) => {
    let status = byName.get(name);
    if (!status) {
      status = { name, state: 'unknown' };
      byName.set(name, status);
    }
    return status;
  };
  for (const record of records) {
    if (!record.target) continue;
    if (record.type === 'state') entry(record.target).state = record.data[0] ?? 'unknown';
    else if (record.type === 'provider-name') entry(record.target).provider = record.data[0];
    else if (record.type === 'state-human-short') entry(record.target).human = record.data[0];
  }
  return [...byName.values()];
}

/** Parses `vagrant ssh-config` text (an OpenSSH client config block per machine). */
export function parseSshConfig(text: string): SshConfig[] {
  const blocks: SshConfig[] = [];
  let current: SshConfig | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(\S+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const key = match[1]!;
    const value = match[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (key.toLowerCase() === 'host') {
      current = { host: value, hostName: '', user: '', port: 22, identityFiles: [], options: {} };
      blocks.push(current);
      continue;
    }
    if (!current) continue;
    (current.options[key] ??= []).push(value);
    switch (key.toLowerCase()) {
      case 'hostname':
        current.hostName = value;
        break;
      case 'user':
        current.user = value;
        break;
      case 'port':
        current.port = Number(value);
        break;
      case 'identityfile':
        current.identityFiles.push(value);
        break;
    }
  }
  return blocks;
}

/** The snapshot names of `vagrant snapshot list`, which prints each as a `detail` line (see its list.rb). */
export function parseSnapshotList(records: MachineReadableRecord[]): string[] {
  const ui = records.filter((r) => r.type === 'ui');
  if (ui.some((r) => /No snapshots have been taken yet/i.test(r.data.slice(1).join(',')))) return [];
  if (ui.some((r) => /not created/i.test(r.data.slice(1).join(',')))) return [];
  return ui.filter((r) => r.data[0] === 'detail').map((r) => r.data.slice(1).join(',').trim()).filter((name) => name !== '');
}

export class VagrantCli {
  readonly cwd: string;
  private readonly binary: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: VagrantCliOptions) {
    this.cwd = options.cwd;
    this.binary = options.binary ?? 'vagrant';
    this.env = {
      ...process.env,
      ...options.env,
      VAGRANT_CWD: options.cwd,
      VAGRANT_DOTFILE_PATH: options.dotfilePath ?? `${options.cwd}/.vagrant`,
      // Never phone home: no version checks, no box update checks (the lab is offline by design).
      VAGRANT_CHECKPOINT_DISABLE: '1',
      VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1',
      VAGRANT_NO_COLOR: '1',
      LC_ALL: 'C.UTF-8',
    };
    if (options.home) this.env.VAGRANT_HOME = options.home;
  }

  /** The environment every vagrant command runs with (for people re-running a command by hand). */
  get environment(): Readonly<NodeJS.ProcessEnv> {
    return this.env;
  }

  /** Runs `vagrant ARGS --machine-readable`; a non-zero exit becomes a ProviderError with Vagrant's own error text. */
  async run(args: string[], options: VagrantRunOptions = {}): Promise<VagrantRunResult> {
    const argv = [...args, '--machine-readable'];
    const command = this.describeCommand(argv);
    const { code, stdout, stderr, spawnError } = await this.spawnCollect(argv, options);
    const result = parseMachineReadable(stdout);
    if (spawnError) {
      const missing = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
      throw new ProviderError(missing ? 'vagrant is not installed' : `could not run vagrant: ${spawnError.message}`, {
        command,
        node: options.node,
        hint: missing ? 'install it: sudo apt-get install vagrant vagrant-libvirt (Debian 12)' : undefined,
        cause: spawnError,
      });
    }
    if (code !== 0) {
      const errorExit = result.records.find((r) => r.type === 'error-exit');
      const uiErrors = result.records.filter((r) => r.type === 'ui' && r.data[0] === 'error').map((r) => r.data.slice(1).join(','));
      const detail = errorExit ? `${errorExit.data[0]}: ${errorExit.data.slice(1).join(',')}` : uiErrors.join('\n');
      const tail = [...result.records.filter((r) => r.type === 'ui').map((r) => r.data.slice(1).join(',')), ...result.otherLines, stderr]
        .join('\n')
        .trimEnd()
        .split('\n')
        .slice(-25)
        .join('\n');
      throw new ProviderError(`vagrant ${args[0]} failed${options.node ? ` for ${options.node}` : ''}${code === null ? ' (timed out)' : ''}`, {
        node: options.node,
        command,
        output: detail ? `${detail.trim()}\n${tail}`.trim() : tail,
        hint: hintFor(errorExit?.data[0], detail),
      });
    }
    return result;
  }

  async versionString(): Promise<string> {
    // `vagrant --version` is local; `vagrant version` asks HashiCorp's servers for the latest release.
    const { code, stdout, spawnError } = await this.spawnCollect(['--version'], { timeoutMs: 60_000 });
    if (spawnError || code !== 0) {
      throw new ProviderError('vagrant is not installed or does not run', {
        command: this.describeCommand(['--version']),
        output: stdout,
        hint: 'install it: sudo apt-get install vagrant vagrant-libvirt (Debian 12)',
      });
    }
    return stdout.trim();
  }

  async status(machines: string[] = [], options: VagrantRunOptions = {}): Promise<MachineStatus[]> {
    return parseStatus((await this.run(['status', ...machines], options)).records);
  }

  async up(machines: string[] = [], options: VagrantRunOptions & { provider?: string; parallel?: boolean } = {}): Promise<VagrantRunResult> {
    const args = ['up', `--provider=${options.provider ?? 'libvirt'}`, options.parallel === false ? '--no-parallel' : '--parallel', ...machines];
    return this.run(args, options);
  }

  async halt(machines: string[] = [], options: VagrantRunOptions = {}): Promise<VagrantRunResult> {
    return this.run(['halt', ...machines], options);
  }

  async destroy(machines: string[] = [], options: VagrantRunOptions = {}): Promise<VagrantRunResult> {
    return this.run(['destroy', '-f', ...machines], options);
  }

  /** `vagrant snapshot save --force [MACHINE] NAME` (every machine when none is given). */
  async snapshotSave(name: string, machines: string[] = [], options: VagrantRunOptions = {}): Promise<VagrantRunResult> {
    return machines.length === 0 ? this.run(['snapshot', 'save', '--force', name], options) : this.runEach(machines, (m) => ['snapshot', 'save', '--force', m, name], options);
  }

  /** `vagrant snapshot restore --no-provision [MACHINE] NAME`: back to the snapshot, and running. */
  async snapshotRestore(name: string, machines: string[] = [], options: VagrantRunOptions = {}): Promise<VagrantRunResult> {
    return machines.length === 0 ? this.run(['snapshot', 'restore', '--no-provision', name], options) : this.runEach(machines, (m) => ['snapshot', 'restore', '--no-provision', m, name], options);
  }

  async snapshotDelete(name: string, machine: string, options: VagrantRunOptions = {}): Promise<VagrantRunResult> {
    return this.run(['snapshot', 'delete', machine, name], options);
  }

  /** `vagrant snapshot list MACHINE`: the names are its `detail` lines (none when it says so). */
  async snapshotList(machine: string, options: VagrantRunOptions = {}): Promise<string[]> {
    return parseSnapshotList((await this.run(['snapshot', 'list', machine], options)).records);
  }

  private async runEach(machines: string[], args: (machine: string) => string[], options: VagrantRunOptions): Promise<VagrantRunResult> {
    const all: VagrantRunResult = { records: [], otherLines: [] };
    for (const machine of machines) {
      const result = await this.run(args(machine), { ...options, node: options.node ?? machine });
      all.records.push(...result.records);
      all.otherLines.push(...result.otherLines);
    }
    return all;
  }

  /** `vagrant ssh-config NAME`: the SSH settings Vagrant itself uses for the machine. */
  async sshConfig(machine: string, options: VagrantRunOptions = {}): Promise<SshConfig> {
    const { records, otherLines } = await this.run(['ssh-config', machine], { ...options, node: options.node ?? machine });
    const text = records
      .filter((r) => r.type === 'ssh-config')
      .map((r) => r.data.join(','))
      .concat(otherLines)
      .join('\n');
    const block = parseSshConfig(text).find((b) => b.host === machine) ?? parseSshConfig(text)[0];
    if (!block) throw new ProviderError(`vagrant ssh-config printed no Host block for ${machine}`, { node: machine, output: text });
    return block;
  }

  async boxList(): Promise<Array<{ name: string; provider?: string; version?: string }>> {
    const { records } = await this.run(['box', 'list']);
    const boxes: Array<{ name: string; provider?: string; version?: string }> = [];
    for (const record of records) {
      if (record.type === 'box-name') boxes.push({ name: record.data[0] ?? '' });
      else if (record.type === 'box-provider' && boxes.length) boxes[boxes.length - 1]!.provider = record.data[0];
      else if (record.type === 'box-version' && boxes.length) boxes[boxes.length - 1]!.version = record.data[0];
    }
    return boxes;
  }

  /** Adds a box from a .box file (give `name`) or from a catalog JSON (the catalog names it). */
  async boxAdd(source: string, options: VagrantRunOptions & { name?: string } = {}): Promise<void> {
    const args = ['box', 'add', '--force', ...(options.name ? ['--name', options.name] : []), source];
    await this.run(args, { timeoutMs: 30 * 60_000, ...options });
  }

  async boxRemove(name: string, options: VagrantRunOptions = {}): Promise<void> {
    await this.run(['box', 'remove', '--force', '--all', name], options);
  }

  describeCommand(argv: string[]): string {
    const env = ['VAGRANT_CWD', 'VAGRANT_DOTFILE_PATH', 'VAGRANT_HOME', 'HARDWAY_LAB_DIR']
      .filter((k) => this.env[k])
      .map((k) => `${k}=${quote(this.env[k]!)}`);
    return [...env, this.binary, ...argv.map(quote)].join(' ');
  }

  private spawnCollect(
    argv: string[],
    options: VagrantRunOptions,
  ): Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: Error }> {
    return new Promise((resolvePromise) => {
      // VAGRANT_CWD is what Vagrant goes by; the process cwd only has to exist.
      const cwd = existsSync(this.cwd) ? this.cwd : undefined;
      const child = spawn(this.binary, argv, { cwd, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let pending = '';
      child.stdout.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        stdout += text;
        if (!options.onUi) return;
        const lines = (pending + text).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const record = parseRecordLine(line);
          if (record?.type === 'ui') for (const l of record.data.slice(1).join(',').split('\n')) if (l.trim()) options.onUi(l, record.target);
        }
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('utf8');
      });
      let timer: NodeJS.Timeout | undefined;
      if (options.timeoutMs) {
        // SIGINT first: Vagrant then runs its cleanup (e.g. destroys a half-created machine).
        timer = setTimeout(() => {
          child.kill('SIGINT');
          setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
        }, options.timeoutMs);
      }
      child.on('error', (error) => {
        if (timer) clearTimeout(timer);
        resolvePromise({ code: -1, stdout, stderr, spawnError: error });
      });
      child.on('close', (code, signal) => {
        if (timer) clearTimeout(timer);
        resolvePromise({ code: signal ? null : code, stdout, stderr });
      });
    });
  }
}

function hintFor(errorClass: string | undefined, detail: string): string | undefined {
  if (!errorClass && !detail) return undefined;
  if (/BoxNotFound|box .* could not be found|does not exist/i.test(detail)) {
    return 'the box is made from the base image when the lab is created: run `hardway-lab image build`, then create the lab again (docs/vagrant.md).';
  }
  if (/libvirt|Libvirt/.test(detail) && /connect|socket/i.test(detail)) return 'start libvirtd and check `virsh -c qemu:///system version` works for this user.';
  if (/ProviderNotUsable|vagrant-libvirt/i.test(detail)) return 'install the plugin: sudo apt-get install vagrant-libvirt';
  if (/timed out|Timeout|boot_timeout/i.test(detail)) return 'the VM did not come up in time: look at the console log in the lab dir (vagrant/<node>/console.log).';
  return undefined;
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
