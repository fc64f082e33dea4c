// The live parts of one lab, wired the same way for every face: the lab's SSH key, its pinned
// host keys, the provider from the spec, one SSH pool, and (on demand) the step engine.

import { join } from 'node:path';
import type { LabPaths } from './lab-dir.ts';
import type { Plan } from '../plan/address-plan.ts';
import type { ClusterSpec } from '../spec/cluster-spec.ts';
import { createProvider } from '../providers/create-provider.ts';
import type { Provider } from '../providers/provider.ts';
import { ensureLabSshKey, type LabSshKey } from '../ssh/lab-ssh-key.ts';
import { HostKeyPins, SshPool } from '../ssh/ssh-pool.ts';
import { ArtifactSource } from '../artifacts/artifact-source.ts';
import { LabEngine } from '../engine/lab-engine.ts';

export interface LabRuntimeInput {
  plan: Plan;
  spec: ClusterSpec;
  paths: LabPaths;
}

export interface LabRuntime {
  key: LabSshKey;
  hostKeys: HostKeyPins;
  provider: Provider;
  pool: SshPool;
  /** Builds the engine; throws when the artifact source is unusable (e.g. a missing --artifacts DIR). */
  engine(options?: { artifactsDir?: string; env?: NodeJS.ProcessEnv }): LabEngine;
  close(): void;
}

export function hostKeyPinsFile(paths: LabPaths): string {
  return join(paths.ssh, 'known-hosts.json');
}

export async function openLabRuntime(input: LabRuntimeInput): Promise<LabRuntime> {
  const { plan, spec, paths } = input;
  const key = await ensureLabSshKey(paths.ssh);
  const provider = createProvider({ plan, spec, paths, sshPublicKey: key.publicKey });
  const hostKeys = new HostKeyPins(hostKeyPinsFile(paths));
  const pool = new SshPool({ privateKey: key.privateKey, hostKeys, resolve: (node) => provider.sshEndpoint(node) });
  let engine: LabEngine | undefined;
  return {
    key,
    hostKeys,
    provider,
    pool,
    engine(options = {}) {
      engine ??= new LabEngine({
        plan,
        spec,
        paths,
        executor: pool,
        provider,
        artifacts: new ArtifactSource({ versions: spec.versions, dir: options.artifactsDir, env: options.env }),
      });
      return engine;
    },
    close() {
      pool.close();
    },
  };
}
