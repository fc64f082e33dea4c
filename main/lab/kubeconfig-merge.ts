// The lab's admin kubeconfig in the user's own kubeconfig, like `minikube` and `kind` do it: one
// cluster, one user and one context, each named `hardway-<lab>`, added or updated in place; every
// other entry (and the file's comments and order) kept as it was; the current context switched
// only when asked; written atomically with mode 0600. And removed again, for a destroyed lab.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Document, isMap, isSeq, parseDocument, YAMLMap, YAMLSeq } from 'yaml';

const KINDS = [
  ['clusters', 'cluster'],
  ['users', 'user'],
  ['contexts', 'context'],
] as const;

/** The name of the lab's cluster, user and context in a merged kubeconfig. */
export function labKubeconfigName(labName: string): string {
  return `hardway-${labName}`;
}

/** Where kubectl reads its config: the first file of $KUBECONFIG, else ~/.kube/config. */
export function userKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((p) => p.trim() !== '');
  return first ?? join(homedir(), '.kube', 'config');
}

export class KubeconfigError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

function parse(text: string, what: string): Document.Parsed {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new KubeconfigError(`${what} is not valid YAML: ${doc.errors[0]!.message}`, 'fix or move the file aside, then run the command again.');
  if (doc.contents !== null && !isMap(doc.contents)) throw new KubeconfigError(`${what} is not a kubeconfig (its top level is not a mapping)`, 'fix or move the file aside, then run the command again.');
  return doc;
}

/** The one entry of `list` (clusters/users/contexts) in the lab's admin kubeconfig. */
function only(doc: Document.Parsed, list: string): YAMLMap {
  const seq = doc.get(list);
  if (!isSeq(seq) || seq.items.length !== 1 || !isMap(seq.items[0])) throw new KubeconfigError(`the lab's admin kubeconfig has no single entry in ${list}`, 'run `hardway-lab render` to write it again.');
  return seq.items[0] as YAMLMap;
}

/** The lab's admin kubeconfig with its cluster, user and context named `name`, standing on its own. */
export function renamedAdminKubeconfig(adminText: string, name: string): string {
  const admin = parse(adminText, "the lab's admin kubeconfig");
  const out = new Document({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [], 'current-context': name });
  for (const [list, key] of KINDS) {
    const body = only(admin, list).get(key, true);
    const entry = new YAMLMap();
    entry.set('name', name);
    entry.set(key, key === 'context' ? { cluster: name, user: name } : body);
    (out.get(list) as YAMLSeq).add(entry);
  }
  return out.toString();
}

export interface MergeResult {
  text: string;
  /** added (no such entries before), updated (they differed), unchanged. */
  outcome: 'added' | 'updated' | 'unchanged';
  /** The context kubectl uses after the merge. */
  currentContext?: string;
}

/** `target` (the user's kubeconfig, or undefined when it does not exist) with the lab's entries merged in. */
export function mergeKubeconfig(target: string | undefined, adminText: string, name: string, options: { use?: boolean } = {}): MergeResult {
  const lab = parse(renamedAdminKubeconfig(adminText, name), 'the lab kubeconfig');
  const doc = parse(target ?? '', 'the kubeconfig');
  if (doc.contents === null || doc.contents === undefined) {
    doc.contents = doc.createNode({ apiVersion: 'v1', kind: 'Config', preferences: {}, clusters: [], users: [], contexts: [], 'current-context': '' }) as never;
  }
  const before = doc.toString();
  let existed = false;
  for (const [list] of KINDS) {
    const entry = (lab.get(list) as YAMLSeq).items[0] as YAMLMap;
    let seq = doc.get(list);
    if (!isSeq(seq)) {
      seq = doc.createNode([]);
      doc.set(list, seq);
    }
    const items = (seq as YAMLSeq).items;
    const at = items.findIndex((item) => isMap(item) && item.get('name') === name);
    if (at >= 0) {
      existed = true;
      items[at] = doc.createNode(entry.toJSON());
    } else items.push(doc.createNode(entry.toJSON()));
  }
  if (options.use || !doc.get('current-context')) doc.set('current-context', name);
  const text = doc.toString();
  return { text, outcome: !existed ? 'added' : text === before ? 'unchanged' : 'updated', currentContext: String(doc.get('current-context') ?? '') || undefined };
}

/** `target` without the lab's entries; the current context is cleared if it was the lab's. */
export function removeFromKubeconfig(target: string, name: string): { text: string; removed: number } {
  const doc = parse(target, 'the kubeconfig');
  let removed = 0;
  for (const [list] of KINDS) {
    const seq = doc.get(list);
    if (!isSeq(seq)) continue;
    const keep = seq.items.filter((item) => !(isMap(item) && item.get('name') === name));
    removed += seq.items.length - keep.length;
    seq.items = keep;
  }
  if (doc.get('current-context') === name) doc.set('current-context', '');
  return { text: doc.toString(), removed };
}

/** Whether the kubeconfig at `path` has the lab's context. */
export function hasLabContext(path: string, name: string): boolean {
  if (!existsSync(path)) return false;
  try {
    const seq = parseDocument(readFileSync(path, 'utf8')).get('contexts');
    return isSeq(seq) && seq.items.some((item) => isMap(item) && item.get('name') === name);
  } catch {
    return false;
  }
}

/** Replaces `path` with `text` atomically (a temporary file in the same directory, then rename), mode 0600. */
export function writeKubeconfigAtomically(path: string, text: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = join(dir, `.${randomBytes(6).toString('hex')}.hardway-lab.tmp`);
  try {
    writeFileSync(temporary, text, { mode: 0o600, flag: 'wx' });
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * The lab's admin kubeconfig (at `adminPath`) merged into the user's kubeconfig as `hardway-<lab>`,
 * written only when something changed (or --use asked to switch): what `hardway-lab kubeconfig
 * --merge` and the app's "Merge into ~/.kube/config" both do. Throws KubeconfigError when the lab
 * has no admin kubeconfig yet or the user's file is not a kubeconfig.
 */
export function mergeLabKubeconfig(adminPath: string, labName: string, options: { use?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Omit<MergeResult, 'text'> & { target: string; name: string } {
  if (!existsSync(adminPath)) throw new KubeconfigError(`lab "${labName}" has no admin kubeconfig yet (${adminPath})`, 'run `hardway-lab render` (or `hardway-lab up`) first');
  const name = labKubeconfigName(labName);
  const target = userKubeconfigPath(env);
  const result = mergeKubeconfig(existsSync(target) ? readFileSync(target, 'utf8') : undefined, readFileSync(adminPath, 'utf8'), name, options);
  if (result.outcome !== 'unchanged' || options.use) writeKubeconfigAtomically(target, result.text);
  return { target, name, outcome: result.outcome, currentContext: result.currentContext };
}
