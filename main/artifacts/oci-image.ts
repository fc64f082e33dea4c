// Container images without a registry or a container engine: a root filesystem made here is
// written as one OCI image layout in a tar archive, which `ctr -n k8s.io images import` takes.
//
//   oci-layout                     {"imageLayoutVersion": "1.0.0"}
//   index.json                     one manifest, annotated io.containerd.image.name = the full reference
//   blobs/sha256/<layer>           an uncompressed tar of the root filesystem
//   blobs/sha256/<config>          os/architecture (must match the node, or the import filters it
//                                  out), entrypoint, and rootfs.diff_ids = the layer's sha256
//   blobs/sha256/<manifest>
//
// Every timestamp is fixed and entries are sorted, so the same files give the same archive, byte
// for byte (a second build changes nothing, and the workers import nothing new).

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';

export type RootfsEntry =
  | { path: string; type: 'file'; content: Buffer; mode?: number }
  | { path: string; type: 'directory'; mode?: number }
  | { path: string; type: 'symlink'; target: string };

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  env?: string[];
  workingDir?: string;
  exposedPorts?: string[];
  labels?: Record<string, string>;
}

export interface OciImageSpec {
  /** The full reference, e.g. hardway-lab.local/pause:v1.36.3. */
  reference: string;
  files: RootfsEntry[];
  config: ImageConfig;
  architecture?: string;
  /** Written into the config's `created` and every tar header (default: the epoch). */
  created?: Date;
  /** What made this image, for `history`. */
  createdBy: string;
}

export interface WrittenImage {
  reference: string;
  archive: string;
  manifestDigest: string;
  layerDigest: string;
  layerBytes: number;
}

const EPOCH = new Date(0);

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Parent directories first, then everything sorted by path, so the tar is deterministic. */
export function normaliseEntries(files: readonly RootfsEntry[]): RootfsEntry[] {
  const byPath = new Map<string, RootfsEntry>();
  for (const entry of files) {
    const path = entry.path.replace(/^\/+/, '').replace(/\/+$/, '');
    if (!path || path.split('/').includes('..')) throw new Error(`image entry path ${JSON.stringify(entry.path)} is not a path inside the image`);
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!byPath.has(dir)) byPath.set(dir, { path: dir, type: 'directory', mode: 0o755 });
      else if (byPath.get(dir)!.type !== 'directory') throw new Error(`image entry ${path} is below ${dir}, which is not a directory`);
    }
    byPath.set(path, { ...entry, path } as RootfsEntry);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The uncompressed layer tar of a root filesystem. */
export async function layerTar(files: readonly RootfsEntry[], mtime = EPOCH): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(Buffer.from(chunk as Uint8Array));
  })();
  for (const entry of normaliseEntries(files)) {
    const common = { uid: 0, gid: 0, uname: 'root', gname: 'root', mtime };
    if (entry.type === 'file') await add(tar, { ...common, name: entry.path, type: 'file', mode: entry.mode ?? 0o644, size: entry.content.length }, entry.content);
    else if (entry.type === 'directory') await add(tar, { ...common, name: `${entry.path}/`, type: 'directory', mode: entry.mode ?? 0o755 });
    else await add(tar, { ...common, name: entry.path, type: 'symlink', linkname: entry.target, mode: 0o777 });
  }
  tar.finalize();
  await collected;
  return Buffer.concat(chunks);
}

function add(tar: ReturnType<typeof pack>, header: Parameters<ReturnType<typeof pack>['entry']>[0], content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const callback = (error?: Error | null) => (error ? reject(error) : resolve());
    if (content) tar.entry(header, content, callback);
    else tar.entry(header, callback);
  });
}

/** Splits `registry/name:tag` into the tag (for org.opencontainers.image.ref.name). */
export function referenceTag(reference: string): string {
  const last = reference.slice(reference.lastIndexOf('/') + 1);
  return last.includes(':') ? last.slice(last.indexOf(':') + 1) : 'latest';
}

/** Writes the image as an OCI layout tar at `archive` (atomically: temp file, then rename). */
export async function writeOciImage(spec: OciImageSpec, archive: string): Promise<WrittenImage> {
  const created = spec.created ?? EPOCH;
  const architecture = spec.architecture ?? 'amd64';
  const layer = await layerTar(spec.files, created);
  const layerDigest = sha256(layer);
  const c = spec.config;
  const config = {
    created: created.toISOString(),
    architecture,
    os: 'linux',
    config: {
      ...(c.user ? { User: c.user } : {}),
      ...(c.exposedPorts?.length ? { ExposedPorts: Object.fromEntries(c.exposedPorts.map((p) => [p, {}])) } : {}),
      Env: c.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(c.entrypoint ? { Entrypoint: c.entrypoint } : {}),
      ...(c.cmd ? { Cmd: c.cmd } : {}),
      ...(c.workingDir ? { WorkingDir: c.workingDir } : {}),
      ...(c.labels ? { Labels: c.labels } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [layerDigest] },
    history: [{ created: created.toISOString(), created_by: spec.createdBy }],
  };
  const configJson = Buffer.from(JSON.stringify(config));
  const configDigest = sha256(configJson);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configJson.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = sha256(manifest);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
          platform: { architecture, os: 'linux' },
          annotations: { 'io.containerd.image.name': spec.reference, 'org.opencontainers.image.ref.name': referenceTag(spec.reference) },
        },
      ],
    }),
  );

  const outer = pack();
  const blob = (digest: string) => `blobs/sha256/${digest.slice('sha256:'.length)}`;
  await mkdir(dirname(archive), { recursive: true });
  const temporary = `${archive}.writing`;
  const written = pipeline(outer, createWriteStream(temporary, { mode: 0o644 }));
  const common = { uid: 0, gid: 0, mtime: created, mode: 0o644, type: 'file' as const };
  for (const [name, content] of [
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', index],
    [blob(configDigest), configJson],
    [blob(layerDigest), layer],
    [blob(manifestDigest), manifest],
  ] as const) {
    await add(outer, { ...common, name, size: content.length }, content);
  }
  outer.finalize();
  try {
    await written;
    await rename(temporary, archive);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return { reference: spec.reference, archive, manifestDigest, layerDigest, layerBytes: layer.length };
}
