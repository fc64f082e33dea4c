// The engine's way into the VMs: one SSH connection per node, shared by commands, uploads and
// interactive shells, opened on demand and re-opened after a drop.

import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import type { SshEndpoint } from '../providers/provider.ts';
import { HostKeyChangedError } from './host-key-pins.ts';
import type { HostKeyPins } from './host-key-pins.ts';
import { NodeConnection } from './node-connection.ts';
import { collectExec, killTaggedScript, newExecTag, taggedCommand } from './remote-exec.ts';
import type { ExecOptions } from './remote-exec.ts';
import { uploadContent, uploadLocalFile } from './sftp-upload.ts';
import { SshCommandError, SshUnreachableError } from './ssh-errors.ts';
import type { ExecResult } from './ssh-errors.ts';
import { waitForSsh } from './wait-for-ssh.ts';
import type { WaitForSshOptions } from './wait-for-ssh.ts';

export type { ExecOptions } from './remote-exec.ts';
export type { WaitForSshOptions } from './wait-for-ssh.ts';
export type { ExecResult } from './ssh-errors.ts';
export { HostKeyChangedError, HostKeyPins } from './host-key-pins.ts';
export { SshCommandError, SshCommandInterruptedError, SshUnreachableError, SshUploadError } from './ssh-errors.ts';

export interface SshPoolOptions {
  privateKey: Buffer;
  hostKeys: HostKeyPins;
  resolve: (node: string) => SshEndpoint;
  /** Time for TCP connect + SSH handshake + login. VMs under TCG are slow: default 20 s. */
  connectTimeoutMs?: number;
  /**
   * Concurrent sessions per node; more wait for a free one. OpenSSH allows 10 (MaxSessions) but
   * frees a closed session a moment after reporting it closed, so the default 8 keeps two spare
   * (a refusal is retried anyway).
   */
  maxSessionsPerNode?: number;
  /** A silent connection is declared dead after three missed keepalives. Default 10 s. */
  keepaliveIntervalMs?: number;
}

export interface PtyOptions {
  cols: number;
  rows: number;
  term?: string;
}

export class SshPool {
  private readonly options: Required<SshPoolOptions>;
  private readonly connections = new Map<string, NodeConnection>();

  constructor(options: SshPoolOptions) {
    this.options = {
      ...options,
      connectTimeoutMs: options.connectTimeoutMs ?? 20_000,
      maxSessionsPerNode: options.maxSessionsPerNode ?? 8,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? 10_000,
    };
  }

  /** Retries until `true` runs on the node; throws SshUnreachableError with its console tail on timeout. */
  waitForSsh(node: string, options: WaitForSshOptions): Promise<void> {
    const probe = async (timeoutMs: number): Promise<void> => {
      await this.run(node, 'true', { timeoutMs, signal: options.signal });
    };
    return waitForSsh(this.connection(node), probe, { ...options, connectTimeoutMs: this.options.connectTimeoutMs });
  }

  /** Runs a command; resolves with its exit code and output whatever the code. */
  async exec(node: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const connection = this.connection(node);
    const release = await connection.slots.acquire(options.signal);
    try {
      const tag = options.timeoutMs || options.signal ? newExecTag() : undefined;
      const remote = taggedCommand(command, tag);
      const channel = await openSession(connection, `run \`${command.split('\n')[0]}\``, (client, done) => client.exec(remote, done));
      const kill = tag ? () => void this.killTagged(connection, tag) : undefined;
      return await collectExec(node, command, channel, options, kill);
    } finally {
      release();
    }
  }

  /** Like exec, but a non-zero exit throws SshCommandError with the command and its last output lines. */
  async run(node: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(node, command, options);
    if (result.code !== 0) throw new SshCommandError(node, command, result);
    return result;
  }

  /** Writes `content` to `remotePath` with exactly `mode`; parent directories are created unless `mkdirs: false`. */
  upload(node: string, content: Buffer | string, remotePath: string, mode: number, options: { mkdirs?: boolean } = {}): Promise<void> {
    const target = { node, remotePath, mode, mkdirs: options.mkdirs ?? true };
    return this.withSftp(node, (sftp) => uploadContent(sftp, target, content));
  }

  /** Streams a local file (tens of MB are fine) to `remotePath` with exactly `mode`. */
  uploadFile(node: string, localPath: string, remotePath: string, mode: number): Promise<void> {
    const target = { node, remotePath, mode, mkdirs: true };
    return this.withSftp(node, (sftp) => uploadLocalFile(sftp, target, localPath));
  }

  /**
   * An interactive login shell on a PTY. Resize with `channel.setWindow(rows, cols, 0, 0)`;
   * it holds one of the node's sessions until the channel closes.
   */
  async shell(node: string, pty: PtyOptions): Promise<ClientChannel> {
    const connection = this.connection(node);
    const release = await connection.slots.acquire();
    const window = { cols: pty.cols, rows: pty.rows, height: 0, width: 0, term: pty.term ?? 'xterm-256color' };
    try {
      const channel = await openSession(connection, 'open a shell', (client, done) => client.shell(window, done));
      channel.once('close', release);
      return channel;
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Closes one node's connection, or all of them. The next call on a node connects again. */
  close(node?: string): void {
    if (node !== undefined) this.connections.get(node)?.close();
    else for (const connection of this.connections.values()) connection.close();
  }

  /** How many SSH connections to a node were established so far (1 while reuse works). */
  connectionsOpened(node: string): number {
    return this.connections.get(node)?.connectionsOpened ?? 0;
  }

  isConnected(node: string): boolean {
    return this.connections.get(node)?.isConnected ?? false;
  }

  // Runs beside the stopped command without waiting for a session slot: the stopped command still
  // holds one, and if all are taken the server's refusal is retried by openChannel.
  private async killTagged(connection: NodeConnection, tag: string): Promise<void> {
    try {
      const channel = await openSession(connection, 'stop a command', (client, done) => client.exec(killTaggedScript(tag), done));
      await collectExec(connection.node, 'stop a timed-out command', channel, { timeoutMs: 30_000 });
    } catch {
      // Best effort: the caller already reports the command as stopped, and the channel is closed.
    }
  }

  private connection(node: string): NodeConnection {
    let connection = this.connections.get(node);
    if (!connection) {
      const { resolve, privateKey, hostKeys, connectTimeoutMs, maxSessionsPerNode, keepaliveIntervalMs } = this.options;
      connection = new NodeConnection({ node, resolve, privateKey, hostKeys, connectTimeoutMs, maxSessions: maxSessionsPerNode, keepaliveIntervalMs });
      this.connections.set(node, connection);
    }
    return connection;
  }

  // Uploads are idempotent (temporary file + rename), so one that lost its connection is simply redone.
  private async withSftp(node: string, use: (sftp: SFTPWrapper) => Promise<void>): Promise<void> {
    const connection = this.connection(node);
    try {
      await use(await connection.sftp());
    } catch (error) {
      if (connection.isConnected || error instanceof SshUnreachableError || error instanceof HostKeyChangedError) throw error;
      await use(await connection.sftp());
    }
  }
}

/** Opens a session channel; errors other than the SSH layer's own mean the server refused the session. */
async function openSession(
  connection: NodeConnection,
  what: string,
  start: (client: Client, done: (error: Error | undefined, channel: ClientChannel) => void) => void,
): Promise<ClientChannel> {
  try {
    return await connection.openChannel(
      (client) => new Promise<ClientChannel>((resolve, reject) => start(client, (error, channel) => (error ? reject(error) : resolve(channel)))),
    );
  } catch (error) {
    if (error instanceof SshUnreachableError || error instanceof HostKeyChangedError) throw error;
    throw new Error(
      `Could not ${what} on node ${connection.node}: ${(error as Error).message}\n` +
        "  what to do: the node's sshd refused a new session; check that it is not overloaded (or its MaxSessions).",
      { cause: error },
    );
  }
}
