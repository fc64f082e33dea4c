// kubectl on the host, through the load balancer, with the lab's admin kubeconfig.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { planHostFiles } from '../plan/file-plan.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import type { StepContext } from '../engine/step-definition.ts';

export function adminKubeconfigPath(paths: LabPaths): string {
  const file = planHostFiles().find((f) => f.origin.kind === 'kubeconfig' && f.origin.identity === 'admin');
  return join(paths.root, file?.path ?? 'kubeconfigs/admin.kubeconfig');
}

/** argv prefix for kubectl: the artifacts' kubectl when there is one, else the one on PATH. */
export async function hostKubectl(ctx: StepContext): Promise<string[]> {
  const artifacts = await ctx.artifacts(ctx.kubeBinaries ? ['kubernetes'] : []);
  const kubectl = artifacts.has('kubectl') ? artifacts.binaryPath('kubectl') : 'kubectl';
  const kubeconfig = adminKubeconfigPath(ctx.paths);
  if (!existsSync(kubeconfig)) throw new Error(`${kubeconfig} is missing: run \`hardway-lab render\``);
  // Generous: a busy API server on slow VMs can take many seconds to answer.
  return [kubectl, '--kubeconfig', kubeconfig, '--request-timeout=45s'];
}
