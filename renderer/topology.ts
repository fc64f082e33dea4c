// The cluster as a picture: the load balancer on top, the controllers (etcd + control plane) in
// the middle, the workers below, each box coloured by how the node is doing.

import type { LabStatus, LabSummary, NodeSummary } from '../main/shared/api-contract.ts';
import { svg } from './dom.ts';

const BOX_W = 156;
const BOX_H = 62;
const ROW_Y = { lb: 28, controller: 150, worker: 272 } as const;
const WIDTH = 820;

/** stopped: the lab was shut down with Stop, so a VM that is off is expected, not broken. */
export function nodeHealth(node: string, status: LabStatus | undefined): 'ok' | 'down' | 'unknown' | 'degraded' | 'stopped' {
  const runtime = status?.nodes.find((n) => n.node === node);
  if (!runtime) return 'unknown';
  if (status?.lifecycle?.state === 'stopped' && runtime.vm === 'stopped') return 'stopped';
  if (runtime.vm === 'failed' || runtime.vm === 'stopped' || runtime.vm === 'absent') return 'down';
  if (runtime.ssh === 'unreachable') return 'degraded';
  if (runtime.units.some((u) => ['failed', 'inactive', 'activating', 'deactivating'].includes(u.state))) return 'degraded';
  if (status?.etcd.members.some((m) => m.name === node && m.healthy === false)) return 'degraded';
  if (runtime.vm === 'running' && runtime.ssh === 'ok') return 'ok';
  return 'unknown';
}

export function topologySvg(lab: LabSummary, status: LabStatus | undefined): SVGElement {
  const byRole = (role: NodeSummary['role']) => lab.nodes.filter((n) => n.role === role);
  const rows = { lb: byRole('lb'), controller: byRole('controller'), worker: byRole('worker') };
  const positions = new Map<string, { x: number; y: number }>();
  for (const role of ['lb', 'controller', 'worker'] as const) {
    const nodes = rows[role];
    const gap = Math.min(40, (WIDTH - nodes.length * BOX_W) / Math.max(nodes.length, 1));
    const total = nodes.length * BOX_W + (nodes.length - 1) * gap;
    nodes.forEach((node, i) => positions.set(node.name, { x: (WIDTH - total) / 2 + i * (BOX_W + gap), y: ROW_Y[role] }));
  }
  const height = (rows.worker.length ? ROW_Y.worker : ROW_Y.controller) + BOX_H + 24;
  const lines: SVGElement[] = [];
  const center = (name: string, edge: 'top' | 'bottom') => {
    const p = positions.get(name)!;
    return { x: p.x + BOX_W / 2, y: edge === 'top' ? p.y : p.y + BOX_H };
  };
  const apiHost = rows.lb[0]?.name ?? rows.controller[0]?.name;
  // The load balancer fronts every API server.
  for (const lb of rows.lb) {
    for (const c of rows.controller) {
      const a = center(lb.name, 'bottom');
      const b = center(c.name, 'top');
      lines.push(svg('path', { d: curve(a, b), class: 'topo-link api' }));
    }
  }
  // Kubelets and kube-proxy reach the API through the load balancer (or the single controller):
  // drawn as one bus to the right of the control plane, so the lines never cross a node.
  if (apiHost && rows.worker.length) {
    const hostPos = positions.get(apiHost)!;
    const rightmost = Math.max(...[...positions.values()].filter((p) => p.y < ROW_Y.worker).map((p) => p.x + BOX_W));
    const busX = Math.min(WIDTH - 6, rightmost + 34);
    const target = { x: hostPos.x + BOX_W, y: hostPos.y + BOX_H / 2 };
    const busY = ROW_Y.worker - 20;
    for (const w of rows.worker) {
      const p = positions.get(w.name)!;
      const start = { x: p.x + BOX_W / 2, y: p.y };
      lines.push(svg('path', { d: `M${start.x},${start.y} V${busY + 8} Q${start.x},${busY} ${start.x + 8},${busY} H${busX - 10} Q${busX},${busY} ${busX},${busY - 10} V${target.y + 10} Q${busX},${target.y} ${busX - 10},${target.y} H${target.x}`, class: 'topo-link client' }));
    }
  }
  // etcd peers: a ring between controllers.
  for (let i = 0; i + 1 < rows.controller.length; i++) {
    const a = positions.get(rows.controller[i]!.name)!;
    const b = positions.get(rows.controller[i + 1]!.name)!;
    lines.push(svg('line', { x1: a.x + BOX_W, y1: a.y + BOX_H / 2, x2: b.x, y2: b.y + BOX_H / 2, class: 'topo-link etcd' }));
  }
  const leader = status?.etcd.leader;
  const boxes = lab.nodes.map((node) => {
    const p = positions.get(node.name)!;
    const health = nodeHealth(node.name, status);
    return svg(
      'g',
      { class: `topo-node ${node.role} ${health}`, transform: `translate(${p.x},${p.y})`, 'data-node': node.name },
      svg('rect', { width: BOX_W, height: BOX_H, rx: 10 }),
      svg('circle', { cx: 16, cy: 18, r: 5, class: 'topo-dot' }),
      svg('text', { x: 28, y: 22, class: 'topo-name' }, node.name),
      svg('text', { x: 14, y: 40, class: 'topo-ip' }, node.ip),
      svg('text', { x: 14, y: 54, class: 'topo-role' }, roleLabel(node)),
      leader === node.name
        ? svg('g', { class: 'topo-leader', transform: `translate(${BOX_W - 70},-10)` }, svg('rect', { width: 62, height: 18, rx: 9 }), svg('text', { x: 31, y: 13, 'text-anchor': 'middle' }, '★ etcd leader'))
        : null,
    );
  });
  const labels = [
    rows.lb.length ? svg('text', { x: 8, y: ROW_Y.lb + BOX_H / 2 + 4, class: 'topo-row-label' }, 'load balancer') : null,
    svg('text', { x: 8, y: ROW_Y.controller + BOX_H / 2 + 4, class: 'topo-row-label' }, 'control plane'),
    rows.worker.length ? svg('text', { x: 8, y: ROW_Y.worker + BOX_H / 2 + 4, class: 'topo-row-label' }, 'workers') : null,
  ];
  return svg(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${height}`, class: 'topology', role: 'img', 'aria-label': `Topology of lab ${lab.name}` },
    labels,
    lines,
    boxes,
  );
}

function roleLabel(node: NodeSummary): string {
  if (node.role === 'lb') return 'haproxy :6443';
  if (node.role === 'controller') return 'etcd · apiserver';
  return `pods ${node.podCidr ?? ''}`;
}

function curve(a: { x: number; y: number }, b: { x: number; y: number }): string {
  const mid = (a.y + b.y) / 2;
  return `M${a.x},${a.y} C${a.x},${mid} ${b.x},${mid} ${b.x},${b.y}`;
}
