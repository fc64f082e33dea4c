// Carries out a drill's actions on the lab's nodes (over the lab's SSH pool), shows them as the
// commands a person would type, and judges the drills' own probes.

import type { Plan } from '../plan/address-plan.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import { renderedFilePath } from '../lab/lab-dir.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import type { Probe } from '../shared/engine-types.ts';
import type { ExecResult, NodeExecutor } from '../engine/node-executor.ts';
import { probe } from '../checkers/probe.ts';
import { loadIssuer } from '../pki/load-issuer.ts';
import { issueCertificate } from '../pki/issue-certificate.ts';
import { generateKeyPair, privateKeyPem } from '../pki/key-pair.ts';
import { readPkiFile } from '../pki/pki-files.ts';
import { readFileSync, statSync } from 'node:fs';
import { ADMIN_KUBECTL, controller, kubernetesDir } from './lab-terms.ts';
import { KUBE_BINARIES, KUBE_CONTROL_PLANE_BINARIES, KUBE_WORKER_BINARIES, type ArtifactSet } from '../artifacts/artifact-set.ts';

type KubeBinary = (typeof KUBE_CONTROL_PLANE_BINARIES)[number] | (typeof KUBE_WORKER_BINARIES)[number];
import { sha256File } from '../artifacts/go-build.ts';
import { setSpecKubernetesVersion } from '../spec/edit-spec.ts';
import { ensurePki } from '../pki/ensure-pki.ts';
import { renderLab } from '../render/render-lab.ts';
import { text, type CertFault, type DrillAction, type DrillEnv, type DrillProbe, type LabText, type NodeRef } from './drill-types.ts';

/** A command bound to its node, as the learner would type it (the host's are marked `host`). */
export interface ShownCommand {
  node: string;
  command: string;
  why?: string;
}

export interface ActionTarget {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
  pool: NodeExecutor;
  /** Runs a hard-way step again (the engine's runStep); false when its checker does not pass. */
  runStep(step: string): Promise<boolean>;
  /** The lab's artifacts for another Kubernetes release, made first when the source can (a build: minutes). */
  kubernetesArtifacts(version: string, log: (line: string) => void): Promise<ArtifactSet>;
  onProgress?(message: string): void;
}

/** Long enough for the waits inside the commands (an API server restart under TCG: minutes). */
const ACTION_TIMEOUT_MS = 20 * 60_000;

/** A drill action that failed: what, where, and the command's last output. */
export class DrillActionError extends Error {
  constructor(
    readonly node: string,
    readonly command: string,
    readonly output: string,
  ) {
    super(`on ${node}: \`${command.length > 160 ? `${command.slice(0, 160)}…` : command}\` failed${output ? `: ${output.trim().split('\n').slice(-4).join(' | ')}` : ''}`);
    this.name = 'DrillActionError';
  }
}

export function nodesOf(ref: NodeRef, env: DrillEnv): string[] {
  if (typeof ref === 'object') return env.plan.nodes.filter((n) => n.role === ref.each).map((n) => n.name);
  const name = text(ref, env);
  if (!env.plan.nodes.some((n) => n.name === name)) throw new Error(`this lab has no node ${name}`);
  return [name];
}

function renewIds(cert: LabText, env: DrillEnv): string[] {
  return text(cert, env)
    .split(',')
    .flatMap((id) => (id === '{each-worker}' ? env.plan.nodes.filter((n) => n.role === 'worker').map((n) => `kubelet-${n.name}`) : [id]));
}

function kubectlCommand(args: string): string {
  return `${ADMIN_KUBECTL} ${args.replace(/\bADMIN\b/g, ADMIN_KUBECTL)}`;
}

/** Where a node keeps a certificate of the plan and its key (from the plan's file list). */
function certFiles(env: DrillEnv, node: string, id: string): { crt: { path: string; mode: number }; key: { path: string; mode: number } } {
  const files = env.plan.nodes.find((n) => n.name === node)!.files.filter((f) => f.origin.kind === 'pki' && f.origin.id === id);
  const crt = files.find((f) => f.origin.kind === 'pki' && f.origin.part === 'crt');
  const key = files.find((f) => f.origin.kind === 'pki' && f.origin.part === 'key');
  if (!crt || !key) throw new Error(`${node} keeps no certificate ${id} in this lab`);
  return { crt: { path: crt.path, mode: crt.mode }, key: { path: key.path, mode: key.mode } };
}

function describeFault(fault: CertFault, env: DrillEnv): string {
  const parts: string[] = [];
  if (fault.dropLbSan) parts.push(`without the SAN IP:${env.plan.apiEndpoint.ip}`);
  if (fault.dropUsage) parts.push(`without the ${fault.dropUsage} usage`);
  if (fault.clockDays) parts.push(`issued with the clock ${Math.abs(fault.clockDays)} days ${fault.clockDays < 0 ? 'behind' : 'ahead'}`);
  return parts.join(', ');
}

/** The commands an action stands for, bound to their nodes. */
export function showAction(action: DrillAction, env: DrillEnv): ShownCommand[] {
  const why = action.why;
  switch (action.kind) {
    case 'run':
      return nodesOf(action.node, env).map((node) => ({ node, command: text(action.command, env), why }));
    case 'kubectl': {
      const args = text(action.args, env).replace(/\bADMIN\b/g, 'kubectl');
      return [{ node: action.node ? text(action.node, env) : controller(0)(env), command: `kubectl ${args}${action.stdin ? ' <<EOF … EOF' : ''}`, why }];
    }
    case 'renew-cert':
      return [{ node: 'host', command: `hardway-lab pki --renew ${renewIds(action.cert, env).join(',')} && hardway-lab render`, why: why ?? 'new keys and certificates from the same CA in the lab\'s pki/, and the kubeconfigs that embed them written again' }];
    case 'faulty-cert':
    case 'lab-cert': {
      return nodesOf(action.node, env).flatMap((node) => {
        const id = text(action.cert, env).replace('{node}', node);
        const files = certFiles(env, node, id);
        const ip = env.plan.nodes.find((n) => n.name === node)!.ip;
        const what = action.kind === 'faulty-cert' ? `a ${id} certificate ${describeFault(action.fault, env)} (and a new key)` : `the lab's pki/${id}.crt and .key`;
        const shown: ShownCommand[] = [{ node: 'host', command: `scp ${action.kind === 'lab-cert' ? `pki/${id}.crt pki/${id}.key` : `${id}.crt ${id}.key`} root@${ip}: && ssh root@${ip} 'install -m 0644 ${id}.crt ${files.crt.path} && install -m 0600 ${id}.key ${files.key.path}'`, why: why ?? `copies ${what} to ${node}` }];
        if (action.then) shown.push({ node, command: text(action.then, env) });
        return shown;
      });
    }
    case 'lab-file':
      return nodesOf(action.node, env).flatMap((node) => {
        const ip = env.plan.nodes.find((n) => n.name === node)!.ip;
        const shown: ShownCommand[] = [{ node: 'host', command: `scp nodes/${node}${action.path} root@${ip}:${action.path}`, why: why ?? `the lab's rendered ${action.path}` }];
        if (action.then) shown.push({ node, command: text(action.then, env) });
        return shown;
      });
    case 'copy': {
      const from = text(action.from, env);
      return nodesOf(action.to, env)
        .filter((n) => n !== from)
        .map((node) => ({ node: 'host', command: `scp root@${env.plan.nodes.find((n) => n.name === from)!.ip}:${action.path} root@${env.plan.nodes.find((n) => n.name === node)!.ip}:${action.path}`, why }));
    }
    case 'one-at-a-time':
      return nodesOf({ each: action.each }, env).flatMap((node) => action.actions.flatMap((a) => showAction(a, onNode(env, node))));
    case 'stage-kubernetes': {
      const version = text(action.version, env);
      return env.plan.nodes
        .filter((n) => n.role === 'controller' || n.role === 'worker')
        .map((n) => ({ node: 'host', command: `scp ${stagedBinaries(n.role).map((b) => `bin/${b}`).join(' ')} root@${n.ip}:${kubernetesDir(version)}/`, why: why ?? `the ${version} binaries a ${n.role} runs, from the artifacts for ${version} (\`hardway-lab artifacts build --upgrade\`)` }));
    }
    case 'spec-version':
      return [{ node: 'host', command: `sed -i 's/^\\(  kubernetes: *\\).*/\\1${text(action.kubernetes, env)}/' hardway-lab.yaml`, why: why ?? 'versions.kubernetes in the lab\'s spec: what `hardway-lab check` expects from now on' }];
    case 'step':
      return [{ node: 'host', command: `hardway-lab up --step ${action.step}`, why }];
  }
}

/** The env of one node's turn in a one-at-a-time action: `env.vars.node` names it. */
export function onNode(env: DrillEnv, node: string): DrillEnv {
  return { ...env, vars: { ...env.vars, node } };
}

/** The Kubernetes binaries a node of this role runs (what an upgrade replaces). */
function stagedBinaries(role: string): readonly KubeBinary[] {
  return role === 'controller' ? KUBE_CONTROL_PLANE_BINARIES : KUBE_WORKER_BINARIES;
}

async function run(target: ActionTarget, node: string, command: string, stdin?: string): Promise<ExecResult> {
  const result = await target.pool.exec(node, command, { timeoutMs: ACTION_TIMEOUT_MS, ...(stdin !== undefined ? { stdin } : {}) });
  if (result.code !== 0) throw new DrillActionError(node, command, `${result.stderr}\n${result.stdout}`);
  return result;
}

async function faultyCertificate(env: DrillEnv, id: string, fault: CertFault): Promise<{ crt: string; key: string }> {
  const planned = env.plan.certificates.find((c) => c.id === id);
  if (!planned) throw new Error(`the lab has no certificate ${id}`);
  const changed = structuredClone(planned);
  if (fault.dropLbSan) changed.ipAddresses = changed.ipAddresses.filter((ip) => ip !== env.plan.apiEndpoint.ip);
  if (fault.dropUsage) changed.usages = changed.usages.filter((u) => u !== fault.dropUsage);
  const issuer = await loadIssuer(env.paths);
  const keys = await generateKeyPair(env.spec.pki.keyAlgorithm);
  const now = new Date(Date.now() + (fault.clockDays ?? 0) * 86_400_000);
  const cert = await issueCertificate(changed, keys, { algorithm: env.spec.pki.keyAlgorithm, issuer, now });
  return { crt: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

/** Carries out one action; throws DrillActionError (node, command, output) when a command fails. */
export async function applyAction(action: DrillAction, target: ActionTarget, env: DrillEnv): Promise<void> {
  const say = (message: string) => target.onProgress?.(message);
  switch (action.kind) {
    case 'run':
      await Promise.all(
        nodesOf(action.node, env).map(async (node) => {
          say(`[${node}] ${text(action.command, env).split('\n')[0]!.slice(0, 200)}`);
          await run(target, node, text(action.command, env));
        }),
      );
      return;
    case 'one-at-a-time':
      for (const node of nodesOf({ each: action.each }, env)) {
        say(`${node}:`);
        await applyActions(action.actions, target, onNode(env, node));
      }
      return;
    case 'kubectl': {
      const node = action.node ? text(action.node, env) : controller(0)(env);
      const command = kubectlCommand(text(action.args, env));
      say(`[${node}] kubectl ${text(action.args, env).replace(/\bADMIN\b/g, 'kubectl').slice(0, 200)}`);
      await run(target, node, command, action.stdin ? text(action.stdin, env) : undefined);
      return;
    }
    case 'renew-cert': {
      const ids = renewIds(action.cert, env);
      say(`hardway-lab pki --renew ${ids.join(',')}`);
      await ensurePki(env.plan, env.paths, { algorithm: env.spec.pki.keyAlgorithm, renew: ids });
      // A kubelet's certificate is also its client identity, embedded in its kubeconfig.
      await renderLab(env.plan, env.paths);
      return;
    }
    case 'faulty-cert':
    case 'lab-cert': {
      for (const node of nodesOf(action.node, env)) {
        const id = text(action.cert, env).replace('{node}', node);
        const files = certFiles(env, node, id);
        const content = action.kind === 'faulty-cert' ? await faultyCertificate(env, id, action.fault) : { crt: readPkiFile(env.paths, id, 'crt'), key: readPkiFile(env.paths, id, 'key') };
        say(`[${node}] ${action.kind === 'faulty-cert' ? `a faulty ${id} certificate (${describeFault(action.fault, env)})` : `the lab's ${id} certificate`} → ${files.crt.path}`);
        // The key first: a process that reloads on change must never see a new certificate with the old key.
        await target.pool.upload(node, content.key, files.key.path, files.key.mode);
        await target.pool.upload(node, content.crt, files.crt.path, files.crt.mode);
        if (action.then) await run(target, node, text(action.then, env));
      }
      return;
    }
    case 'lab-file':
      for (const node of nodesOf(action.node, env)) {
        const local = renderedFilePath(env.paths, node, action.path);
        say(`[${node}] the lab's ${action.path}`);
        await target.pool.upload(node, readFileSync(local), action.path, statSync(local).mode & 0o777);
        if (action.then) await run(target, node, text(action.then, env));
      }
      return;
    case 'copy': {
      const from = text(action.from, env);
      say(`[${from}] ${action.path} → ${nodesOf(action.to, env).filter((n) => n !== from).join(', ')}`);
      const encoded = await run(target, from, `base64 -w0 ${action.path}`);
      const content = Buffer.from(encoded.stdout.trim(), 'base64');
      for (const node of nodesOf(action.to, env).filter((n) => n !== from)) await target.pool.upload(node, content, action.path, 0o600);
      return;
    }
    case 'stage-kubernetes': {
      const version = text(action.version, env);
      const set = await target.kubernetesArtifacts(version, say);
      const nodes = env.plan.nodes.filter((n) => n.role === 'controller' || n.role === 'worker');
      const sums = new Map<string, string>();
      for (const name of KUBE_BINARIES) sums.set(name, await sha256File(set.require(name)));
      // Every node at once: the copies are bound by each guest's sshd, not by this host.
      await Promise.all(
        nodes.map(async (node) => {
          const names = stagedBinaries(node.role);
          const dir = kubernetesDir(version);
          const remote = await run(target, node.name, `mkdir -p ${dir} && cd ${dir} && sha256sum ${names.join(' ')} 2>/dev/null || true`);
          const have = new Map(remote.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).reverse() as [string, string]));
          const missing = names.filter((name) => have.get(name) !== sums.get(name));
          say(`[${node.name}] Kubernetes ${version} → ${dir}/ (${missing.length ? missing.join(', ') : 'already there'})`);
          for (const name of missing) await target.pool.uploadFile(node.name, set.require(name), `${dir}/${name}`, 0o755);
        }),
      );
      return;
    }
    case 'spec-version': {
      const version = text(action.kubernetes, env);
      say(`versions.kubernetes: ${version} in ${env.paths.spec}`);
      setSpecKubernetesVersion(env.paths.spec, version);
      return;
    }
    case 'step': {
      say(`hardway-lab up --step ${action.step}`);
      if (!(await target.runStep(action.step))) throw new DrillActionError('host', `hardway-lab up --step ${action.step}`, `step ${action.step} did not pass its checker: \`hardway-lab check ${action.step}\` shows why`);
      return;
    }
  }
}

export async function applyActions(actions: readonly DrillAction[], target: ActionTarget, env: DrillEnv): Promise<void> {
  for (const action of actions) await applyAction(action, target, env);
}

/** Runs a drill probe on its node; a node that does not answer is a failing probe, not a crash. */
export async function judgeProbe(p: DrillProbe, pool: NodeExecutor, env: DrillEnv): Promise<Probe> {
  const node = text(p.node, env);
  try {
    const result = await pool.exec(node, text(p.command, env), { timeoutMs: p.timeoutMs ?? 120_000 });
    const { ok, seen } = p.judge(result, env);
    return probe({ name: p.name, node, ok, expected: p.expected, seen, hint: p.hint });
  } catch (error) {
    return probe({ name: p.name, node, ok: false, expected: p.expected, seen: `could not ask ${node}: ${(error as Error).message.split('\n')[0]}`, hint: `\`hardway-lab status\`: is ${node} running?` });
  }
}
