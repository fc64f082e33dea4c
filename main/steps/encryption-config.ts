// Step encryption-config: the encryption-at-rest config, identical on every controller.

import { ENCRYPTION_CONFIG_PATH, encryptionConfigProbes } from '../checkers/encryption-config.ts';
import { unreachableProbe } from '../checkers/probe.ts';
import { readOptionalFile } from '../pki/pki-files.ts';
import { renderedFilePath } from '../lab/lab-dir.ts';
import type { RemoteFile } from '../engine/node-session.ts';
import type { Probe } from '../shared/engine-types.ts';
import type { StepDefinition } from '../engine/step-definition.ts';
import { byOrigin, copyCommands, syncJobs } from './step-support.ts';

const ENCRYPTION = byOrigin('encryption-config');

export const encryptionConfigStep: StepDefinition = {
  id: 'encryption-config',
  title: 'Encryption config on every controller',
  explanation:
    'The API server encrypts Secrets before writing them to etcd, with the aescbc key in this file. Every controller must ' +
    'have the very same file: a secret written through one API server is read through another. Identity comes last so ' +
    'data written before encryption was switched on stays readable. The key is a secret: mode 0600.',
  roles: ['controller'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    ...copyCommands(env, node, ENCRYPTION),
    { node: node.name, command: `sha256sum ${ENCRYPTION_CONFIG_PATH}`, description: 'must be the same on every controller' },
  ],
  async run(ctx) {
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const changed = await session.syncFiles(syncJobs(ctx.paths, session.node, ENCRYPTION));
      if (changed.length > 0) await session.run('systemctl try-restart kube-apiserver 2>/dev/null || true');
    });
  },
  async check(ctx) {
    const unreachable: Probe[] = [];
    const controllers: { node: (typeof ctx.nodes)[number]; remote: RemoteFile | undefined }[] = [];
    await Promise.all(
      ctx.nodes.map(async (node) => {
        try {
          const files = await ctx.session(node).readFiles([ENCRYPTION_CONFIG_PATH]);
          controllers.push({ node, remote: files.get(ENCRYPTION_CONFIG_PATH) });
        } catch (error) {
          unreachable.push(unreachableProbe(node.name, error));
        }
      }),
    );
    controllers.sort((a, b) => a.node.index - b.node.index);
    const first = ctx.nodes[0];
    const rendered = first ? readOptionalFile(renderedFilePath(ctx.paths, first.name, ENCRYPTION_CONFIG_PATH)) : undefined;
    return [...unreachable, ...encryptionConfigProbes(controllers, rendered)];
  },
};
