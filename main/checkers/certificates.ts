// The certificates step's checker: the certificates and keys as they are on a node — present, with the planned
// mode (keys 0600), identical to the lab's PKI, and each certificate right on its own terms
// (signed by the lab CA, CN/O, SANs, EKU, key matches) via the PKI module's inspectCertificate.

import { createHash } from 'node:crypto';
import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { PlannedFile } from '../plan/file-plan.ts';
import { inspectCertificate } from '../pki/inspect-certificate.ts';
import { parsePrivateKey, publicKeyInfoOf, publicKeyInfoOfPem } from '../pki/key-pair.ts';
import type { Probe } from '../shared/engine-types.ts';
import type { RemoteFile } from '../engine/node-session.ts';
import { probe } from './probe.ts';

const COPY_AGAIN = 'run `hardway-lab up --step certificates` (it copies every planned certificate and key again)';

export interface LabPki {
  /** Text of pki/<id>.<part> in the lab, undefined when absent. */
  read(id: string, part: 'crt' | 'key' | 'pub'): string | undefined;
}

/** Files of this node whose origin is the PKI. */
export function pkiFiles(node: PlannedNode): (PlannedFile & { origin: { kind: 'pki'; id: string; part: 'crt' | 'key' | 'pub' } })[] {
  return node.files.filter((f): f is PlannedFile & { origin: { kind: 'pki'; id: string; part: 'crt' | 'key' | 'pub' } } => f.origin.kind === 'pki');
}

export function fileProbes(node: string, file: PlannedFile, remote: RemoteFile | undefined, want: string | Buffer | undefined, source: string, fixHint: string): Probe[] {
  if (!remote) {
    return [probe({ name: `${file.path} present`, node, ok: false, expected: `a copy of ${source}`, seen: 'missing', hint: fixHint })];
  }
  const wantHash = want === undefined ? undefined : sha256(want);
  const haveHash = sha256(remote.content);
  const probes = [
    probe({
      name: `${file.path} present`,
      node,
      ok: wantHash !== undefined && wantHash === haveHash,
      expected: `identical to ${source}`,
      seen: wantHash === undefined ? `${source} is missing in the lab` : wantHash === haveHash ? 'identical' : `different content (sha256 ${haveHash.slice(0, 12)}…, lab ${wantHash.slice(0, 12)}…)`,
      hint: fixHint,
    }),
  ];
  probes.push(
    probe({
      name: `${file.path} mode`,
      node,
      ok: remote.mode === file.mode,
      expected: file.mode.toString(8).padStart(4, '0'),
      seen: remote.mode.toString(8).padStart(4, '0'),
      hint:
        file.mode === 0o600
          ? `a private key must be readable by root only: \`chmod 600 ${file.path}\` on ${node}`
          : `\`chmod ${file.mode.toString(8)} ${file.path}\` on ${node}`,
    }),
  );
  return probes;
}

export async function certificateProbes(plan: Plan, node: PlannedNode, remote: Map<string, RemoteFile | undefined>, lab: LabPki, now = new Date()): Promise<Probe[]> {
  const files = pkiFiles(node);
  const probes: Probe[] = [];
  for (const file of files) {
    probes.push(...fileProbes(node.name, file, remote.get(file.path), lab.read(file.origin.id, file.origin.part), `pki/${file.origin.id}.${file.origin.part}`, COPY_AGAIN));
  }

  const labCa = lab.read('ca', 'crt');
  for (const file of files.filter((f) => f.origin.part === 'crt')) {
    const cert = remote.get(file.path);
    const certPlan = plan.certificates.find((c) => c.id === file.origin.id);
    if (!cert || !certPlan || !labCa) continue;
    // The key that belongs with this certificate on this node, when the node has one.
    const keyFile = files.find((f) => f.origin.id === file.origin.id && f.origin.part === 'key');
    const key = keyFile ? remote.get(keyFile.path) : undefined;
    const inspected = await inspectCertificate({ certPem: cert.content.toString('utf8'), keyPem: key?.content.toString('utf8'), caPem: labCa, plan: certPlan, now });
    for (const p of inspected) {
      probes.push({ ...p, name: `${file.path}: ${p.name}`, node: node.name, hint: p.ok ? '' : p.hint });
    }
  }

  // Key pairs without a certificate (service accounts): the public half must match the private.
  for (const pub of files.filter((f) => f.origin.part === 'pub')) {
    const keyFile = files.find((f) => f.origin.id === pub.origin.id && f.origin.part === 'key');
    const pubRemote = remote.get(pub.path);
    const keyRemote = keyFile ? remote.get(keyFile.path) : undefined;
    if (!pubRemote || !keyRemote) continue;
    let ok = false;
    let seen: string;
    try {
      const fromKey = publicKeyInfoOf(parsePrivateKey(keyRemote.content.toString('utf8'), keyFile!.path));
      const fromPub = publicKeyInfoOfPem(pubRemote.content.toString('utf8'), pub.path);
      ok = fromKey.length > 0 && Buffer.from(fromKey).equals(Buffer.from(fromPub));
      seen = ok ? 'same public key' : 'the public key belongs to another private key';
    } catch (error) {
      seen = (error as Error).message;
    }
    probes.push(
      probe({
        name: `${pub.path}: matches ${keyFile!.path}`,
        node: node.name,
        ok,
        expected: 'the public key of the private key next to it',
        seen,
        hint: `tokens signed with ${keyFile!.path} would not verify: ${COPY_AGAIN}`,
      }),
    );
  }
  return probes;
}

function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}
