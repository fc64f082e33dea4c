// Turns hardway-lab.yaml (or the embedded default) into a resolved, validated ClusterSpec.
// Every problem is reported with where it is, what is wrong and how to fix it, before anything is
// created on disk or on the host.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import {
  ARTIFACT_SOURCES,
  type ClusterSpec,
  KEY_ALGORITHMS,
  PRESETS,
  PROVIDERS,
  type PresetName,
  ROLES,
  type Role,
  type RoleSpec,
  presetSpec,
  SNAPSHOT_SETTINGS,
} from './cluster-spec.ts';
import { cidrSize, cidrsOverlap, parseCidr, type Cidr } from '../plan/ipv4.ts';
import { NODE_OFFSET, nodeNamesFor } from '../plan/address-plan.ts';

export interface SpecIssue {
  severity: 'error' | 'warning';
  /** Dotted path of the offending key, e.g. `nodes.controller.count`. */
  path: string;
  message: string;
  hint: string;
}

export class SpecError extends Error {
  constructor(
    readonly issues: SpecIssue[],
    readonly source: string,
  ) {
    super(
      `${source}: the cluster spec has ${issues.filter((i) => i.severity === 'error').length} problem(s):\n` +
        issues.map(formatIssue).join('\n'),
    );
    this.name = 'SpecError';
  }
}

export function formatIssue(issue: SpecIssue): string {
  const label = issue.severity === 'error' ? 'error' : 'warning';
  return `  ${label}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}\n    fix: ${issue.hint}`;
}

export interface ValidationContext {
  /** Memory the host can give to VMs, in MiB. Left out, the memory check is skipped. */
  hostMemoryMiB?: number;
}

export interface ParsedSpec {
  spec: ClusterSpec;
  warnings: SpecIssue[];
}

export const DEFAULT_SPEC_PATH = fileURLToPath(new URL('./default-hardway-lab.yaml', import.meta.url));

export function defaultSpecText(): string {
  return readFileSync(DEFAULT_SPEC_PATH, 'utf8');
}

/** Parses and validates spec YAML; throws SpecError listing every error (and the warnings). */
export function parseSpec(text: string, source = 'hardway-lab.yaml', context: ValidationContext = {}): ParsedSpec {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new SpecError(
      doc.errors.map((e) => ({
        severity: 'error',
        path: '',
        message: `not valid YAML: ${e.message.split('\n')[0]}`,
        hint: 'fix the YAML syntax at the line shown (indentation uses spaces; `key: value`).',
      })),
      source,
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const issues: SpecIssue[] = [];
  const spec = resolveSpec(raw, issues);
  if (spec) issues.push(...validateSpec(spec, context));
  if (issues.some((i) => i.severity === 'error') || !spec) throw new SpecError(issues, source);
  return { spec, warnings: issues };
}

// ---------------------------------------------------------------------------------------------
// Shape: known keys and their types. Unknown keys are errors (they are almost always typos).

type Shape = { [key: string]: 'string' | 'number' | 'boolean' | 'string[]' | Shape };

const ROLE_SHAPE: Shape = { count: 'number', cpus: 'number', memoryMiB: 'number', diskGiB: 'number', names: 'string[]' };

const SPEC_SHAPE: Shape = {
  name: 'string',
  preset: 'string',
  provider: 'string',
  image: { source: 'string', path: 'string', kernel: 'string', initrd: 'string', box: 'string' },
  nodes: { lb: ROLE_SHAPE, controller: ROLE_SHAPE, worker: ROLE_SHAPE },
  network: { nodeSubnet: 'string', podCidr: 'string', serviceCidr: 'string', clusterDomain: 'string', nat: 'boolean', dns: 'string[]' },
  versions: {
    kubernetes: 'string',
    etcd: 'string',
    containerd: 'string',
    runc: 'string',
    cniPlugins: 'string',
    coredns: 'string',
    crictl: 'string',
  },
  artifacts: { source: 'string', dir: 'string' },
  snapshots: { afterEachStep: 'string' },
  pki: { keyAlgorithm: 'string' },
};

function checkShape(value: unknown, shape: Shape, path: string, issues: SpecIssue[]): boolean {
  if (!isRecord(value)) {
    issues.push({
      severity: 'error',
      path,
      message: `expected a mapping of keys, found ${describe(value)}`,
      hint: `write ${path || 'the spec'} as \`key: value\` lines.`,
    });
    return false;
  }
  let ok = true;
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    const expected = shape[key];
    if (expected === undefined) {
      const suggestion = closestKey(key, Object.keys(shape));
      issues.push({
        severity: 'error',
        path: childPath,
        message: `unknown key "${key}"`,
        hint: suggestion
          ? `did you mean "${suggestion}"? Known keys here: ${Object.keys(shape).join(', ')}.`
          : `remove it; known keys here: ${Object.keys(shape).join(', ')}.`,
      });
      ok = false;
    } else if (typeof expected === 'object') {
      ok = checkShape(child, expected, childPath, issues) && ok;
    } else if (!matchesType(child, expected)) {
      issues.push({
        severity: 'error',
        path: childPath,
        message: `expected ${expected === 'string[]' ? 'a list of strings' : `a ${expected}`}, found ${describe(child)}`,
        hint:
          expected === 'number'
            ? `write a plain number, e.g. \`${key}: 2\`.`
            : expected === 'boolean'
              ? `write true or false, e.g. \`${key}: true\`.`
            : expected === 'string[]'
              ? `write a list, e.g. \`${key}: [a, b]\`.`
                : `write a text value, e.g. \`${key}: "value"\`.`,
      });
      ok = false;
    }
  }
  return ok;
}

function matchesType(value: unknown, type: 'string' | 'number' | 'boolean' | 'string[]'): boolean {
  if (type === 'string') return typeof value === 'string';
  if (type === 'boolean') return typeof value === 'boolean';
  if (type === 'number') return typeof value === 'number' && Number.isFinite(value);
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function closestKey(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Resolution: preset defaults overlaid with what the user wrote.

function resolveSpec(raw: unknown, issues: SpecIssue[]): ClusterSpec | undefined {
  if (!checkShape(raw, SPEC_SHAPE, '', issues)) return undefined;
  const user = raw as Record<string, any>;
  const preset: PresetName = user.preset ?? 'ha';
  if (!(PRESETS as readonly string[]).includes(preset)) {
    issues.push({
      severity: 'error',
      path: 'preset',
      message: `unknown preset "${preset}"`,
      hint: `use one of: ${PRESETS.join(', ')} (ha = lb + 3 controllers + 2 workers).`,
    });
    return undefined;
  }
  const base = presetSpec(preset, user.name ?? 'hardway');
  const nodes = {} as Record<Role, RoleSpec>;
  for (const role of ROLES) nodes[role] = { ...base.nodes[role], ...(user.nodes?.[role] ?? {}) };
  return {
    name: base.name,
    preset,
    provider: user.provider ?? base.provider,
    image: { ...base.image, ...(user.image ?? {}) },
    nodes,
    network: { ...base.network, ...(user.network ?? {}) },
    versions: { ...base.versions, ...(user.versions ?? {}) },
    artifacts: { ...base.artifacts, ...(user.artifacts ?? {}) },
    snapshots: { ...base.snapshots, ...(user.snapshots ?? {}) },
    pki: { ...base.pki, ...(user.pki ?? {}) },
  };
}

// ---------------------------------------------------------------------------------------------
// Validation of a resolved spec.

const RFC1123_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const VERSION = /^v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/;
/** Headroom the host keeps for itself and the app when sizing VMs. */
export const HOST_RESERVED_MIB = 1024;
const MIN_MEMORY_MIB: Record<Role, number> = { lb: 256, controller: 1024, worker: 1024 };

export function validateSpec(spec: ClusterSpec, context: ValidationContext = {}): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const error = (path: string, message: string, hint: string) => issues.push({ severity: 'error', path, message, hint });
  const warn = (path: string, message: string, hint: string) => issues.push({ severity: 'warning', path, message, hint });

  if (!RFC1123_LABEL.test(spec.name) || spec.name.length > 40) {
    error(
      'name',
      `lab name ${JSON.stringify(spec.name)} is not a lowercase RFC 1123 label of at most 40 characters`,
      'use lowercase letters, digits and "-", starting and ending with a letter or digit, e.g. `name: hardway`.',
    );
  }
  if (!(PROVIDERS as readonly string[]).includes(spec.provider)) {
    error('provider', `unknown provider "${spec.provider}"`, `use one of: ${PROVIDERS.join(', ')}.`);
  }
  if (!(KEY_ALGORITHMS as readonly string[]).includes(spec.pki.keyAlgorithm)) {
    error('pki.keyAlgorithm', `unknown key algorithm "${spec.pki.keyAlgorithm}"`, `use one of: ${KEY_ALGORITHMS.join(', ')}.`);
  }
  validateImage(spec, error);
  validateArtifacts(spec, error);
  if (!(SNAPSHOT_SETTINGS as readonly string[]).includes(spec.snapshots.afterEachStep)) {
    error('snapshots.afterEachStep', `unknown setting "${spec.snapshots.afterEachStep}"`, `use one of: ${SNAPSHOT_SETTINGS.join(', ')} (auto takes them when the disk has room).`);
  }

  for (const role of ROLES) validateRole(role, spec.nodes[role], error);
  validateMembership(spec, error, warn);
  validateNames(spec, error);

  for (const [key, value] of Object.entries(spec.versions)) {
    if (!VERSION.test(value)) {
      error(`versions.${key}`, `version ${JSON.stringify(value)} is not of the form 1.2.3`, 'write a release version such as `1.32.3`.');
    }
  }
  if (!DNS_NAME.test(spec.network.clusterDomain)) {
    error(
      'network.clusterDomain',
      `cluster domain ${JSON.stringify(spec.network.clusterDomain)} is not a valid DNS name`,
      'use lowercase DNS labels separated by dots, e.g. `cluster.local`.',
    );
  }
  validateNetworks(spec, error);
  validateHostMemory(spec, context, error);
  return issues;
}

type Report = (path: string, message: string, hint: string) => void;

function validateArtifacts(spec: ClusterSpec, error: Report) {
  const { artifacts } = spec;
  if (!(ARTIFACT_SOURCES as readonly string[]).includes(artifacts.source)) {
    error('artifacts.source', `unknown artifacts source "${artifacts.source}"`, `use one of: ${ARTIFACT_SOURCES.join(', ')} (auto picks one that can work here).`);
    return;
  }
  if (artifacts.source === 'directory' && !artifacts.dir) {
    error('artifacts.dir', 'artifacts.source is "directory" but no artifacts.dir is given', 'set artifacts.dir to a directory laid out as `hardway-lab artifacts describe` shows, or use `source: auto`.');
  }
  if (artifacts.dir && artifacts.source !== 'directory' && artifacts.source !== 'auto') {
    error('artifacts.dir', `artifacts.dir is only read with source "directory" (or "auto"), not "${artifacts.source}"`, 'remove artifacts.dir, or set `source: directory`.');
  }
}

function validateImage(spec: ClusterSpec, error: Report) {
  const { image } = spec;
  if (!['builder', 'file', 'box'].includes(image.source)) {
    error('image.source', `unknown image source "${image.source}"`, 'use builder (default), file or box.');
    return;
  }
  if (image.source === 'file' && !image.path) {
    error('image.path', 'image.source is "file" but no image.path is given', 'set image.path to a qcow2 image (and image.kernel/image.initrd for direct kernel boot).');
  }
  if (image.source === 'box' && !image.box) {
    error('image.box', 'image.source is "box" but no image.box is given', 'set image.box to a Vagrant box name, e.g. `debian/bookworm64`.');
  }
  if (image.source === 'box' && spec.provider !== 'vagrant') {
    error('image.source', `a Vagrant box only works with the vagrant provider, not "${spec.provider}"`, 'set `provider: vagrant`, or use `image.source: builder`.');
  }
}

function validateRole(role: Role, r: RoleSpec, error: Report) {
  const at = `nodes.${role}`;
  if (!Number.isInteger(r.count) || r.count < 0) error(`${at}.count`, `count must be a whole number ≥ 0, found ${r.count}`, 'write e.g. `count: 2`.');
  if (!Number.isInteger(r.cpus) || r.cpus < 1 || r.cpus > 64) error(`${at}.cpus`, `cpus must be a whole number from 1 to 64, found ${r.cpus}`, 'write e.g. `cpus: 2`.');
  if (!Number.isInteger(r.memoryMiB) || r.memoryMiB < MIN_MEMORY_MIB[role]) {
    error(
      `${at}.memoryMiB`,
      `a ${role} needs at least ${MIN_MEMORY_MIB[role]} MiB of memory, found ${r.memoryMiB}`,
      `set ${at}.memoryMiB to ${MIN_MEMORY_MIB[role]} or more.`,
    );
  }
  if (!Number.isInteger(r.diskGiB) || r.diskGiB < 4) error(`${at}.diskGiB`, `disk must be at least 4 GiB, found ${r.diskGiB}`, 'write e.g. `diskGiB: 20`.');
}

function validateMembership(spec: ClusterSpec, error: Report, warn: Report) {
  const { lb, controller, worker } = spec.nodes;
  if (controller.count === 0) {
    error('nodes.controller.count', 'no controllers: etcd and the API server need at least one', 'set nodes.controller.count to 1 or 3.');
  } else if (controller.count % 2 === 0) {
    warn(
      'nodes.controller.count',
      `${controller.count} controllers means ${controller.count} etcd members: an even count tolerates no more failures than one fewer` +
        (controller.count === 2 ? ' (2 is worse than 1: losing either member stops all writes, no quorum)' : ''),
      `use an odd count: ${controller.count - 1} or ${controller.count + 1}.`,
    );
  }
  if (controller.count > 7) {
    error('nodes.controller.count', `${controller.count} etcd members is more than etcd recommends (at most 7)`, 'use 1, 3, 5 or 7 controllers.');
  }
  if (worker.count === 0) error('nodes.worker.count', 'no workers: pods have nowhere to run and the smoke test cannot pass', 'set nodes.worker.count to 1 or more.');
  if (lb.count > 1) error('nodes.lb.count', `${lb.count} load balancers: the lab runs one haproxy node`, 'set nodes.lb.count to 1 (or 0 to talk to the first controller directly).');
  if (lb.count === 0 && controller.count > 1) {
    warn('nodes.lb.count', `no load balancer in front of ${controller.count} API servers: clients will use the first controller only`, 'set nodes.lb.count to 1 for a highly available API endpoint.');
  }
}

function validateNames(spec: ClusterSpec, error: Report) {
  const seen = new Map<string, string>();
  for (const role of ROLES) {
    const r = spec.nodes[role];
    const at = `nodes.${role}.names`;
    if (r.names && r.names.length !== r.count) {
      error(at, `${r.names.length} name(s) given for ${r.count} ${role} node(s)`, `give exactly ${r.count} names, or remove ${at} to use the defaults.`);
      continue;
    }
    for (const name of nodeNamesFor(role, r)) {
      if (!RFC1123_LABEL.test(name)) {
        error(
          at,
          `node name ${JSON.stringify(name)} is not a lowercase RFC 1123 label (it becomes a hostname, a certificate name and a shell argument)`,
          'use only lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters.',
        );
      } else if (seen.has(name)) {
        error(at, `node name "${name}" is used twice (also in ${seen.get(name)})`, 'give every node a different name.');
      } else {
        seen.set(name, at);
      }
    }
  }
}

function validateNetworks(spec: ClusterSpec, error: Report) {
  for (const server of spec.network.dns ?? []) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(server) || server.split('.').some((o) => Number(o) > 255)) error('network.dns', `${JSON.stringify(server)} is not an IPv4 address`, 'write resolvers like `[9.9.9.9, 1.1.1.1]`.');
  }
  if (spec.network.dns && !spec.network.nat) error('network.dns', 'network.dns is only used with network.nat: true (an isolated lab reaches no resolver)', 'set `network.nat: true`, or remove network.dns.');
  const parsed: Partial<Record<'nodeSubnet' | 'podCidr' | 'serviceCidr', Cidr>> = {};
  for (const key of ['nodeSubnet', 'podCidr', 'serviceCidr'] as const) {
    const value = spec.network[key];
    const cidr = parseCidr(value);
    if (!cidr) {
      error(`network.${key}`, `${JSON.stringify(value)} is not an IPv4 network in CIDR form with no host bits set`, 'write it like `10.240.0.0/24`.');
    } else {
      parsed[key] = cidr;
    }
  }
  const pairs = [
    ['nodeSubnet', 'podCidr'],
    ['nodeSubnet', 'serviceCidr'],
    ['podCidr', 'serviceCidr'],
  ] as const;
  for (const [a, b] of pairs) {
    const ca = parsed[a];
    const cb = parsed[b];
    if (ca && cb && cidrsOverlap(ca, cb)) {
      error(`network.${b}`, `${b} ${cb.text} overlaps ${a} ${ca.text}`, 'every network must be separate; e.g. nodes 10.240.0.0/24, pods 10.200.0.0/16, services 10.32.0.0/24.');
    }
  }
  const { nodeSubnet, podCidr, serviceCidr } = parsed;
  if (nodeSubnet) {
    const total = ROLES.reduce((n, role) => n + spec.nodes[role].count, 0);
    const hosts = Math.max(0, cidrSize(nodeSubnet.prefix) - 2);
    const lastOffset = NODE_OFFSET.worker + spec.nodes.worker.count - 1;
    if (lastOffset > hosts) {
      error(
        'network.nodeSubnet',
        `${nodeSubnet.text} holds ${hosts} host addresses, too few for ${total} nodes (the lb is .${NODE_OFFSET.lb}, controllers start at .${NODE_OFFSET.controller}, workers at .${NODE_OFFSET.worker}; the last worker would need offset ${lastOffset})`,
        `use a larger subnet (a /24 holds up to ${256 - 2 - NODE_OFFSET.worker + 1} workers) or fewer workers (room for ${Math.max(0, hosts - NODE_OFFSET.worker + 1)} here).`,
      );
    }
  }
  if (podCidr) {
    if (podCidr.prefix > 24) {
      error('network.podCidr', `pod CIDR ${podCidr.text} is smaller than a /24, but each worker gets its own /24`, 'use a /16 such as 10.200.0.0/16.');
    } else if (spec.nodes.worker.count > cidrSize(podCidr.prefix) / 256) {
      error(
        'network.podCidr',
        `pod CIDR ${podCidr.text} has ${cidrSize(podCidr.prefix) / 256} /24 subnets, fewer than the ${spec.nodes.worker.count} workers`,
        'use a larger pod CIDR (a /16 holds 256 workers) or fewer workers.',
      );
    }
  }
  if (serviceCidr && serviceCidr.prefix > 28) {
    error('network.serviceCidr', `service CIDR ${serviceCidr.text} is too small: the DNS service needs address .10`, 'use a /24 such as 10.32.0.0/24.');
  }
}

function validateHostMemory(spec: ClusterSpec, context: ValidationContext, error: Report) {
  if (context.hostMemoryMiB === undefined) return;
  const wanted = ROLES.reduce((sum, role) => sum + spec.nodes[role].count * spec.nodes[role].memoryMiB, 0);
  const available = context.hostMemoryMiB - HOST_RESERVED_MIB;
  if (wanted > available) {
    const detail = ROLES.filter((r) => spec.nodes[r].count > 0)
      .map((r) => `${spec.nodes[r].count} × ${r} ${spec.nodes[r].memoryMiB} MiB`)
      .join(' + ');
    error(
      'nodes',
      `the VMs ask for ${wanted} MiB (${detail}) but this host has ${context.hostMemoryMiB} MiB, ${available} MiB after ${HOST_RESERVED_MIB} MiB kept for the host`,
      'lower nodes.<role>.memoryMiB, use fewer nodes (e.g. `preset: minimal`), or use a host with more memory.',
    );
  }
}
