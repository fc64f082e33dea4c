// The DNS resolvers a connected lab's nodes use (network.nat: true): the spec's network.dns, else
// the host's own, from its resolv.conf. A loopback resolver (systemd-resolved's 127.0.0.53, a local
// dnsmasq) is not reachable from a VM, so those are skipped, and systemd-resolved's list of real
// upstream servers is read instead.

import { readFileSync } from 'node:fs';
import type { ClusterSpec } from '../spec/cluster-spec.ts';

const RESOLV_FILES = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf'];

export function parseNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\d{1,3}(?:\.\d{1,3}){3})\s*$/.exec(line);
    if (m && !m[1]!.startsWith('127.') && m[1] !== '0.0.0.0' && !out.includes(m[1]!)) out.push(m[1]!);
  }
  return out;
}

/** The resolvers for the nodes, or [] when the lab is isolated or none is known (then say so). */
export function labResolvers(spec: Pick<ClusterSpec, 'network'>, files: readonly string[] = RESOLV_FILES): string[] {
  if (!spec.network.nat) return [];
  if (spec.network.dns?.length) return [...spec.network.dns];
  for (const file of files) {
    try {
      const found = parseNameservers(readFileSync(file, 'utf8'));
      if (found.length) return found.slice(0, 3);
    } catch {
      // Not there on this host.
    }
  }
  return [];
}

export const NO_RESOLVER_WARNING =
  'network.nat is on, but this host has no resolver a VM can reach (only loopback ones in /etc/resolv.conf): the nodes can reach addresses outside, but not names; set network.dns in hardway-lab.yaml';
