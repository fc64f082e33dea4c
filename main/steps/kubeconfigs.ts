// Step kubeconfigs: kubeconfigs onto the nodes.

import { kubeconfigProbes } from '../checkers/kubeconfigs.ts';
import { readOptionalFile } from '../pki/pki-files.ts';
import { renderedFilePath } from '../lab/lab-dir.ts';
import { shellJoin } from '../engine/shell.ts';
import type { StepDefinition } from '../engine/step-definition.ts';
import { labPki } from './certificates.ts';
import { byOrigin, copyCommands, syncJobs } from './step-support.ts';
import { checkNodes } from '../engine/node-checks.ts';

const KUBECONFIGS = byOrigin('kubeconfig');

export const kubeconfigsStep: StepDefinition = {
  id: 'kubeconfigs',
  title: 'Kubeconfigs distributed',
  explanation:
    'A kubeconfig bundles where the API server is, the CA to trust, and who you are (a client certificate and key). ' +
    'Kubelets and kube-proxy reach the API through the load balancer; the controller-manager and scheduler talk to the ' +
    'API server on their own controller (127.0.0.1). The checker verifies each file\'s server, its embedded identity ' +
    '(CN and O are the user and groups RBAC sees) and that it is private (0600).',
  roles: ['controller', 'worker'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    ...copyCommands(env, node, KUBECONFIGS),
    ...node.files.filter(KUBECONFIGS).map((f) => ({ node: node.name, command: `grep server: ${f.path}`, description: 'where it connects' })),
  ],
  async run(ctx) {
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const changed = await session.syncFiles(syncJobs(ctx.paths, session.node, KUBECONFIGS));
      // The components read their kubeconfig at start: restart those that run (and only if changed).
      const units = [
        ...new Set(
          changed.flatMap((path) =>
            path.includes('kube-controller-manager') ? ['kube-controller-manager'] : path.includes('kube-scheduler') ? ['kube-scheduler'] : path.startsWith('/var/lib/kubelet/') ? ['kubelet'] : path.startsWith('/var/lib/kube-proxy/') ? ['kube-proxy'] : [],
          ),
        ),
      ];
      if (units.length > 0) await session.run(`for unit in ${shellJoin(units)}; do systemctl try-restart "$unit" 2>/dev/null || true; done`);
    });
  },
  async check(ctx) {
    const pki = labPki(ctx.paths);
    return checkNodes(ctx, {
      facts: (session, node) => session.readFiles(node.files.filter(KUBECONFIGS).map((f) => f.path)),
      judge: (remote, node) => kubeconfigProbes(ctx.plan, node, remote, (path) => readOptionalFile(renderedFilePath(ctx.paths, node.name, path)), pki),
    });
  },
};
