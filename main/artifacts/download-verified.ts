// Downloads one release file and proves it is the published one: the SHA-256 is computed while
// the bytes stream to disk and compared with the project's checksum file before the file gets its
// final name. A mismatch deletes the download and says so; nothing unverified is ever used.

import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { expectedChecksum, type ReleaseFile } from './release-catalog.ts';

export interface DownloadProgress {
  url: string;
  fileName: string;
  receivedBytes: number;
  totalBytes?: number;
  /** 0..1 when the server sent a length. */
  fraction?: number;
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
}

export class ChecksumMismatchError extends Error {
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly actual: string,
    readonly checksumUrl: string,
  ) {
    super(
      `checksum mismatch for ${url}\n  expected (from ${checksumUrl}): ${expected}\n  downloaded file:  ${actual}\n` +
        '  what to do: the download was deleted. Retry; if it happens again, something between you and the server ' +
        'alters files (a proxy?) — download on another network and use --artifacts DIR.',
    );
    this.name = 'ChecksumMismatchError';
  }
}

export class DownloadError extends Error {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(
      `could not download ${url}: ${reason}\n  what to do: check the network and that the version exists upstream; ` +
        'without internet, prepare an artifacts directory and pass --artifacts DIR (or set HARDWAY_ARTIFACTS_DIR).',
    );
    this.name = 'DownloadError';
  }
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function fetchOk(url: string, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: 'follow' });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new DownloadError(url, cause?.code ?? cause?.message ?? (error as Error).message);
  }
  if (!response.ok) throw new DownloadError(url, `HTTP ${response.status} ${response.statusText}`);
  return response;
}

/** The expected hash of a release file, read from its published checksum file. */
export async function fetchExpectedChecksum(file: ReleaseFile, signal?: AbortSignal): Promise<string> {
  const response = await fetchOk(file.checksumUrl, signal);
  return expectedChecksum(await response.text(), file.fileName, file.checksumUrl);
}

export interface VerifiedDownload {
  path: string;
  sha256: string;
  /** True when a verified copy was already on disk and nothing was fetched. */
  reused: boolean;
}

/** Downloads `file` to `destination` (verified), or keeps the copy already there when it matches. */
export async function downloadVerified(file: ReleaseFile, destination: string, options: DownloadOptions = {}): Promise<VerifiedDownload> {
  const expected = await fetchExpectedChecksum(file, options.signal);
  if (await exists(destination)) {
    const onDisk = await sha256OfFile(destination);
    if (onDisk === expected) return { path: destination, sha256: expected, reused: true };
  }

  await mkdir(dirname(destination), { recursive: true });
  const partial = `${destination}.partial`;
  const response = await fetchOk(file.url, options.signal);
  if (!response.body) throw new DownloadError(file.url, 'the server sent no body');
  const length = Number(response.headers.get('content-length'));
  const totalBytes = Number.isFinite(length) && length > 0 ? length : undefined;
  const hash = createHash('sha256');
  let receivedBytes = 0;
  let lastReport = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      receivedBytes += chunk.length;
      const now = Date.now();
      if (now - lastReport > 200 || receivedBytes === totalBytes) {
        lastReport = now;
        options.onProgress?.({
          url: file.url,
          fileName: file.fileName,
          receivedBytes,
          totalBytes,
          fraction: totalBytes ? receivedBytes / totalBytes : undefined,
        });
      }
      done(null, chunk);
    },
  });

  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), meter, createWriteStream(partial, { mode: 0o644 }), {
      signal: options.signal,
    });
  } catch (error) {
    await rm(partial, { force: true });
    if (options.signal?.aborted) throw options.signal.reason;
    throw new DownloadError(file.url, `the transfer broke off after ${receivedBytes} bytes: ${(error as Error).message}`);
  }
  if (totalBytes !== undefined && receivedBytes !== totalBytes) {
    await rm(partial, { force: true });
    throw new DownloadError(file.url, `received ${receivedBytes} of ${totalBytes} bytes`);
  }
  const actual = hash.digest('hex');
  if (actual !== expected) {
    await rm(partial, { force: true });
    throw new ChecksumMismatchError(file.url, expected, actual, file.checksumUrl);
  }
  await rename(partial, destination);
  options.onProgress?.({ url: file.url, fileName: file.fileName, receivedBytes, totalBytes, fraction: 1 });
  return { path: destination, sha256: actual, reused: false };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
