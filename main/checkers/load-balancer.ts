// The load-balancer step's checker: haproxy on the lb node — installed, its config valid (`haproxy -c`), running,
// listening on the API port, every API server in its backend and UP by haproxy's own health check
// (`show stat` on the stats socket), and the LB answering the Kubernetes API's /version.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';

export const HAPROXY_BACKEND = 'kube-apiservers';

export interface StatRow {
  pxname: string;
  svname: string;
  status: string;
  checkStatus: string;
  checkCode: string;
  checkDesc: string;
  addr: string;
}

/** Parses haproxy's `show stat` CSV (first line `# pxname,svname,...`). */
export function parseShowStat(csv: string): StatRow[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const headerLine = lines.find((l) => l.startsWith('# '));
  if (!headerLine) throw new Error(`not haproxy "show stat" output: ${brief(csv, 100)}`);
  const header = headerLine.slice(2).split(',');
  const col = (name: string) => header.indexOf(name);
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((line) => {
      const f = line.split(',');
      const get = (name: string) => (col(name) >= 0 ? (f[col(name)] ?? '') : '');
      return {
        pxname: get('pxname'),
        svname: get('svname'),
        status: get('status'),
        checkStatus: get('check_status'),
        checkCode: get('check_code'),
        checkDesc: get('check_desc'),
        addr: get('addr'),
      };
    });
}

/**
 * A server haproxy has really checked and found UP. Until its first health check ends haproxy
 * shows a server as UP with check status INI: that says nothing yet.
 */
export function serverUp(row: StatRow): boolean {
  return row.status.startsWith('UP') && !/^(\* )?INI/.test(row.checkStatus);
}

export interface LoadBalancerFacts {
  node: PlannedNode;
  /** provision/checks/haproxy-facts.sh output, or why it could not run. */
  output?: string;
  error?: string;
  /** Whether the control plane is part of this lab run (kube binaries available). */
  controlPlaneExpected: boolean;
  /** The host's view of the API through the LB (only asked when API servers should answer). */
  version?: { ok: boolean; seen: string };
  /** The host's TCP connect to LB:6443 (asked when no API server is expected). */
  tcp?: { ok: boolean; seen: string };
}

const COPY_AGAIN = 'run `hardway-lab up --step load-balancer` (installs haproxy, copies the lab\'s haproxy.cfg, restarts it)';

export function loadBalancerProbes(plan: Plan, facts: LoadBalancerFacts): Probe[] {
  const at = facts.node.name;
  if (facts.output === undefined) {
    return [probe({ name: 'haproxy facts', node: at, ok: false, expected: 'the lb node answers', seen: facts.error ?? 'no answer', hint: COPY_AGAIN })];
  }
  const s = parseSections(facts.output);
  const probes: Probe[] = [];
  const installed = (s.get('installed') ?? '').trim();
  probes.push(
    probe({ name: 'haproxy installed', node: at, ok: /HAProxy version/i.test(installed), expected: 'haproxy on PATH', seen: brief(installed || 'not found', 80), hint: COPY_AGAIN }),
  );
  const configCheck = (s.get('config-check') ?? '').trim();
  const valid = /exit=0$/.test(configCheck);
  probes.push(
    probe({
      name: 'config valid (haproxy -c)',
      node: at,
      ok: valid,
      expected: '/etc/haproxy/haproxy.cfg passes `haproxy -c`',
      seen: valid ? 'valid' : brief(configCheck.replace(/exit=\d+$/, ''), 240),
      hint: `fix the errors shown, or restore the lab's file: ${COPY_AGAIN}`,
    }),
  );
  const active = (s.get('active') ?? '').trim();
  probes.push(
    probe({ name: 'haproxy active', node: at, ok: active === 'active', expected: 'active', seen: active || 'unknown', hint: `on ${at}: \`systemctl restart haproxy\`; \`journalctl -u haproxy -n 30\` shows why it stopped` }),
  );
  const listen = (s.get('listen') ?? '').trim();
  probes.push(
    probe({
      name: `listens on :${plan.apiEndpoint.port}`,
      node: at,
      ok: listen !== '',
      expected: `a TCP listener on port ${plan.apiEndpoint.port}`,
      seen: listen ? brief(listen, 120) : 'nothing listens',
      hint: `haproxy's frontend binds *:${plan.apiEndpoint.port}: ${COPY_AGAIN}`,
    }),
  );

  let rows: StatRow[] | undefined;
  let statError = '';
  try {
    rows = parseShowStat(s.get('stat') ?? '');
  } catch (error) {
    statError = (error as Error).message;
  }
  const open = new Set(
    (s.get('backend-ports') ?? '')
      .split('\n')
      .filter((l) => /open$/.test(l))
      .map((l) => l.split(' ')[0]!),
  );
  for (const c of plan.nodes.filter((n) => n.role === 'controller')) {
    const row = rows?.find((r) => r.pxname === HAPROXY_BACKEND && r.svname === c.name);
    const portOpen = open.has(c.ip);
    let ok: boolean;
    let seen: string;
    let hint: string;
    if (!rows) {
      ok = false;
      seen = `stats socket unreadable: ${statError}`;
      hint = `haproxy's stats socket /run/haproxy/admin.sock must answer \`show stat\`: ${COPY_AGAIN}`;
    } else if (!row) {
      ok = false;
      seen = `not in backend ${HAPROXY_BACKEND} (servers: ${rows.filter((r) => r.pxname === HAPROXY_BACKEND && r.svname !== 'BACKEND').map((r) => r.svname).join(', ') || 'none'})`;
      hint = `every controller must be a server of the backend: ${COPY_AGAIN}`;
    } else if (serverUp(row)) {
      ok = true;
      seen = `${row.status} (${row.checkStatus} ${row.checkCode})`.trim();
      hint = '';
    } else if (!facts.controlPlaneExpected && !portOpen) {
      // No kube-apiserver in this lab run: a DOWN server with nothing on its port is expected.
      ok = true;
      seen = `${row.status}: no API server on ${c.name} yet (control plane not installed: no Kubernetes binaries)`;
      hint = '';
    } else {
      ok = false;
      seen = `${row.status} (${[row.checkStatus, row.checkCode, row.checkDesc].filter(Boolean).join(' ')})`;
      hint = portOpen
        ? `port ${c.ip}:${plan.apiEndpoint.port} answers but haproxy's check (GET /readyz over TLS) fails: on ${c.name} see \`kubectl get --raw /readyz?verbose\` or \`journalctl -u kube-apiserver -n 50\``
        : `nothing answers on ${c.ip}:${plan.apiEndpoint.port}: start the API server on ${c.name} (\`systemctl start kube-apiserver\`, or \`hardway-lab up --step control-plane\`)`;
    }
    probes.push(probe({ name: 'backend UP', node: c.name, ok, expected: `server ${c.name} (${c.ip}:${plan.apiEndpoint.port}) UP in haproxy`, seen, hint }));
  }

  if (facts.version) {
    probes.push(
      probe({
        name: 'the LB answers /version',
        ok: facts.version.ok,
        expected: `${plan.apiEndpoint.url}/version answers over TLS (verified with the lab CA)`,
        seen: facts.version.seen,
        hint: 'the host cannot reach the API through the load balancer: check that at least one backend is UP and that the host reaches the lab network',
      }),
    );
  } else if (facts.tcp) {
    probes.push(
      probe({
        name: 'the LB accepts TCP from the host',
        ok: facts.tcp.ok,
        expected: `a TCP connection from the host to ${plan.apiEndpoint.ip}:${plan.apiEndpoint.port}`,
        seen: facts.tcp.seen,
        hint: `the host cannot reach haproxy on ${plan.apiEndpoint.ip}: check the lab network and that haproxy listens`,
      }),
    );
  }
  return probes;
}
