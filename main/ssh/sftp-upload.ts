// Places files on a node over SFTP: written under a temporary name, chmod-ed to the exact mode
// (the server's umask would otherwise apply), then renamed over the target. The rename makes
// the switch atomic and also replaces binaries that are running ("Text file busy" otherwise).

import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { SshUploadError } from './ssh-errors.ts';

const DIRECTORY_MODE = 0o755;

function sftpCall<T = void>(start: (done: (error: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      start((error, value) => (error ? reject(error) : resolve(value as T)));
    } catch (error) {
      reject(error);
    }
  });
}

async function statOrUndefined(sftp: SFTPWrapper, path: string): Promise<Stats | undefined> {
  try {
    return await sftpCall<Stats>((done) => sftp.stat(path, done));
  } catch {
    return undefined;
  }
}

/** `mkdir -p` over SFTP; new directories get mode 0755. */
export async function makeRemoteDirectories(sftp: SFTPWrapper, directory: string): Promise<void> {
  if ((await statOrUndefined(sftp, directory))?.isDirectory()) return;
  let current = directory.startsWith('/') ? '/' : '';
  for (const part of directory.split('/').filter(Boolean)) {
    current = posix.join(current, part);
    try {
      await sftpCall((done) => sftp.mkdir(current, { mode: DIRECTORY_MODE }, done));
    } catch (error) {
      // Already there (or created concurrently) is fine; anything else is not.
      if (!(await statOrUndefined(sftp, current))?.isDirectory()) throw error;
    }
  }
}

export interface UploadTarget {
  node: string;
  remotePath: string;
  mode: number;
  mkdirs: boolean;
}

/** Writes `content` to the node; `write` puts the bytes into the temporary path it is given. */
async function placeAtomically(sftp: SFTPWrapper, target: UploadTarget, write: (temporaryPath: string) => Promise<void>): Promise<void> {
  const { node, remotePath, mode } = target;
  if (!remotePath.startsWith('/')) throw new SshUploadError(node, remotePath, 'checking the path', new Error('the remote path must be absolute'));
  const temporaryPath = `${remotePath}.hardway-upload-${randomBytes(4).toString('hex')}`;
  let step = 'creating parent directories';
  try {
    if (target.mkdirs) await makeRemoteDirectories(sftp, posix.dirname(remotePath));
    step = 'writing the content';
    await write(temporaryPath);
    step = `setting mode ${mode.toString(8)}`;
    await sftpCall((done) => sftp.chmod(temporaryPath, mode, done));
    step = 'moving it into place';
    await sftpCall((done) => sftp.ext_openssh_rename(temporaryPath, remotePath, done));
  } catch (error) {
    await sftpCall((done) => sftp.unlink(temporaryPath, done)).catch(() => undefined);
    throw new SshUploadError(node, remotePath, step, error);
  }
}

export function uploadContent(sftp: SFTPWrapper, target: UploadTarget, content: Buffer | string): Promise<void> {
  return placeAtomically(sftp, target, (temporaryPath) =>
    sftpCall((done) => sftp.writeFile(temporaryPath, content, { mode: 0o600 }, done)),
  );
}

/** Streams a local file in parallel 32 KiB chunks; it is never held in memory whole. */
export function uploadLocalFile(sftp: SFTPWrapper, target: UploadTarget, localPath: string): Promise<void> {
  return placeAtomically(sftp, target, (temporaryPath) =>
    sftpCall((done) => sftp.fastPut(localPath, temporaryPath, { concurrency: 64, chunkSize: 32768, mode: 0o600 }, done)),
  );
}
