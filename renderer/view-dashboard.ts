// Dashboard: the cluster at a glance. Topology, health of etcd, the API (through the load
// balancer) and the Kubernetes nodes, a card per node, and the timeline of the provisioning steps.

import type { Health, NodeRuntime, NodeSummary, OperationState, StepInfo, StepState } from '../main/shared/api-contract.ts';
import type { Actions } from './actions.ts';
import { formatDuration, formatTime, h, statusDot } from './dom.ts';
import type { AppState } from './store.ts';
import { nodeHealth, topologySvg } from './topology.ts';

export function renderDashboard(state: AppState, actions: Actions): HTMLElement {
  const lab = state.lab;
  if (!lab) {
    return h('section', { class: 'view dashboard' }, state.labError ? notice('error', 'Cannot read the lab', state.labError) : h('p', { class: 'muted' }, 'Loading the lab…'));
  }
  return h(
    'section',
    { class: 'view dashboard' },
    operationsBar(Object.values(state.operations), actions),
    state.status?.lifecycle?.state === 'stopped' ? notice('info', 'The lab is stopped', `Stopped at ${formatTime(state.status.lifecycle.since)}. Start boots the VMs again and waits until every checker that passed before passes again; the disks keep etcd's data and every certificate.`) : null,
    state.statusError ? notice('warn', 'Live status is not available', state.statusError) : null,
    lab.warnings.length ? notice('warn', 'Spec warnings', lab.warnings.join('\n')) : null,
    h(
      'div',
      { class: 'dash-top' },
      h('div', { class: 'card topology-card' }, cardTitle('Topology', `${lab.preset} preset · ${lab.provider} · subnet ${lab.network.nodeSubnet}`), topologySvg(lab, state.status), legend()),
      h('div', { class: 'health-column' }, etcdCard(state), apiCard(state, actions), kubeNodesCard(state), networkCard(state)),
    ),
    h(
      'div',
      { class: 'section-head' },
      h('h2', {}, 'Nodes'),
      h('span', { class: 'muted small' }, state.status ? `updated ${formatTime(state.status.at)} · sweep took ${formatDuration(state.status.tookMs)}` : ''),
      h('button', { class: 'btn ghost small', onclick: () => void actions.refreshStatus(), disabled: state.statusLoading }, state.statusLoading ? 'Refreshing…' : 'Refresh'),
    ),
    h('div', { class: 'node-grid' }, lab.nodes.map((node) => nodeCard(node, state.status?.nodes.find((n) => n.node === node.name), state, actions))),
    h('div', { class: 'section-head' }, h('h2', {}, 'Provisioning timeline')),
    timeline(state),
  );
}

function notice(level: 'warn' | 'error' | 'info', title: string, text: string): HTMLElement {
  return h('div', { class: `notice ${level}`, role: level === 'error' ? 'alert' : 'status' }, h('strong', {}, title), h('pre', {}, text));
}

function cardTitle(title: string, sub?: string): HTMLElement {
  return h('div', { class: 'card-title' }, h('h3', {}, title), sub ? h('span', { class: 'muted small' }, sub) : null);
}

function legend(): HTMLElement {
  const item = (cls: string, label: string) => h('span', { class: `legend-item ${cls}` }, h('i', {}), label);
  return h('div', { class: 'legend' }, item('ok', 'healthy'), item('degraded', 'degraded'), item('down', 'down'), item('unknown', 'unknown'), h('span', { class: 'legend-sep' }), h('span', { class: 'legend-line api' }, 'LB → API'), h('span', { class: 'legend-line client' }, 'kubelet → LB'), h('span', { class: 'legend-line etcd' }, 'etcd peers'));
}

function healthPill(health: Health | string, label?: string): HTMLElement {
  return h('span', { class: `pill ${health}` }, label ?? health);
}

function etcdCard(state: AppState): HTMLElement {
  const etcd = state.status?.etcd;
  return h(
    'div',
    { class: 'card health-card', 'data-testid': 'etcd-card' },
    cardTitle('etcd'),
    h('div', { class: 'health-line' }, healthPill(etcd?.health ?? 'unknown', etcd ? etcdLabel(etcd.health) : 'unknown'), h('span', { class: 'muted small' }, etcd?.leader ? `leader: ${etcd.leader}` : '')),
    etcd?.members.length
      ? h(
          'ul',
          { class: 'member-list' },
          etcd.members.map((m) =>
            h('li', {}, statusDot(m.healthy === true ? 'ok' : m.healthy === false ? 'down' : 'unknown', m.healthy === true ? 'healthy' : m.healthy === false ? 'unhealthy' : 'health unknown'), h('span', {}, m.name), m.isLeader ? h('span', { class: 'tag' }, 'leader') : null, h('span', { class: 'muted small mono' }, m.clientUrl ?? '')),
          ),
        )
      : null,
    h('p', { class: 'muted small detail' }, etcd?.detail ?? 'no status yet'),
  );
}

function etcdLabel(health: Health): string {
  return health === 'ok' ? 'healthy' : health;
}

function apiCard(state: AppState, actions: Actions): HTMLElement {
  const api = state.status?.api;
  const kubeconfig = state.lab?.adminKubeconfig;
  return h(
    'div',
    { class: 'card health-card', 'data-testid': 'api-card' },
    cardTitle('Kubernetes API', 'through the load balancer'),
    h('div', { class: 'health-line' }, healthPill(api?.health ?? 'unknown', api?.health === 'ok' ? 'ready' : (api?.health ?? 'unknown')), h('span', { class: 'mono small' }, api?.url ?? state.lab?.apiEndpoint.url ?? '')),
    h('p', { class: 'muted small detail' }, api?.detail ?? 'no status yet'),
    kubeconfig
      ? h(
          'div',
          { class: 'card-actions' },
          h('button', { class: 'btn small', 'data-action': 'copy-kubeconfig', title: `Copies export KUBECONFIG=${kubeconfig}`, onclick: () => void actions.copyKubeconfigPath() }, 'Copy KUBECONFIG'),
          h('button', { class: 'btn small', 'data-action': 'merge-kubeconfig', title: 'Adds or updates the context hardway-<lab> in $KUBECONFIG or ~/.kube/config; every other entry stays, the current context is kept', onclick: () => void actions.mergeKubeconfig(false) }, 'Merge into kubeconfig'),
        )
      : null,
  );
}

function kubeNodesCard(state: AppState): HTMLElement {
  const kn = state.status?.kubeNodes;
  return h(
    'div',
    { class: 'card health-card', 'data-testid': 'kube-nodes-card' },
    cardTitle('Kubernetes nodes'),
    h('div', { class: 'health-line' }, healthPill(kn?.health ?? 'unknown', kn && kn.nodes.length ? `${kn.nodes.filter((n) => n.ready).length}/${kn.nodes.length} Ready` : (kn?.health ?? 'unknown'))),
    kn?.nodes.length ? h('ul', { class: 'member-list' }, kn.nodes.map((n) => h('li', {}, statusDot(n.ready ? 'ok' : 'down', n.ready ? 'Ready' : 'NotReady'), n.name, h('span', { class: 'muted small' }, n.ready ? 'Ready' : 'NotReady')))) : null,
    h('p', { class: 'muted small detail' }, kn?.detail ?? 'no status yet'),
  );
}

function networkCard(state: AppState): HTMLElement {
  const n = state.lab!.network;
  const row = (k: string, v: string) => h('div', { class: 'kv' }, h('span', { class: 'muted' }, k), h('span', { class: 'mono' }, v));
  return h('div', { class: 'card health-card' }, cardTitle('Networks'), row('pods', n.podCidr), row('services', n.serviceCidr), row('API service / DNS', `${n.apiServiceIp} / ${n.dnsServiceIp}`), row('domain', n.clusterDomain));
}

function nodeCard(node: NodeSummary, runtime: NodeRuntime | undefined, state: AppState, actions: Actions): HTMLElement {
  const health = nodeHealth(node.name, state.status);
  const unitState = (unit: string) => runtime?.units.find((u) => u.unit === unit)?.state ?? 'unknown';
  const memUsed = runtime?.memTotalMiB !== undefined && runtime.memAvailableMiB !== undefined ? runtime.memTotalMiB - runtime.memAvailableMiB : undefined;
  const memFraction = memUsed !== undefined && runtime?.memTotalMiB ? memUsed / runtime.memTotalMiB : undefined;
  const loadFraction = runtime?.load1 !== undefined && (runtime.cpus ?? node.cpus) ? runtime.load1 / (runtime.cpus ?? node.cpus) : undefined;
  return h(
    'article',
    { class: `card node-card ${health}`, 'data-node': node.name },
    h('header', {}, statusDot(health, `node ${health}`), h('h3', {}, node.name), h('span', { class: `role-badge ${node.role}` }, node.role)),
    h(
      'div',
      { class: 'node-facts' },
      fact('IP', node.ip),
      node.podCidr ? fact('pod CIDR', node.podCidr) : null,
      fact('VM', runtime?.vm ?? 'unknown', runtime?.vmDetail),
      fact('SSH', runtime?.ssh ?? 'unknown', runtime?.sshDetail),
      fact('size', `${node.cpus} vCPU · ${node.memoryMiB} MiB · ${node.diskGiB} GiB`),
      runtime?.uptimeSeconds !== undefined ? fact('uptime', formatDuration(runtime.uptimeSeconds * 1000)) : null,
    ),
    meter('CPU load', loadFraction, runtime?.load1 !== undefined ? `${runtime.load1.toFixed(2)} on ${runtime.cpus ?? node.cpus} vCPU` : 'unknown'),
    meter('memory', memFraction, memUsed !== undefined ? `${memUsed} / ${runtime!.memTotalMiB} MiB` : 'unknown'),
    h(
      'ul',
      { class: 'unit-list' },
      node.components.map((unit) => {
        const s = unitState(unit);
        return h('li', { 'data-unit': unit }, h('span', { class: `dot ${unitClass(s)}`, 'aria-hidden': 'true' }), h('span', { class: 'mono' }, unit), h('span', { class: `unit-state ${unitClass(s)}` }, s));
      }),
    ),
    h('footer', {}, h('button', { class: 'btn small', onclick: () => void actions.openTerminal(node.name, 'terminals') }, 'Open terminal')),
  );
}

function unitClass(state: string): string {
  if (state === 'active') return 'ok';
  if (state === 'failed') return 'down';
  if (state === 'inactive' || state === 'activating' || state === 'deactivating') return 'degraded';
  return 'unknown';
}

function fact(label: string, value: string, title?: string): HTMLElement {
  return h('div', { class: 'fact', title: title ?? null }, h('span', { class: 'muted' }, label), h('span', { class: 'mono' }, value));
}

function meter(label: string, fraction: number | undefined, text: string): HTMLElement {
  const pct = fraction === undefined ? 0 : Math.max(0, Math.min(1, fraction)) * 100;
  const level = fraction === undefined ? 'unknown' : fraction > 0.9 ? 'down' : fraction > 0.7 ? 'degraded' : 'ok';
  return h('div', { class: 'meter' }, h('div', { class: 'meter-label' }, h('span', { class: 'muted' }, label), h('span', { class: 'small' }, text)), h('div', { class: `meter-track ${level}` }, h('div', { class: 'meter-fill', style: `width:${pct.toFixed(1)}%` })));
}

function operationsBar(operations: OperationState[], actions: Actions): HTMLElement | null {
  const shown = operations.filter((o) => o.kind === 'up' || o.kind === 'destroy' || o.kind === 'stop' || o.kind === 'start' || o.kind === 'rewind').slice(-2);
  if (!shown.length) return null;
  return h(
    'div',
    { class: 'operations' },
    shown.map((o) =>
      h(
        'div',
        { class: `operation ${o.status}`, 'data-operation': o.kind },
        h(
          'div',
          { class: 'operation-head' },
          h('strong', {}, o.label),
          h('span', { class: 'muted small' }, o.status === 'running' ? (o.message ?? 'working…') : o.status === 'done' ? `done in ${formatDuration(durationOf(o))}` : o.status),
          o.status === 'running' && (o.kind === 'up' || o.kind === 'start') ? h('button', { class: 'btn small', 'data-action': 'cancel-operation', title: 'Stops after killing the command in flight; what was done stays, and Create cluster resumes from there', onclick: () => void actions.cancelOperation(o.id) }, 'Cancel') : null,
        ),
        h('div', { class: `progress ${o.fraction === undefined && o.status === 'running' ? 'indeterminate' : ''}` }, h('div', { class: 'progress-fill', style: `width:${((o.status === 'done' ? 1 : (o.fraction ?? 0)) * 100).toFixed(1)}%` })),
        o.error ? h('pre', { class: 'operation-error' }, o.error) : null,
      ),
    ),
  );
}

function durationOf(o: OperationState): number | undefined {
  return o.finishedAt ? Date.parse(o.finishedAt) - Date.parse(o.startedAt) : undefined;
}

function timeline(state: AppState): HTMLElement {
  if (!state.steps) return h('p', { class: 'muted' }, state.stepsError ?? 'Loading steps…');
  const states = state.steps.map((s) => state.stepStates[s.id]);
  const longest = Math.max(1, ...states.map((s) => s?.durationMs ?? 0));
  return h('ol', { class: 'timeline' }, state.steps.map((step, i) => timelineRow(step, states[i], longest, state)));
}

function timelineRow(step: StepInfo, st: StepState | undefined, longest: number, state: AppState): HTMLElement {
  const status = st?.status ?? 'pending';
  const progress = state.progress[step.id];
  const width = st?.durationMs ? Math.max(0.5, (st.durationMs / longest) * 100) : status === 'running' ? (progress?.fraction ?? 0.05) * 100 : 0;
  return h(
    'li',
    { class: `timeline-row ${status}`, 'data-step': step.id },
    h('span', { class: 'timeline-index' }, String(step.index)),
    h('span', { class: 'timeline-title' }, step.title),
    h('span', { class: `status-chip ${status}` }, status),
    h('span', { class: 'timeline-bar' }, h('span', { class: 'timeline-fill', style: `width:${width.toFixed(1)}%` })),
    h('span', { class: 'timeline-duration mono small' }, status === 'running' ? (progress?.message ?? 'running…') : formatDuration(st?.durationMs)),
  );
}
