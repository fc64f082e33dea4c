// Steps 6 and 7 checkers: the control-plane units run on every controller, each API server is
// ready (/readyz), the controller-manager and scheduler leases are held, and the API server's
// kubelet-client identity may reach kubelets.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../engine/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';
import { versionNumber } from './workers.ts';

export const CONTROL_PLANE_UNITS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
const RERUN = 'run `hardway-lab up --step control-plane`';
/** A lease not renewed for this long has no live holder (the default lease duration is 15 s). */
export const LEASE_STALE_S = 60;

export function controlPlaneProbes(plan: Plan, node: PlannedNode, output: string): Probe[] {
  const s = parseSections(output);
  const at = node.name;
  const probes: Probe[] = [];
  for (const unit of CONTROL_PLANE_UNITS) {
    const state = (s.get(unit) ?? '').trim();
    probes.push(
      probe({ name: `${unit} active`, node: at, ok: state === 'active', expected: 'active', seen: state || 'unknown', hint: `on ${at}: \`journalctl -u ${unit} -n 50\` says why; ${RERUN}` }),
    );
  }
  const version = versionNumber(s.get('version') ?? '');
  probes.push(
    probe({
      name: 'kube-apiserver version',
      node: at,
      ok: version === plan.versions.kubernetes,
      expected: `${plan.versions.kubernetes} (versions.kubernetes in the spec)`,
      seen: version ?? brief(s.get('version') ?? 'not installed'),
      hint: `put Kubernetes ${plan.versions.kubernetes} server binaries into the artifacts, or set versions.kubernetes: ${version ?? '?'}; then ${RERUN}`,
    }),
  );
  const readyz = (s.get('readyz') ?? '').trim();
  probes.push(
    probe({
      name: '/readyz',
      node: at,
      ok: readyz === 'ok',
      expected: 'ok',
      seen: brief(readyz || 'no answer', 200),
      hint: `the API server on ${at} is not ready: \`kubectl get --raw '/readyz?verbose'\` names the failing check (etcd? the encryption config?); ${RERUN}`,
    }),
  );
  return probes;
}

export function leaseProbes(output: string | undefined, askedFrom: string | undefined): Probe[] {
  const s = parseSections(output ?? '');
  const now = Number((s.get('epoch') ?? '').trim());
  const lines = (s.get('leases') ?? '').split('\n').filter(Boolean);
  return ['kube-controller-manager', 'kube-scheduler'].map((lease) => {
    const line = lines.find((l) => l.startsWith(`${lease} `));
    const [, holder, renew] = line?.split(' ') ?? [];
    const age = renew && Number.isFinite(now) ? now - Date.parse(renew) / 1000 : NaN;
    const ok = !!holder && Number.isFinite(age) && age <= LEASE_STALE_S;
    return probe({
      name: `${lease} lease held`,
      node: askedFrom,
      ok,
      expected: `kube-system/${lease} held and renewed within ${LEASE_STALE_S} s`,
      seen: line ? `holder ${holder || 'none'}${Number.isFinite(age) ? `, renewed ${Math.round(age)} s ago` : ''}` : brief(s.get('leases') ?? 'no answer', 160),
      hint: `no ${lease} is leading: check \`systemctl status ${lease}\` and its kubeconfig on the controllers (it needs /var/lib/kubernetes/${lease}.kubeconfig); ${RERUN}`,
    });
  });
}

export const KUBELET_SUBRESOURCES = ['nodes/proxy', 'nodes/stats', 'nodes/log', 'nodes/spec', 'nodes/metrics'];

export function rbacProbes(user: string, output: string, askedFrom: string): Probe[] {
  const answers = new Map(
    output
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1).trim()] as const),
  );
  return KUBELET_SUBRESOURCES.map((resource) => {
    const answer = answers.get(resource) ?? 'no answer';
    return probe({
      name: `${user} may get ${resource}`,
      node: askedFrom,
      ok: answer === 'yes',
      expected: 'yes',
      seen: answer,
      hint: `without it \`kubectl logs/exec/port-forward\` fail with "Forbidden (user=${user}...)": run \`hardway-lab up --step rbac\``,
    });
  });
}
