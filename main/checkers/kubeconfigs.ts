// The kubeconfigs step's checker: each kubeconfig on a node is the lab's, private, points at the right server and
// carries the right identity (its embedded certificate inspected like any other).

import { parse } from 'yaml';
import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { FileOrigin, PlannedFile } from '../plan/file-plan.ts';
import { kubeconfigServer } from '../render/render-node-file.ts';
import { inspectCertificate } from '../pki/inspect-certificate.ts';
import type { Probe } from '../shared/engine-types.ts';
import type { RemoteFile } from '../engine/node-session.ts';
import { fileProbes, type LabPki } from './certificates.ts';
import { probe } from './probe.ts';

type KubeconfigFile = PlannedFile & { origin: Extract<FileOrigin, { kind: 'kubeconfig' }> };

const COPY_AGAIN = 'run `hardway-lab up --step kubeconfigs` to copy the kubeconfigs again';

export function kubeconfigFiles(node: PlannedNode): KubeconfigFile[] {
  return node.files.filter((f): f is KubeconfigFile => f.origin.kind === 'kubeconfig');
}

interface ParsedKubeconfig {
  server?: string;
  user?: string;
  caData?: string;
  certData?: string;
  keyData?: string;
}

export function parseKubeconfig(text: string): ParsedKubeconfig {
  const doc = parse(text) as {
    'current-context'?: string;
    contexts?: { name: string; context: { cluster: string; user: string } }[];
    clusters?: { name: string; cluster: { server?: string; 'certificate-authority-data'?: string } }[];
    users?: { name: string; user: { 'client-certificate-data'?: string; 'client-key-data'?: string } }[];
  };
  const context = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
  const cluster = doc.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === context?.user);
  return {
    server: cluster?.server,
    user: user?.name,
    caData: cluster?.['certificate-authority-data'],
    certData: user?.user['client-certificate-data'],
    keyData: user?.user['client-key-data'],
  };
}

export async function kubeconfigProbes(
  plan: Plan,
  node: PlannedNode,
  remote: Map<string, RemoteFile | undefined>,
  rendered: (path: string) => string | undefined,
  lab: LabPki,
): Promise<Probe[]> {
  const probes: Probe[] = [];
  for (const file of kubeconfigFiles(node)) {
    const got = remote.get(file.path);
    probes.push(...fileProbes(node.name, file, got, rendered(file.path), `the lab's rendered ${file.path}`, COPY_AGAIN));
    if (!got) continue;
    let parsed: ParsedKubeconfig;
    try {
      parsed = parseKubeconfig(got.content.toString('utf8'));
    } catch (error) {
      probes.push(probe({ name: `${file.path} parses`, node: node.name, ok: false, expected: 'a YAML kubeconfig', seen: (error as Error).message, hint: COPY_AGAIN }));
      continue;
    }
    const server = kubeconfigServer(plan, file.origin.server);
    probes.push(
      probe({
        name: `${file.path} server`,
        node: node.name,
        ok: parsed.server === server,
        expected: server,
        seen: parsed.server ?? 'no server in the current context',
        hint:
          file.origin.server === 'api-endpoint'
            ? `${file.origin.user} must reach the API through the load balancer ${server}; ${COPY_AGAIN}`
            : `${file.origin.user} runs next to its API server and talks to it on ${server}; ${COPY_AGAIN}`,
      }),
    );
    const certPlan = plan.certificates.find((c) => c.id === file.origin.identity);
    const caPem = lab.read('ca', 'crt');
    if (!certPlan || !caPem || !parsed.certData) {
      probes.push(
        probe({
          name: `${file.path} identity`,
          node: node.name,
          ok: false,
          expected: `an embedded client certificate for ${file.origin.user}`,
          seen: parsed.certData ? 'the lab has no CA or certificate plan to compare with' : 'no client-certificate-data',
          hint: COPY_AGAIN,
        }),
      );
      continue;
    }
    const inspected = await inspectCertificate({
      certPem: Buffer.from(parsed.certData, 'base64').toString('utf8'),
      keyPem: parsed.keyData ? Buffer.from(parsed.keyData, 'base64').toString('utf8') : undefined,
      caPem,
      plan: certPlan,
    });
    // Validity and chain matter as much inside a kubeconfig; SANs of a client certificate do not.
    for (const p of inspected.filter((i) => !i.name.startsWith('SAN '))) {
      probes.push({ ...p, name: `${file.path} (${file.origin.user}): ${p.name}`, node: node.name, hint: p.ok ? '' : p.hint });
    }
    const caOk = parsed.caData !== undefined && Buffer.from(parsed.caData, 'base64').toString('utf8').trim() === caPem.trim();
    probes.push(
      probe({
        name: `${file.path} trusts the lab CA`,
        node: node.name,
        ok: caOk,
        expected: 'certificate-authority-data is the lab CA',
        seen: caOk ? 'the lab CA' : 'another CA (or none)',
        hint: `the client would refuse the API server's certificate; ${COPY_AGAIN}`,
      }),
    );
  }
  return probes;
}
