// Renders one planned file to its exact bytes. Deterministic and free of disk access except
// reading templates: certificates, keys and the encryption key come in as `material`, so the
// walkthrough can show a single file and tests can render without a lab directory.

import { API_PORT, type Plan, type PlannedNode } from '../plan/address-plan.ts';
import { originLabel, type FileOrigin, type PlannedFile } from '../plan/file-plan.ts';
import { renderTemplate } from './template.ts';
import { templateValuesFor } from './template-values.ts';

export interface RenderMaterial {
  /** The text of pki/<id>.<part> (PEM). */
  pki(id: string, part: 'crt' | 'key' | 'pub'): string;
  /** The encryption-at-rest key: base64 of 32 random bytes. */
  encryptionKey: string;
}

export const KUBECONFIG_TEMPLATE = 'kubeconfig.yaml';
export const ENCRYPTION_CONFIG_TEMPLATE = 'encryption-config.yaml';

/**
 * The content of `file` as it lands on `node` (null for files kept on the host side of the lab,
 * see planHostFiles()). Throws with the node, the path and the origin in the message.
 */
export function renderNodeFile(plan: Plan, node: PlannedNode | null, file: PlannedFile, material: RenderMaterial): string {
  try {
    return renderOrigin(plan, node, file.origin, material);
  } catch (error) {
    const where = node ? `${file.path} on ${node.name}` : `${file.path} (host side)`;
    throw new Error(`cannot render ${where} from ${originLabel(file.origin)}: ${(error as Error).message}`, { cause: error });
  }
}

function renderOrigin(plan: Plan, node: PlannedNode | null, origin: FileOrigin, material: RenderMaterial): string {
  switch (origin.kind) {
    case 'pki':
      return material.pki(origin.id, origin.part);
    case 'template':
      if (!node) throw new Error('a template is filled for one node, but no node was given');
      return renderTemplate(origin.template, templateValuesFor(plan, node, origin.template));
    case 'kubeconfig':
      return renderKubeconfig(plan, origin, material);
    case 'encryption-config':
      return renderEncryptionConfig(material.encryptionKey);
  }
}

export function kubeconfigServer(plan: Plan, server: 'api-endpoint' | 'localhost'): string {
  return server === 'api-endpoint' ? plan.apiEndpoint.url : `https://127.0.0.1:${API_PORT}`;
}

export function renderKubeconfig(plan: Plan, origin: Extract<FileOrigin, { kind: 'kubeconfig' }>, material: RenderMaterial): string {
  const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
  return renderTemplate(KUBECONFIG_TEMPLATE, {
    clusterName: plan.labName,
    server: kubeconfigServer(plan, origin.server),
    user: origin.user,
    caData: base64(material.pki('ca', 'crt')),
    clientCertificateData: base64(material.pki(origin.identity, 'crt')),
    clientKeyData: base64(material.pki(origin.identity, 'key')),
  });
}

export function renderEncryptionConfig(encryptionKey: string): string {
  // A wrong key only shows up when the API server starts (or, worse, writes secrets); check it here.
  const bytes = Buffer.from(encryptionKey, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== encryptionKey) {
    throw new Error(
      `the encryption key must be base64 of exactly 32 bytes (aescbc with AES-256), found ${bytes.length} byte(s); ` +
        'the key file in the lab\'s secrets/ directory is damaged: restore it from a backup, or (only if no cluster has stored secrets with it) delete it so a new one is made',
    );
  }
  return renderTemplate(ENCRYPTION_CONFIG_TEMPLATE, { encryptionKey });
}
