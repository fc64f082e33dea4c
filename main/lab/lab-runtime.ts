// The live parts of one lab, wired the same way for every face (CLI, Electron, browser mode): the
// lab's SSH key, its pinned host keys, the provider from the spec, one SSH pool, and (on demand)
// the step engine.

import { join, resolve } from 'node:path';
import type { LabPaths } from './lab-dir.ts';
import type { Plan } from '../plan/address-plan.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import { createProvider } from '../providers/create-provider.ts';
import type { Provider, SshEndpoint } from '../providers/provider.ts';
import { ensureLabSshKey, type LabSshKey } from '../ssh/lab-ssh-key.ts';
import { HostKeyPins, SshPool } from '../ssh/ssh-pool.ts';
import { ArtifactSource } from '../artifacts/artifact-source.ts';
import { LabEngine } from '../engine/lab-engine.ts';
import { autoSnapshotPolicy, snapshotAfterStep } from './lab-snapshots.ts';

export interface LabRuntimeInput {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
}

export interface LabRuntimeOptions {
  /** Where each node's SSH server is; default the provider's endpoint (tests point it at a local sshd). */
  sshEndpoint?: (node: string) => SshEndpoint;
}

export interface EngineOptions {
  artifactsDir?: string;
  env?: NodeJS.ProcessEnv;
  /** A source already made (another Kubernetes release's); wins over artifactsDir and the spec. */
  artifacts?: ArtifactSource;
}

/** The parts of a lab whose provider may be unusable here (the UI still shows the lab then). */
export interface PartialLabRuntime {
  key: LabSshKey;
  hostKeys: HostKeyPins;
  provider?: Provider;
  /** Why the provider could not be made (e.g. its tool is not installed), when it could not. */
  providerFailure?: Error;
  pool: SshPool;
  /** Builds the engine once; throws when the artifact source is unusable (e.g. a missing --artifacts DIR). */
  engine(options?: EngineOptions): LabEngine;
  /** A new engine for the lab's spec as it reads now (another version), over the same provider and SSH pool. */
  engineFor(input: LabRuntimeInput, options?: EngineOptions): LabEngine;
  close(): void;
}

export interface LabRuntime extends PartialLabRuntime {
  provider: Provider;
}

export function hostKeyPinsFile(paths: LabPaths): string {
  return join(paths.ssh, 'known-hosts.json');
}

/** The artifact source a lab's spec asks for; --artifacts and HARDWAY_ARTIFACTS_DIR win over the spec. */
export function labArtifactSource(input: LabRuntimeInput, options: EngineOptions = {}): ArtifactSource {
  const { spec, plan, paths } = input;
  return new ArtifactSource({
    versions: spec.versions,
    source: spec.artifacts.source,
    // A relative artifacts.dir is read from the lab directory.
    specDir: spec.artifacts.dir ? resolve(paths.root, spec.artifacts.dir) : undefined,
    dir: options.artifactsDir,
    env: options.env,
    images: plan.images,
  });
}

/** Every part that can be made; the provider's failure is kept, not thrown. */
export async function openPartialLabRuntime(input: LabRuntimeInput, options: LabRuntimeOptions = {}): Promise<PartialLabRuntime> {
  const { plan, spec, paths } = input;
  const key = await ensureLabSshKey(paths.ssh);
  let provider: Provider | undefined;
  let providerFailure: Error | undefined;
  try {
    provider = createProvider({ plan, spec, paths, sshPublicKey: key.publicKey });
  } catch (error) {
    providerFailure = error instanceof Error ? error : new Error(String(error));
  }
  const resolve =
    options.sshEndpoint ??
    ((node: string): SshEndpoint => {
      if (!provider) throw new Error(`no provider to find node ${node}: ${providerFailure?.message}`);
      return provider.sshEndpoint(node);
    });
  const hostKeys = new HostKeyPins(hostKeyPinsFile(paths));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys, resolve });
  let engine: LabEngine | undefined;
  const makeEngine = (lab: LabRuntimeInput, engineOptions: EngineOptions): LabEngine => {
    const made: LabEngine = new LabEngine({
      ...lab,
      executor: pool,
      provider,
      artifacts: engineOptions.artifacts ?? labArtifactSource(lab, engineOptions),
      afterStepDone: provider ? afterEachStep(lab, provider, pool, () => made.steps.map((s) => s.id)) : undefined,
    });
    return made;
  };
  return {
    key,
    hostKeys,
    provider,
    providerFailure,
    pool,
    engine(engineOptions = {}) {
      engine ??= makeEngine({ plan, spec, paths }, engineOptions);
      return engine;
    },
    engineFor(lab, engineOptions = {}) {
      return makeEngine({ plan: lab.plan, spec: lab.spec, paths: lab.paths }, engineOptions);
    },
    close() {
      pool.close();
    },
  };
}

/**
 * The engine for a lab whose spec was read again (`engineFor`). When the Kubernetes release
 * changed (the upgrade exercise), its binaries come from where the previous engine's source keeps
 * that release: a directory's upgrade/ folder, or the cache.
 */
export function reopenedEngine(runtime: Pick<PartialLabRuntime, 'engineFor'>, previous: { engine: LabEngine; spec: ClusterSpec }, lab: LabRuntimeInput, options: EngineOptions = {}): LabEngine {
  const release = lab.spec.versions.kubernetes;
  if (release === previous.spec.versions.kubernetes) return runtime.engineFor(lab, options);
  return runtime.engineFor(lab, { ...options, artifacts: previous.engine.artifactSource.forKubernetes(release) });
}

/** The engine's after-step hook: a snapshot of every node when the spec (or the free disk) says so; the policy is said once. */
function afterEachStep(input: LabRuntimeInput, provider: Provider, pool: SshPool, stepIds: () => string[]) {
  let said = false;
  return async (step: string): Promise<string | undefined> => {
    const policy = autoSnapshotPolicy(input.spec, input.paths, input.plan.nodes.length);
    if (!policy.on) {
      if (said) return undefined;
      said = true;
      return `no snapshot after each step: ${policy.reason}`;
    }
    return snapshotAfterStep({ plan: input.plan, paths: input.paths, provider, pool, stepIds: stepIds() }, step);
  };
}

/** Every part, or the provider's error (what the CLI needs: it cannot do anything without one). */
export async function openLabRuntime(input: LabRuntimeInput, options: LabRuntimeOptions = {}): Promise<LabRuntime> {
  const runtime = await openPartialLabRuntime(input, options);
  const provider = runtime.provider;
  if (!provider) {
    runtime.close();
    throw runtime.providerFailure;
  }
  return { ...runtime, provider };
}
