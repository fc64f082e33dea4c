// Resolves which lab directory and which spec a command works on, the same way for every face
// (CLI, browser mode, desktop app): --spec FILE, else the lab's own hardway-lab.yaml, else the
// embedded default. The lab directory is --lab DIR, else $HARDWAY_LAB_DIR, else the user data dir.

import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { defaultLabDir, labPaths, type LabPaths } from '../lab/lab-dir.ts';
import { defaultSpecText, parseSpec, type SpecIssue } from '../spec/parse-spec.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import { buildPlan, type Plan } from '../plan/address-plan.ts';

export interface LabContext {
  paths: LabPaths;
  spec: ClusterSpec;
  /** The YAML text the spec came from, so it can be saved into the lab unchanged. */
  specText: string;
  specSource: string;
  warnings: SpecIssue[];
  plan: Plan;
}

export interface LabContextOptions {
  lab?: string;
  spec?: string;
  env?: NodeJS.ProcessEnv;
  hostMemoryMiB?: number;
}

export function loadLabContext(options: LabContextOptions = {}): LabContext {
  const env = options.env ?? process.env;
  let specText: string | undefined;
  let specSource: string | undefined;
  if (options.spec) {
    specSource = resolve(options.spec);
    specText = readSpecFile(specSource);
  }
  const labRoot = options.lab ?? (env.HARDWAY_LAB_DIR || defaultLabDir(specText ? labNameOf(specText) : 'hardway', env));
  const paths = labPaths(labRoot);
  if (specText === undefined && existsSync(paths.spec)) {
    specSource = paths.spec;
    specText = readSpecFile(paths.spec);
  }
  if (specText === undefined) {
    specSource = 'embedded default spec';
    specText = defaultSpecText();
  }
  const hostMemoryMiB = options.hostMemoryMiB ?? Math.floor(totalmem() / 1024 / 1024);
  const { spec, warnings } = parseSpec(specText, specSource, { hostMemoryMiB });
  return { paths, spec, specText, specSource: specSource!, warnings, plan: buildPlan(spec) };
}

function readSpecFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the spec ${path}: ${(error as Error).message}`, 'check the path, or run `hardway-lab init` to write a default spec.');
  }
}

/** The lab name, read leniently before validation, only to pick the default lab directory. */
function labNameOf(text: string): string {
  try {
    const raw = parse(text) as { name?: unknown } | null;
    return typeof raw?.name === 'string' && /^[a-z0-9-]{1,40}$/.test(raw.name) ? raw.name : 'hardway';
  } catch {
    return 'hardway';
  }
}

/** Bad input from the user: exit code 2 with the message and a hint on stderr. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}
