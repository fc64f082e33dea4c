// The plan: everything that follows deterministically from a spec. Nodes with their addresses,
// the API endpoint, pod CIDRs and routes, every certificate and every file that lands on a node.
// Same spec, same plan: nothing here reads the clock, the disk or randomness.

import { createHash } from 'node:crypto';
import { type ClusterSpec, type ProviderName, ROLES, type Role, type RoleSpec, type VersionsSpec } from '../spec/cluster-spec.ts';
import { netmask, nthAddress, nthSubnet, parseCidr, type Cidr } from './ipv4.ts';
import { planCertificates, type CertificatePlan } from './certificate-plan.ts';
import { planNodeFiles, type PlannedFile } from './file-plan.ts';
import { labImages, type LabImages } from './image-plan.ts';

/** Offsets inside the node subnet: the host side of the lab network is .1. */
export const NODE_OFFSET: Record<Role, number> = { lb: 10, controller: 11, worker: 21 };
export const GATEWAY_OFFSET = 1;
export const API_PORT = 6443;

export interface PlannedNode {
  name: string;
  role: Role;
  /** Position within its role (worker-1 has index 1). */
  index: number;
  ip: string;
  mac: string;
  /** Workers only: the /24 their pods get. */
  podCidr?: string;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  files: PlannedFile[];
}

export interface PlannedRoute {
  node: string;
  destination: string;
  via: string;
  /** The worker that owns the destination pod CIDR. */
  owner: string;
}

export interface LabNetwork {
  nodeSubnet: string;
  prefixLength: number;
  netmask: string;
  gateway: string;
  podCidr: string;
  serviceCidr: string;
  apiServiceIp: string;
  dnsServiceIp: string;
  clusterDomain: string;
}

export interface Plan {
  labName: string;
  preset: string;
  provider: ProviderName;
  network: LabNetwork;
  /** Where clients reach the API: the lb when there is one, else the first controller. */
  apiEndpoint: { ip: string; port: number; host: string; url: string };
  nodes: PlannedNode[];
  certificates: CertificatePlan[];
  routes: PlannedRoute[];
  versions: VersionsSpec;
  /** The images the lab makes and imports on every worker. */
  images: LabImages;
}

export function nodeNamesFor(role: Role, r: Pick<RoleSpec, 'count' | 'names'>): string[] {
  if (r.names) return r.names;
  if (role === 'lb') return r.count === 1 ? ['lb'] : Array.from({ length: r.count }, (_, i) => `lb-${i}`);
  return Array.from({ length: r.count }, (_, i) => `${role}-${i}`);
}

/** A stable, locally administered MAC: QEMU's 52:54:00 prefix, two bytes from the lab name, the IP's last octet. */
export function macFor(labName: string, ip: string): string {
  const digest = createHash('sha256').update(labName).digest();
  const last = Number(ip.split('.')[3]);
  return ['52', '54', '00', hex(digest[0]!), hex(digest[1]!), hex(last)].join(':');
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

export function buildPlan(spec: ClusterSpec): Plan {
  const nodeSubnet = mustCidr(spec.network.nodeSubnet);
  const podCidr = mustCidr(spec.network.podCidr);
  const serviceCidr = mustCidr(spec.network.serviceCidr);
  const network: LabNetwork = {
    nodeSubnet: nodeSubnet.text,
    prefixLength: nodeSubnet.prefix,
    netmask: netmask(nodeSubnet.prefix),
    gateway: nthAddress(nodeSubnet, GATEWAY_OFFSET),
    podCidr: podCidr.text,
    serviceCidr: serviceCidr.text,
    apiServiceIp: nthAddress(serviceCidr, 1),
    dnsServiceIp: nthAddress(serviceCidr, 10),
    clusterDomain: spec.network.clusterDomain,
  };

  const nodes: PlannedNode[] = [];
  for (const role of ROLES) {
    const r = spec.nodes[role];
    nodeNamesFor(role, r).forEach((name, index) => {
      const ip = nthAddress(nodeSubnet, NODE_OFFSET[role] + index);
      nodes.push({
        name,
        role,
        index,
        ip,
        mac: macFor(spec.name, ip),
        podCidr: role === 'worker' ? nthSubnet(podCidr, 24, index) : undefined,
        cpus: r.cpus,
        memoryMiB: r.memoryMiB,
        diskGiB: r.diskGiB,
        files: [],
      });
    });
  }

  const lb = nodes.find((n) => n.role === 'lb');
  const endpointNode = lb ?? nodes.find((n) => n.role === 'controller')!;
  const apiEndpoint = {
    ip: endpointNode.ip,
    port: API_PORT,
    host: endpointNode.name,
    url: `https://${endpointNode.ip}:${API_PORT}`,
  };

  const workers = nodes.filter((n) => n.role === 'worker');
  const routes: PlannedRoute[] = [];
  for (const node of nodes) {
    for (const worker of workers) {
      if (worker.name === node.name) continue;
      routes.push({ node: node.name, destination: worker.podCidr!, via: worker.ip, owner: worker.name });
    }
  }

  const plan: Plan = {
    labName: spec.name,
    preset: spec.preset,
    provider: spec.provider,
    network,
    apiEndpoint,
    nodes,
    certificates: [],
    routes,
    versions: { ...spec.versions },
    images: labImages(spec.versions),
  };
  plan.certificates = planCertificates(plan);
  for (const node of nodes) node.files = planNodeFiles(plan, node);
  return plan;
}

function mustCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`internal: buildPlan called with an unvalidated CIDR ${text}`);
  return cidr;
}

export function nodesOf(plan: Plan, role: Role): PlannedNode[] {
  return plan.nodes.filter((n) => n.role === role);
}

export function findNode(plan: Plan, name: string): PlannedNode {
  const node = plan.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node named "${name}" in lab ${plan.labName}; nodes: ${plan.nodes.map((n) => n.name).join(', ')}`);
  return node;
}
