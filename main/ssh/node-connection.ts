// One node's SSH connection: opened on first use, verified against the pinned host key, shared by
// every command, upload and shell on that node, and re-opened on the next use after it drops.

import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';
import type { Client as SshClient, SFTPWrapper } from 'ssh2';
import type { SshEndpoint } from '../providers/provider.ts';
import type { HostKeyPins } from './host-key-pins.ts';
import { SessionSlots } from './session-slots.ts';
import { SshUnreachableError } from './ssh-errors.ts';

const { Client } = ssh2;

/** About 4 s of retries in all. */
const SESSION_REFUSED_RETRIES = 12;

export interface NodeConnectionOptions {
  node: string;
  resolve: (node: string) => SshEndpoint;
  privateKey: Buffer;
  hostKeys: HostKeyPins;
  connectTimeoutMs: number;
  maxSessions: number;
  keepaliveIntervalMs: number;
}

export class NodeConnection {
  readonly node: string;
  /** Open sessions (commands, shells, the shared SFTP session) stay below the server's MaxSessions. */
  readonly slots: SessionSlots;
  /** How many SSH connections to this node were established so far; reuse keeps it at 1. */
  connectionsOpened = 0;
  private readonly options: NodeConnectionOptions;
  private client?: SshClient;
  private connecting?: Promise<SshClient>;
  private sftpSession?: Promise<SFTPWrapper>;
  /** Bumped by close(), so a connection still being opened at that moment is dropped, not kept. */
  private generation = 0;

  constructor(options: NodeConnectionOptions) {
    this.options = options;
    this.node = options.node;
    this.slots = new SessionSlots(options.maxSessions);
  }

  endpoint(): SshEndpoint {
    return this.options.resolve(this.node);
  }

  get isConnected(): boolean {
    return this.client !== undefined;
  }

  /** The live connection, opening one first when there is none (concurrent callers share the attempt). */
  connected(timeoutMs = this.options.connectTimeoutMs): Promise<SshClient> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open(timeoutMs).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * Opens a channel with `open`. Nothing has run on the node while a channel is not open, so two
   * failures are simply retried: a connection that died before the channel opened (reconnect once),
   * and the server refusing a session (sshd frees a closed session a moment after reporting it
   * closed, so a queued command can briefly exceed MaxSessions).
   */
  async openChannel<T>(open: (client: SshClient) => Promise<T>): Promise<T> {
    let reconnected = false;
    for (let refusals = 0; ; ) {
      const client = await this.connected();
      try {
        return await open(client);
      } catch (error) {
        if (this.client !== client && !reconnected) {
          reconnected = true;
        } else if (typeof (error as { reason?: unknown }).reason === 'number' && refusals < SESSION_REFUSED_RETRIES) {
          await sleep(Math.min(20 * 2 ** refusals++, 500));
        } else {
          throw error;
        }
      }
    }
  }

  /** One SFTP session per connection, shared by all uploads (SFTP multiplexes requests itself). */
  sftp(): Promise<SFTPWrapper> {
    if (!this.sftpSession) {
      const session = this.openSftp();
      this.sftpSession = session;
      const forget = (): void => {
        if (this.sftpSession === session) this.sftpSession = undefined;
      };
      session.then((sftp) => sftp.once('close', forget), forget);
    }
    return this.sftpSession;
  }

  close(): void {
    this.generation++;
    this.client?.end();
    this.client = undefined;
    this.sftpSession = undefined;
  }

  private async openSftp(): Promise<SFTPWrapper> {
    const release = await this.slots.acquire();
    try {
      const sftp = await this.openChannel(
        (client) => new Promise<SFTPWrapper>((resolve, reject) => client.sftp((err, s) => (err ? reject(err) : resolve(s)))),
      );
      sftp.once('close', release);
      return sftp;
    } catch (error) {
      release();
      throw error;
    }
  }

  private open(timeoutMs: number): Promise<SshClient> {
    const { node, privateKey, hostKeys, keepaliveIntervalMs } = this.options;
    const endpoint = this.endpoint();
    const client = new Client();
    const generation = this.generation;
    let hostKeyError: Error | undefined;

    return new Promise<SshClient>((resolve, reject) => {
      let settled = false;
      const fail = (reason: string, cause?: unknown): void => {
        if (settled) return;
        settled = true;
        client.end();
        reject(hostKeyError ?? unreachable(node, endpoint, reason, cause));
      };
      client.on('ready', () => {
        if (generation !== this.generation) return fail('the connection was closed while it was being opened');
        settled = true;
        this.client = client;
        this.connectionsOpened++;
        client.setNoDelay(true);
        resolve(client);
      });
      client.on('error', (error: Error & { level?: string }) => {
        // After `ready`, errors (e.g. keepalive timeouts) are followed by `close`, which drops the client.
        fail(describeConnectError(error, timeoutMs), error);
      });
      client.on('close', () => {
        if (this.client === client) {
          this.client = undefined;
          this.sftpSession = undefined;
        }
        fail('the connection closed during the SSH handshake');
      });
      try {
        client.connect({
          host: endpoint.host,
          port: endpoint.port,
          username: endpoint.user,
          privateKey,
          readyTimeout: timeoutMs,
          keepaliveInterval: keepaliveIntervalMs,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            try {
              hostKeys.verify(node, `${endpoint.host}:${endpoint.port}`, key);
              return true;
            } catch (error) {
              hostKeyError = error as Error;
              return false;
            }
          },
        });
      } catch (error) {
        fail((error as Error).message, error);
      }
    });
  }
}

function unreachable(node: string, endpoint: SshEndpoint, reason: string, cause: unknown): SshUnreachableError {
  const level = (cause as { level?: string } | undefined)?.level;
  const hint =
    level === 'client-authentication'
      ? `the node does not accept the lab's SSH key for ${endpoint.user}: its authorized_keys must hold ssh/id_ed25519.pub of this lab (was the VM built by another lab?).`
      : undefined;
  return new SshUnreachableError(node, endpoint, { reason, hint, cause });
}

function describeConnectError(error: Error & { level?: string; code?: string }, timeoutMs: number): string {
  if (error.code === 'ECONNREFUSED') return 'connection refused (nothing listens on that port yet)';
  if (error.code === 'ECONNRESET') return 'connection reset by the other side (sshd not ready yet?)';
  if (error.level === 'client-timeout') return `no SSH handshake within ${Math.round(timeoutMs / 1000)} s`;
  if (error.level === 'client-authentication') return `login refused (${error.message})`;
  return error.message;
}
