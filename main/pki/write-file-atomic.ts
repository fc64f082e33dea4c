// Crash-safe writes for keys and certificates: write a temporary file beside the target, flush
// it, then rename it over the target. A crash leaves either the old file or the new one, never
// half a key; leftovers are temporary files that `removeStaleTempFiles` clears.

import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

const TEMP_MARKER = '.tmp-';

export function writeFileAtomic(path: string, content: string, mode: number): void {
  const temp = join(dirname(path), `.${basename(path)}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`);
  // Created with its final mode, so a private key is never readable by others, not even briefly.
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  // The umask may have narrowed the mode at creation; set it exactly.
  chmodSync(temp, mode);
  renameSync(temp, path);
  syncDirectory(dirname(path));
}

/** Creates the directory if needed and gives it exactly this mode (also when it already existed). */
export function ensureDirectory(path: string, mode: number): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
}

/** Removes temporary files a crashed run left behind in `dir`. */
export function removeStaleTempFiles(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.') && name.includes(TEMP_MARKER)) rmSync(join(dir, name), { force: true });
  }
}

// The rename is durable only once the directory entry is flushed too.
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems (and Windows) refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
