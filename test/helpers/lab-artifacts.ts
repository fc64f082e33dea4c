// The artifacts every VM tier installs: the binaries built from their Go modules at the spec's
// default versions, and the lab's images, in the same cache `hardway-lab up` uses. The test
// runner builds them first (scripts/run-tests.mjs, tier "artifacts", with GOPROXY=off so no test
// sends traffic off this host); tests only look them up here, and skip loudly when they are not
// there.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ArtifactSource } from '../../main/artifacts/artifact-source.ts';
import { labImages, type LabImages } from '../../main/plan/image-plan.ts';
import { DEFAULT_VERSIONS, kubernetesUpgradeTarget, type VersionsSpec } from '../../main/spec/cluster-spec.ts';

/** What tests pass to go builds: the module cache only, this host's toolchain only. */
export const OFFLINE_GO_ENV: NodeJS.ProcessEnv = { ...process.env, GOPROXY: 'off', GOTOOLCHAIN: 'local', GOSUMDB: 'off' };

export interface TestArtifacts {
  root: string;
  versions: VersionsSpec;
  images: LabImages;
}

export function testArtifactSource(): ArtifactSource {
  return new ArtifactSource({ versions: DEFAULT_VERSIONS, images: labImages(DEFAULT_VERSIONS), env: { ...OFFLINE_GO_ENV, HARDWAY_ARTIFACTS_DIR: '' } });
}

/** The Go-built set, or why there is none (then the test skips, saying so). */
export function testArtifacts(): { artifacts?: TestArtifacts; skip?: string } {
  const source = testArtifactSource();
  if (!source.complete()) {
    return {
      skip:
        `the Go-built artifacts are not in ${source.root} (the test runner's "artifacts" tier builds them; ` +
        'it needs Go 1.26 and the modules in the module cache: `npx hardway-lab artifacts fetch`, as .ci/run does)',
    };
  }
  if (!existsSync(join(source.root, 'build', 'kubernetes.json'))) return { skip: `${source.root} was not built from Go modules (no build/kubernetes.json)` };
  return { artifacts: { root: source.root, versions: DEFAULT_VERSIONS, images: labImages(DEFAULT_VERSIONS) } };
}

/** The set's debs/ holds haproxy for the lb (put there by `hardway-lab artifacts fetch`). */
export function loadBalancerDebsReason(root: string): string | undefined {
  return existsSync(join(root, 'debs')) ? undefined : `${root}/debs has no haproxy packages: run \`npx hardway-lab artifacts fetch\``;
}

/** Why the upgrade exercise cannot run here: the set for its release is not built (the runner builds it when the full tier runs). */
export function upgradeArtifactsReason(): string | undefined {
  const target = kubernetesUpgradeTarget(DEFAULT_VERSIONS.kubernetes);
  if (!target) return `Kubernetes ${DEFAULT_VERSIONS.kubernetes} has no upgrade target`;
  const source = testArtifactSource().forKubernetes(target);
  if (source.complete()) return undefined;
  return `the artifacts for Kubernetes ${target} are not in ${source.root}: \`npx hardway-lab artifacts build --upgrade\` (the test runner does it when the full tier runs; .ci/run fetches its modules)`;
}
