// PEM: base64 DER between BEGIN/END lines, 64 characters a line (RFC 7468), the way openssl,
// kubectl and every Kubernetes component read it.

export type PemLabel = 'CERTIFICATE' | 'PRIVATE KEY' | 'PUBLIC KEY';

export function encodePem(label: PemLabel, der: ArrayBuffer | Uint8Array): string {
  const base64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The DER bytes of the first block with this label; throws naming what was expected and where. */
export function decodePem(text: string, label: PemLabel, source = 'input'): Uint8Array {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  if (!match) {
    const found = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(text)?.[1];
    throw new Error(
      `${source}: expected a PEM "${label}" block, found ${found ? `a "${found}" block` : 'no PEM block'}` +
        (label === 'PRIVATE KEY' && found?.endsWith('PRIVATE KEY') ? ' (convert it to PKCS#8: `openssl pkcs8 -topk8 -nocrypt`)' : ''),
    );
  }
  const der = Buffer.from(match[1]!.replace(/\s+/g, ''), 'base64');
  if (der.length === 0) throw new Error(`${source}: the PEM "${label}" block is empty`);
  return new Uint8Array(der);
}
