// `hardway-lab kubeconfig [--merge [--use] | --remove]`: the lab's admin kubeconfig, printed on its
// own or merged into the user's kubeconfig as `hardway-<lab>` (like minikube and kind do).

import { existsSync, readFileSync } from 'node:fs';
import {
  hasLabContext,
  KubeconfigError,
  labKubeconfigName,
  mergeLabKubeconfig,
  removeFromKubeconfig,
  renamedAdminKubeconfig,
  userKubeconfigPath,
  writeKubeconfigAtomically,
} from '../lab/kubeconfig-merge.ts';
import { adminKubeconfigPath } from '../steps/host-kubectl.ts';
import type { CliIo } from './cli.ts';
import type { LabContext } from './lab-context.ts';
import { UsageError } from './lab-context.ts';

export interface KubeconfigOptions {
  merge?: boolean;
  use?: boolean;
  remove?: boolean;
}

export async function kubeconfigCommand(ctx: LabContext, options: KubeconfigOptions, io: CliIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (options.merge && options.remove) throw new UsageError('--merge and --remove cannot go together', 'pick one.');
  if (options.use && !options.merge) throw new UsageError('--use goes with --merge', 'run `hardway-lab kubeconfig --merge --use`.');
  const name = labKubeconfigName(ctx.plan.labName);
  const target = userKubeconfigPath(env);
  try {
    if (options.remove) {
      if (!existsSync(target)) {
        io.out(`${target} does not exist; nothing to remove.`);
        return 0;
      }
      const { text, removed } = removeFromKubeconfig(readFileSync(target, 'utf8'), name);
      if (removed > 0) writeKubeconfigAtomically(target, text);
      io.out(removed > 0 ? `Removed cluster, user and context ${name} from ${target}.` : `${target} has no entries named ${name}.`);
      return 0;
    }
    const adminPath = adminKubeconfigPath(ctx.paths);
    if (!existsSync(adminPath)) {
      io.err(`hardway-lab: lab "${ctx.plan.labName}" has no admin kubeconfig yet (${adminPath})\n  fix: run \`hardway-lab render\` (or \`hardway-lab up\`) first`);
      return 1;
    }
    if (!options.merge) {
      io.out(renamedAdminKubeconfig(readFileSync(adminPath, 'utf8'), name));
      return 0;
    }
    const result = mergeLabKubeconfig(adminPath, ctx.plan.labName, { use: options.use }, env);
    const current = result.currentContext === name ? `it is the current context` : `the current context stays ${result.currentContext ?? '(none)'}; add --use to switch`;
    io.out(`${result.outcome === 'added' ? 'Added' : result.outcome === 'updated' ? 'Updated' : 'Already up to date:'} cluster, user and context ${name} in ${target} (${current}).\n  try: kubectl --context ${name} get nodes`);
    return 0;
  } catch (error) {
    if (error instanceof KubeconfigError) throw new UsageError(`${target}: ${error.message}`, error.hint);
    throw error;
  }
}

/** After destroy: a reminder when the user's kubeconfig still points at the lab. */
export function staleKubeconfigHint(ctx: LabContext, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const name = labKubeconfigName(ctx.plan.labName);
  const target = userKubeconfigPath(env);
  return hasLabContext(target, name) ? `${target} still has context ${name}: \`hardway-lab kubeconfig --remove\` removes it (or keep it: it works again once \`hardway-lab up\` has made the cluster, with the same certificates).` : undefined;
}
