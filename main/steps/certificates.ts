// Step certificates: certificates and keys onto the nodes that use them.

import { certificateProbes, type LabPki } from '../checkers/certificates.ts';
import { readOptionalFile, pkiFilePath } from '../pki/pki-files.ts';
import type { LabPaths } from '../lab/lab-dir.ts';
import { shellJoin } from '../engine/shell.ts';
import type { StepDefinition } from '../engine/step-definition.ts';
import { byOrigin, copyCommands, syncJobs, touches } from './step-support.ts';
import { checkNodes } from '../engine/node-checks.ts';

const PKI = byOrigin('pki');

/** Units that read these directories: restarted (only if running) when their files change. */
export const CONSUMERS: { dir: string; units: string[] }[] = [
  { dir: '/etc/etcd/', units: ['etcd'] },
  { dir: '/var/lib/kubernetes/', units: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] },
  { dir: '/var/lib/kubelet/', units: ['kubelet'] },
];

export function labPki(paths: LabPaths): LabPki {
  return { read: (id, part) => readOptionalFile(pkiFilePath(paths, id, part)) };
}

export const certificatesStep: StepDefinition = {
  id: 'certificates',
  title: 'Certificates distributed',
  explanation:
    'Each node gets exactly the certificates and keys it uses, and nothing else: controllers the CA, the API server, etcd ' +
    'and service-account material; workers the CA and their own kubelet certificate. Private keys are mode 0600. The ' +
    'checker reads every file back and verifies it on its own terms: signed by the lab CA, the right CN and O (that is ' +
    'what RBAC sees), every SAN clients will use, both EKUs for etcd, and that each key really belongs to its certificate ' +
    '(comparing public keys — comparing two empty outputs proves nothing).',
  roles: ['controller', 'worker'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    ...copyCommands(env, node, PKI),
    ...node.files
      .filter((f) => f.origin.kind === 'pki' && f.origin.part === 'crt' && f.origin.id !== 'ca')
      .map((f) => ({
        node: node.name,
        command: `openssl verify -CAfile ${f.path.replace(/[^/]+$/, 'ca.crt')} ${f.path} && openssl x509 -noout -subject -ext subjectAltName,extendedKeyUsage -in ${f.path}`,
        description: 'chain, subject, SANs and usages',
      })),
  ],
  async run(ctx) {
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const changed = await session.syncFiles(syncJobs(ctx.paths, session.node, PKI));
      const units = CONSUMERS.filter((c) => touches(changed, [c.dir])).flatMap((c) => c.units);
      if (units.length > 0) {
        // try-restart: only units that are running pick up the new files; stopped ones stay stopped.
        await session.run(`for unit in ${shellJoin(units)}; do systemctl try-restart "$unit" 2>/dev/null || true; done`);
      }
    });
  },
  async check(ctx) {
    const pki = labPki(ctx.paths);
    return checkNodes(ctx, {
      facts: (session, node) => session.readFiles(node.files.filter(PKI).map((f) => f.path)),
      judge: (remote, node) => certificateProbes(ctx.plan, node, remote, pki),
    });
  },
};
