// What the engine needs from the SSH layer. SshPool (main/ssh/ssh-pool.ts) is the implementation;
// the engine depends on this shape only, so it can be driven by any pool with the same methods.

import type { ExecOptions, ExecResult, WaitForSshOptions } from '../ssh/ssh-pool.ts';

export type { ExecOptions, ExecResult, WaitForSshOptions };

export interface NodeExecutor {
  exec(node: string, command: string, options?: ExecOptions): Promise<ExecResult>;
  upload(node: string, content: Buffer | string, remotePath: string, mode: number): Promise<void>;
  uploadFile(node: string, localPath: string, remotePath: string, mode: number): Promise<void>;
  waitForSsh(node: string, options: WaitForSshOptions): Promise<void>;
  /** Drops the node's connection; the next call connects afresh. */
  close?(node?: string): void;
}
