// Small IPv4/CIDR arithmetic for the address plan. Addresses are kept as unsigned 32-bit numbers.

export interface Cidr {
  network: number;
  prefix: number;
  text: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Parses `a.b.c.d/n`; returns undefined when the text is not a CIDR or has host bits set. */
export function parseCidr(text: string): Cidr | undefined {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  if (!match) return undefined;
  const address = parseIpv4(match[1]!);
  const prefix = Number(match[2]);
  if (address === undefined || prefix > 32) return undefined;
  if (address % cidrSize(prefix) !== 0) return undefined;
  return { network: address, prefix, text: `${formatIpv4(address)}/${prefix}` };
}

export function cidrSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

export function cidrLast(cidr: Cidr): number {
  return cidr.network + cidrSize(cidr.prefix) - 1;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.network <= cidrLast(b) && b.network <= cidrLast(a);
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return address >= cidr.network && address <= cidrLast(cidr);
}

/** The Nth address inside a CIDR (0 is the network address). */
export function nthAddress(cidr: Cidr, n: number): string {
  return formatIpv4(cidr.network + n);
}

/** The Nth subnet of the given prefix length inside a CIDR, e.g. the Nth /24 of a /16. */
export function nthSubnet(cidr: Cidr, prefix: number, n: number): string {
  return `${formatIpv4(cidr.network + n * cidrSize(prefix))}/${prefix}`;
}

export function netmask(prefix: number): string {
  return formatIpv4(2 ** 32 - cidrSize(prefix));
}
