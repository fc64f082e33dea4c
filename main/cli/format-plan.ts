// The printable plan: what `hardway-lab plan` shows a person.

import type { Plan } from '../plan/address-plan.ts';
import { originLabel } from '../plan/file-plan.ts';

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function formatPlan(plan: Plan): string {
  const n = plan.network;
  const out: string[] = [];
  out.push(`Lab "${plan.labName}" — preset ${plan.preset}, provider ${plan.provider}`);
  out.push(`Node network:    ${n.nodeSubnet} (host side ${n.gateway})`);
  out.push(`Pod network:     ${n.podCidr} (one /24 per worker)`);
  out.push(`Service network: ${n.serviceCidr} (API service ${n.apiServiceIp}, cluster DNS ${n.dnsServiceIp}, domain ${n.clusterDomain})`);
  out.push(`API endpoint:    ${plan.apiEndpoint.url} (${plan.apiEndpoint.host})`);
  const v = plan.versions;
  out.push(
    `Versions:        kubernetes ${v.kubernetes}, etcd ${v.etcd}, containerd ${v.containerd}, runc ${v.runc}, CNI plugins ${v.cniPlugins}, CoreDNS ${v.coredns}`,
  );
  out.push('');
  out.push(
    formatTable(
      ['NODE', 'ROLE', 'IP', 'MAC', 'POD CIDR', 'CPUS', 'MEMORY', 'DISK'],
      plan.nodes.map((node) => [
        node.name,
        node.role,
        node.ip,
        node.mac,
        node.podCidr ?? '-',
        String(node.cpus),
        `${node.memoryMiB} MiB`,
        `${node.diskGiB} GiB`,
      ]),
    ),
  );
  out.push('');
  out.push('Pod-CIDR routes (on every node, for each other worker):');
  const byNode = new Map<string, string[]>();
  for (const route of plan.routes) byNode.set(route.node, [...(byNode.get(route.node) ?? []), `${route.destination} via ${route.via}`]);
  for (const [node, routes] of byNode) out.push(`  ${node}: ${routes.join(', ')}`);
  out.push('');
  out.push('Certificates:');
  out.push(
    formatTable(
      ['ID', 'SUBJECT', 'USAGE', 'SANS'],
      plan.certificates.map((c) => [
        c.id,
        c.kind === 'keypair' ? '(key pair)' : `CN=${c.commonName}${c.organization ? `, O=${c.organization}` : ''}`,
        c.kind === 'ca' ? 'CA' : c.usages.join('+') || '-',
        [...c.dnsNames, ...c.ipAddresses].join(',') || '-',
      ]),
    )
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  out.push('');
  out.push('Files per node:');
  for (const node of plan.nodes) {
    out.push(`  ${node.name}:`);
    out.push(
      formatTable(
        ['PATH', 'MODE', 'FROM'],
        node.files.map((f) => [f.path, f.mode.toString(8).padStart(4, '0'), originLabel(f.origin)]),
      )
        .split('\n')
        .slice(1)
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  }
  return out.join('\n');
}
