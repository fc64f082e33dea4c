// `hardway-lab artifacts build|describe|fetch|modules`: the lab's binaries and images.

import { join, resolve } from 'node:path';
import { labArtifactSource } from '../lab/lab-runtime.ts';
import { buildFromGoModules, downloadGoModules } from '../artifacts/go-build.ts';
import { GO_COMPONENTS, goRecipe, type GoComponent } from '../artifacts/go-recipes.ts';
import { buildLabImages } from '../artifacts/lab-images.ts';
import { COMMITTED_GO_MODULES_DIR, wrapperDirName, writeWrapperModule } from '../artifacts/go-wrapper-module.ts';
import { formatTable } from './format-plan.ts';
import { KUBERNETES_UPGRADES, kubernetesUpgradeTarget, type VersionsSpec } from '../spec/cluster-spec.ts';
import { labImages } from '../plan/image-plan.ts';
import { UsageError, type LabContext } from './lab-context.ts';
import type { CliIo } from './cli.ts';

export const ARTIFACTS_USAGE = `usage: hardway-lab artifacts <build|describe|fetch|modules> [options]
  build      build every binary (Kubernetes, etcd, containerd, runc, CNI plugins, CoreDNS, crictl) from its
             upstream Go module at the spec's versions, and the lab's images; nothing is redone when the inputs
             did not change   [--into DIR] [--only COMPONENT,...] [--upgrade: for the upgrade exercise's release]
  describe   which source the lab uses and why, and what the artifacts hold
  fetch      download the Go modules the build needs into the module cache (then the build works offline)   [--upgrade: also those of the upgrade exercise's release]
  modules    write the wrapper modules for the spec's versions into gobuild/ (for maintainers)`;

function parseOnly(only: string | undefined): GoComponent[] | undefined {
  if (!only) return undefined;
  const wanted = only.split(',').map((c) => c.trim()).filter(Boolean);
  const unknown = wanted.filter((c) => !(GO_COMPONENTS as readonly string[]).includes(c));
  if (unknown.length) throw new UsageError(`unknown component ${unknown.join(', ')}`, `use some of: ${GO_COMPONENTS.join(', ')}.`);
  return wanted as GoComponent[];
}

/** The spec's versions with Kubernetes at the upgrade exercise's release. */
function upgradeVersions(ctx: LabContext): VersionsSpec {
  const target = kubernetesUpgradeTarget(ctx.spec.versions.kubernetes);
  if (!target) throw new UsageError(`Kubernetes ${ctx.spec.versions.kubernetes} has no upgrade target in this version of Hardway Lab`, `use one of the releases the upgrade exercise knows: ${Object.keys(KUBERNETES_UPGRADES).map((m) => `${m}.x`).join(', ')}.`);
  return { ...ctx.spec.versions, kubernetes: target };
}

export async function artifactsCommand(ctx: LabContext, sub: string | undefined, options: { into?: string; only?: string; artifacts?: string; upgrade?: boolean }, io: CliIo, signal: AbortSignal): Promise<number> {
  switch (sub) {
    case 'describe': {
      const source = labArtifactSource(ctx, { artifactsDir: options.artifacts });
      io.out(await source.describe());
      return 0;
    }
    case 'build': {
      const only = parseOnly(options.only);
      const versions = options.upgrade ? upgradeVersions(ctx) : ctx.spec.versions;
      const labSource = labArtifactSource(ctx, {});
      const source = options.upgrade && labSource.kind === 'managed' ? labSource.forKubernetes(versions.kubernetes) : labSource;
      const root = options.into ? resolve(options.into) : source.kind === 'managed' ? source.root : undefined;
      if (!root) throw new UsageError(`the spec uses the artifacts directory ${source.root}`, `pass --into DIR to build into a directory (for example ${options.upgrade ? join(source.root, 'upgrade', `kubernetes-v${versions.kubernetes}`) : 'that one'}).`);
      const started = Date.now();
      const log = (line: string) => io.err(line);
      const builds = await buildFromGoModules({ root, versions, cacheDir: source.cacheDir, components: only, log, signal });
      const images = only ? [] : await buildLabImages({ root, versions, references: labImages(versions), log });
      io.out(
        formatTable(
          ['COMPONENT', 'VERSION', 'RESULT', 'SECONDS', 'REPORTS'],
          [
            ...builds.map((b) => [b.component, b.version, b.action, b.seconds.toFixed(0), Object.values(b.versionOutputs)[0] ?? '']),
            ...images.map((i) => [`image ${i.name}`, i.reference, i.action, '', i.from.slice(0, 2).join(', ')]),
          ],
        ),
      );
      io.out(`Artifacts in ${root} (${((Date.now() - started) / 1000).toFixed(0)} s). ${root === source.root ? '`hardway-lab up` uses them.' : `Use them with \`--artifacts ${root}\`.`}`);
      return 0;
    }
    case 'fetch': {
      const only = parseOnly(options.only);
      const source = labArtifactSource(ctx, {});
      await downloadGoModules({ versions: ctx.spec.versions, cacheDir: source.cacheDir, components: only, log: (line) => io.err(line) });
      if (options.upgrade) await downloadGoModules({ versions: upgradeVersions(ctx), cacheDir: source.cacheDir, components: ['kubernetes'], log: (line) => io.err(line) });
      // haproxy for the lb node, as .deb files (the lb has no package source of its own).
      if (source.kind === 'managed') await source.ensureLoadBalancerDebs((line) => io.err(line));
      io.out(`Every module the build needs is in the Go module cache, and haproxy's packages are in ${source.root}/debs; \`hardway-lab artifacts build\` now works offline (GOPROXY=off).`);
      return 0;
    }
    case 'modules': {
      const only = parseOnly(options.only) ?? GO_COMPONENTS;
      for (const component of only) {
        const recipe = goRecipe(component, ctx.spec.versions);
        const dir = join(COMMITTED_GO_MODULES_DIR, wrapperDirName(recipe));
        await writeWrapperModule(recipe, dir);
        io.out(`wrote ${dir}/go.mod and go.sum`);
      }
      return 0;
    }
    default:
      throw new UsageError(sub ? `unknown artifacts command "${sub}"` : 'artifacts needs a command', ARTIFACTS_USAGE);
  }
}

