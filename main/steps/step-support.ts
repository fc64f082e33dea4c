// What several steps share: copying the planned files of a node (from the rendered lab), installing
// binaries, bringing systemd units to the wanted state, and the commands shown for copying files.

import type { PlannedNode } from '../plan/address-plan.ts';
import type { FileOrigin, PlannedFile } from '../plan/file-plan.ts';
import { renderedFilePath, type LabPaths } from '../lab/lab-dir.ts';
import type { StepCommand } from '../shared/engine-types.ts';
import type { NodeSession, SyncFile } from '../engine/node-session.ts';
import { shellJoin } from '../engine/shell.ts';
import { HOST, type CommandEnv } from '../engine/step-definition.ts';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Probe } from '../shared/engine-types.ts';
import { probe } from '../checkers/probe.ts';

export type OriginFilter = (file: PlannedFile) => boolean;

export const byOrigin =
  (kind: FileOrigin['kind']): OriginFilter =>
  (file) =>
    file.origin.kind === kind;

export const byTemplate =
  (...templates: string[]): OriginFilter =>
  (file) =>
    file.origin.kind === 'template' && templates.includes(file.origin.template);

export function plannedFiles(node: PlannedNode, filter: OriginFilter): PlannedFile[] {
  return node.files.filter(filter);
}

/** The node's planned files as sync jobs from the rendered lab directory. */
export function syncJobs(paths: LabPaths, node: PlannedNode, filter: OriginFilter): SyncFile[] {
  return plannedFiles(node, filter).map((file) => ({ local: renderedFilePath(paths, node.name, file.path), remote: file.path, mode: file.mode }));
}

export interface ServiceWish {
  unit: string;
  /** Restart even when active: its binary, unit file or configuration changed. */
  restart: boolean;
}

/**
 * Enables the units and makes them active: started when inactive, restarted when their files
 * changed, left alone otherwise (so a finished step re-run restarts nothing).
 */
export async function ensureServices(session: NodeSession, wishes: readonly ServiceWish[], options: { daemonReload: boolean; timeoutMs?: number }): Promise<void> {
  const args = [...(options.daemonReload ? ['--daemon-reload'] : []), ...wishes.map((w) => (w.restart ? `${w.unit}:restart` : w.unit))];
  await session.runScript('steps/ensure-services.sh', args, {
    timeoutMs: options.timeoutMs,
    hint: `look at \`systemctl status ${wishes.map((w) => w.unit).join(' ')}\` and \`journalctl -u ${wishes[0]?.unit ?? 'UNIT'} -n 50\` on ${session.name}`,
  });
}

/** True when any of `changed` is one of `paths` (or below one of them, for directories ending in /). */
export function touches(changed: readonly string[], paths: readonly string[]): boolean {
  return changed.some((c) => paths.some((p) => (p.endsWith('/') ? c.startsWith(p) : c === p)));
}

/** `scp` commands (typed on the host) that copy a node's planned files, as the hard way does. */
export function copyCommands(env: CommandEnv, node: PlannedNode, filter: OriginFilter): StepCommand[] {
  const files = plannedFiles(node, filter);
  const key = `${env.paths.ssh}/id_ed25519`;
  const commands: StepCommand[] = [];
  const dirs = [...new Set(files.map((f) => f.path.slice(0, f.path.lastIndexOf('/')) || '/'))];
  if (dirs.length > 0) {
    commands.push({ node: node.name, command: `mkdir -p ${shellJoin(dirs)}`, description: 'create the target directories' });
  }
  for (const file of files) {
    commands.push({
      node: HOST,
      command: `scp -i ${key} ${shellJoin([renderedFilePath(env.paths, node.name, file.path)])} root@${node.ip}:${file.path}`,
      description: `copy ${file.path} to ${node.name}`,
    });
  }
  const byMode = new Map<number, string[]>();
  for (const file of files) byMode.set(file.mode, [...(byMode.get(file.mode) ?? []), file.path]);
  for (const [mode, paths] of byMode) {
    commands.push({ node: node.name, command: `chmod ${mode.toString(8)} ${shellJoin(paths)}`, description: mode === 0o600 ? 'private: readable by root only' : undefined });
  }
  return commands;
}

/** Binary installs: local artifact → /usr/local/bin (or another directory) with mode 0755. */
export function binaryJobs(pairs: readonly { local: string; remote: string }[]): SyncFile[] {
  return pairs.map((p) => ({ local: p.local, remote: p.remote, mode: 0o755 }));
}

/**
 * One probe per planned file of the node: identical to the file the lab rendered (sha256 and
 * mode). A unit or config edited on the node, or one the lab changed since, fails here, so `up`
 * resumes at the step that installs it.
 */
export async function plannedFileProbes(paths: LabPaths, session: NodeSession, filter: OriginFilter, rerun: string): Promise<Probe[]> {
  const files = plannedFiles(session.node, filter);
  const facts = await session.fileFacts(files.map((f) => f.path));
  return files.map((file) => {
    const fact = facts.get(file.path);
    const wanted = createHash('sha256').update(readFileSync(renderedFilePath(paths, session.name, file.path))).digest('hex');
    const ok = fact?.sha256 === wanted && fact.mode === file.mode;
    return probe({
      name: `${file.path} as planned`,
      node: session.name,
      ok,
      expected: `identical to the lab's file, mode ${file.mode.toString(8)}`,
      seen: !fact ? 'missing' : fact.sha256 !== wanted ? 'differs from the lab\'s file' : fact.mode !== file.mode ? `mode ${fact.mode.toString(8)}` : 'identical',
      hint: `${file.path} on ${session.name} is not the lab's (edited by hand, or the lab's changed since): ${rerun} puts it back and restarts what uses it`,
    });
  });
}
