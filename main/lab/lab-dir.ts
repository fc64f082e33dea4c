// Where a lab keeps its state on the host. One directory per lab; nothing in it is ever deleted
// implicitly except by `destroy` (VM state) — PKI, secrets and the spec survive failures.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface LabPaths {
  root: string;
  spec: string;
  pki: string;
  nodes: string;
  kubeconfigs: string;
  secrets: string;
  vms: string;
  ssh: string;
  logs: string;
  state: string;
  /** Held by whatever changes the lab (up, a step, destroy, stop, start): one at a time, across processes. */
  lock: string;
}

/** The per-user data directory: XDG on Linux, Application Support on macOS, APPDATA on Windows. */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'hardway-lab');
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'hardway-lab');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'hardway-lab');
}

export function defaultLabDir(labName = 'hardway', env: NodeJS.ProcessEnv = process.env): string {
  return env.HARDWAY_LAB_DIR ? resolve(env.HARDWAY_LAB_DIR) : join(userDataDir(env), 'labs', labName);
}

export function labPaths(root: string): LabPaths {
  const dir = resolve(root);
  return {
    root: dir,
    spec: join(dir, 'hardway-lab.yaml'),
    pki: join(dir, 'pki'),
    nodes: join(dir, 'nodes'),
    kubeconfigs: join(dir, 'kubeconfigs'),
    secrets: join(dir, 'secrets'),
    vms: join(dir, 'vms'),
    ssh: join(dir, 'ssh'),
    logs: join(dir, 'logs'),
    state: join(dir, 'state.json'),
    lock: join(dir, 'engine.lock'),
  };
}

/** Where a node's rendered file lives in the lab: nodes/<node>/<absolute path on the node>. */
export function renderedFilePath(paths: LabPaths, node: string, nodePath: string): string {
  return join(paths.nodes, node, ...nodePath.split('/').filter(Boolean));
}
