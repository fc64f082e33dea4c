// The control-plane and rbac steps' checkers: the control-plane units run on every controller (a crash loop is shown
// with its last error), each runs the lab's unit files, each API server is ready (/readyz) and
// encrypts secrets, the controller-manager and scheduler leases are held by a live holder, and the
// API server's kubelet-client identity may reach kubelets.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';
import { versionProbe } from './workers.ts';
import { parseUnitHealth, unitProbe, unitRunning } from './unit-health.ts';

export const CONTROL_PLANE_UNITS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
const RERUN = 'run `hardway-lab up --step control-plane`';
/** A lease not renewed for this long has no live holder (the lab sets a 30 s lease duration). */
export const LEASE_STALE_S = 60;
export const ENCRYPTION_FLAG = '--encryption-provider-config=/var/lib/kubernetes/encryption-config.yaml';

/** The sha256 each control-plane file should have on a controller (from the rendered lab). */
export type ExpectedFiles = Record<string, string>;

export function controlPlaneProbes(plan: Plan, node: PlannedNode, output: string, expectedFiles: ExpectedFiles = {}): Probe[] {
  const s = parseSections(output);
  const at = node.name;
  const probes: Probe[] = [];
  for (const unit of CONTROL_PLANE_UNITS) {
    const health = parseUnitHealth(s, unit);
    const crashLoop = (health?.restarts ?? 0) > 0 && !unitRunning(health);
    probes.push(
      unitProbe(
        unit,
        health,
        at,
        health?.active === 'inactive' || health?.active === 'failed'
          ? `${unit} is stopped on ${at}: \`systemctl start ${unit}\` there (\`journalctl -u ${unit} -n 50\` says why it stopped); ${RERUN}`
          : crashLoop
            ? `${unit} keeps crashing on ${at}: the last error above says why (\`journalctl -u ${unit} -n 80\`); etcd must be healthy (\`hardway-lab check etcd\`); ${RERUN}`
            : `on ${at}: \`journalctl -u ${unit} -n 50\` says why; ${RERUN}`,
      ),
    );
  }

  const files = new Map(
    (s.get('unit-files') ?? '')
      .split('\n')
      .map((l) => /^([0-9a-f]{64})\s+(\S+)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => [m[2]!, m[1]!] as const),
  );
  for (const [path, sha] of Object.entries(expectedFiles)) {
    const seen = files.get(path);
    probes.push(
      probe({
        name: `${path} as planned`,
        node: at,
        ok: seen === sha,
        expected: 'identical to the file the lab rendered',
        seen: seen === undefined ? 'missing' : seen === sha ? 'identical' : 'changed on the node',
        hint: `the unit or config on ${at} differs from the lab's (an edit by hand?): ${RERUN} puts it back and restarts what changed`,
      }),
    );
  }

  probes.push(
    versionProbe('kube-apiserver', at, s.get('version'), plan.versions.kubernetes, 'kubernetes', (v) => `put Kubernetes ${plan.versions.kubernetes} server binaries into the artifacts (\`hardway-lab artifacts build\`), or set versions.kubernetes: ${v ?? '?'}; then ${RERUN}`),
  );
  const readyz = (s.get('readyz') ?? '').trim();
  const apiHealth = parseUnitHealth(s, 'kube-apiserver');
  probes.push(
    probe({
      name: '/readyz',
      node: at,
      ok: readyz === 'ok',
      expected: 'ok',
      seen: brief(readyz || 'no answer', 200),
      hint: unitRunning(apiHealth)
        ? `the API server on ${at} runs but is not ready: \`kubectl get --raw '/readyz?verbose'\` there names the failing check (etcd? the encryption config?); ${RERUN}`
        : `kube-apiserver is not running on ${at} (see "kube-apiserver active"); clients still reach the API through the load balancer's other servers`,
    }),
  );
  const flags = (s.get('apiserver-flags') ?? '').split('\n').map((l) => l.trim());
  if (unitRunning(apiHealth)) {
    const encrypting = flags.includes(ENCRYPTION_FLAG);
    probes.push(
      probe({
        name: 'kube-apiserver encrypts secrets',
        node: at,
        ok: encrypting,
        expected: `the running kube-apiserver has ${ENCRYPTION_FLAG}`,
        seen: encrypting ? 'it has' : `it runs without it${flags.some((f) => f.startsWith('--encryption-provider-config=')) ? ` (${flags.find((f) => f.startsWith('--encryption-provider-config='))})` : ''}`,
        hint: `secrets written through ${at} are stored in plain text in etcd: ${RERUN} restores the unit and restarts it; then \`hardway-lab up --step smoke-test\` rewrites plain secrets encrypted`,
      }),
    );
  }
  return probes;
}

export interface NodeUnits {
  node: string;
  output?: string;
}

/**
 * Each lease must be held, renewed lately, and by a controller whose unit is actually running:
 * after the holder stops, the lease moves to another controller within its duration (30 s in the lab).
 */
export function leaseProbes(output: string | undefined, askedFrom: string | undefined, perNode: readonly NodeUnits[] = []): Probe[] {
  const s = parseSections(output ?? '');
  const now = Number((s.get('epoch') ?? '').trim());
  const lines = (s.get('leases') ?? '').split('\n').filter(Boolean);
  return ['kube-controller-manager', 'kube-scheduler'].map((lease) => {
    const line = lines.find((l) => l.startsWith(`${lease} `));
    const [, holder, renew] = line?.split(' ') ?? [];
    const age = renew && Number.isFinite(now) ? now - Date.parse(renew) / 1000 : NaN;
    // holderIdentity is "<hostname>_<uuid>".
    const holderNode = holder?.includes('_') ? holder.slice(0, holder.indexOf('_')) : holder;
    const holderFacts = perNode.find((n) => n.node === holderNode);
    const holderUnit = holderFacts?.output ? parseUnitHealth(parseSections(holderFacts.output), lease) : undefined;
    const holderStopped = holderUnit !== undefined && !unitRunning(holderUnit);
    const fresh = !!holder && Number.isFinite(age) && age <= LEASE_STALE_S;
    const ok = fresh && !holderStopped;
    const running = perNode.filter((n) => n.output && unitRunning(parseUnitHealth(parseSections(n.output), lease))).map((n) => n.node);
    return probe({
      name: `${lease} lease held`,
      node: askedFrom,
      ok,
      expected: `kube-system/${lease} held by a running ${lease} and renewed within ${LEASE_STALE_S} s`,
      seen: line
        ? `holder ${holderNode || 'none'}${Number.isFinite(age) ? `, renewed ${Math.round(age)} s ago` : ''}${holderStopped ? ` — but ${lease} is not running there` : ''}`
        : brief(s.get('leases') ?? 'no answer', 160),
      hint: holderStopped
        ? `${lease} on ${holderNode} holds the lease but is stopped; ${running.length ? `${running.join(', ')} will take the lease over within ~30 s (its leaseDuration)` : `no other controller runs ${lease}`}: \`systemctl start ${lease}\` on ${holderNode}, or ${RERUN}`
        : line && !holder && running.length
          ? `the lease is free: its holder stopped and released it (a clean shutdown does); ${running.join(', ')} will take it within seconds`
          : !line && /Unable to connect|Client\.Timeout|connection refused/.test(s.get('leases') ?? '')
          ? `the API server on ${askedFrom ?? 'the controller'} did not answer the lease query: see its /readyz above (\`hardway-lab check etcd\` when it names etcd)`
          : `no ${lease} is leading: check \`systemctl status ${lease}\` and its kubeconfig on the controllers (it needs /var/lib/kubernetes/${lease}.kubeconfig); ${RERUN}`,
    });
  });
}

export const KUBELET_SUBRESOURCES = ['proxy', 'stats', 'log', 'spec', 'metrics'];

/** From rbac-facts.sh: `nodes/proxy yes` lines (asked with --subresource, not as a node named "proxy"). */
export function rbacProbes(user: string, output: string, askedFrom: string): Probe[] {
  const answers = new Map(
    output
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1).trim()] as const),
  );
  return KUBELET_SUBRESOURCES.map((sub) => {
    const resource = `nodes/${sub}`;
    const answer = answers.get(resource) ?? 'no answer';
    return probe({
      name: `${user} may get ${resource}`,
      node: askedFrom,
      ok: answer === 'yes',
      expected: 'yes',
      seen: answer,
      hint: `without it \`kubectl logs/exec/port-forward\` fail with "Forbidden (user=${user}...)": run \`hardway-lab up --step rbac\` (kubectl auth can-i get nodes --subresource=${sub} --as=${user} asks the same)`,
    });
  });
}
