// Renders every planned file of every node into the lab directory (nodes/<node>/<path on node>),
// plus the files kept on the host side (kubeconfigs/admin.kubeconfig). Same plan and same PKI give
// the same bytes. Everything is rendered in memory first, and nodes/ is replaced as a whole, so a
// failure leaves the previous render intact and files of removed nodes do not linger.

import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Plan } from '../plan/address-plan.ts';
import { planHostFiles } from '../plan/file-plan.ts';
import { renderedFilePath, type LabPaths } from '../lab/lab-dir.ts';
import { ensureEncryptionKey, readPkiFile } from '../pki/ensure-pki.ts';
import { renderNodeFile, type RenderMaterial } from './render-node-file.ts';

export { renderTemplate, TemplateError } from './template.ts';
export { renderNodeFile, type RenderMaterial } from './render-node-file.ts';

export interface RenderedFile {
  /** The node the file lands on; null for host-side files. */
  node: string | null;
  /** Absolute path on the node, or the path relative to the lab root for host-side files. */
  path: string;
  /** Where the rendered file is in the lab directory. */
  labPath: string;
  mode: number;
}

export interface RenderResult {
  files: RenderedFile[];
}

export async function renderLab(plan: Plan, paths: LabPaths): Promise<RenderResult> {
  const material: RenderMaterial = {
    pki: (id, part) => readPkiFile(paths, id, part),
    encryptionKey: await ensureEncryptionKey(paths),
  };

  const staging = `${paths.nodes}.rendering`;
  const stagingPaths: LabPaths = { ...paths, nodes: staging };
  const nodeFiles: (RenderedFile & { content: string; stagedPath: string })[] = [];
  for (const node of plan.nodes) {
    for (const file of node.files) {
      nodeFiles.push({
        node: node.name,
        path: file.path,
        labPath: renderedFilePath(paths, node.name, file.path),
        stagedPath: renderedFilePath(stagingPaths, node.name, file.path),
        mode: file.mode,
        content: renderNodeFile(plan, node, file, material),
      });
    }
  }
  const hostFiles = planHostFiles().map((file) => ({
    node: null,
    path: file.path,
    labPath: join(paths.root, file.path),
    mode: file.mode,
    content: renderNodeFile(plan, null, file, material),
  }));

  rmSync(staging, { recursive: true, force: true });
  // Private keys and kubeconfigs live below nodes/: keep the tree private to the user.
  mkdirSync(staging, { recursive: true, mode: 0o700 });
  for (const file of nodeFiles) writeWithMode(file.stagedPath, file.content, file.mode);
  rmSync(paths.nodes, { recursive: true, force: true });
  renameSync(staging, paths.nodes);

  for (const file of hostFiles) {
    const temporary = `${file.labPath}.rendering`;
    writeWithMode(temporary, file.content, file.mode);
    renameSync(temporary, file.labPath);
  }

  return {
    files: [...nodeFiles, ...hostFiles].map(({ node, path, labPath, mode }) => ({ node, path, labPath, mode })),
  };
}

function writeWithMode(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  rmSync(path, { force: true });
  // Created with the final mode so a secret is never readable by others, even briefly; chmod
  // afterwards because the umask may have removed bits (e.g. the executable bit).
  writeFileSync(path, content, { mode: mode & 0o600 });
  chmodSync(path, mode);
}
