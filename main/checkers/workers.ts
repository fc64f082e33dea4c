// The workers step's checker: the container runtime stack of a worker, from provision/checks/worker-facts.sh —
// kernel modules and sysctls, containerd answering `ctr version`, runc, the CNI plugins and the
// bridge config for this worker's pod CIDR, and kubelet/kube-proxy when they are part of the run.

import type { Plan, PlannedNode } from '../plan/address-plan.ts';
import type { Probe } from '../shared/engine-types.ts';
import { parseSections } from '../engine/shell.ts';
import { brief, probe } from './probe.ts';
import { parseUnitHealth, unitProbe } from './unit-health.ts';

const RERUN = 'run `hardway-lab up --step workers`';

/** `1.6.20~ds1` / `v2.0.4` / `1.1.5+ds1` → `1.6.20` / `2.0.4` / `1.1.5`. */
export function versionNumber(text: string): string | undefined {
  return /v?(\d+\.\d+\.\d+)/.exec(text)?.[1];
}

/** `NAME version`: the version a binary reports (`said`) against the one the spec pins. */
export function versionProbe(name: string, node: string, said: string | undefined, wanted: string, specKey: string, hint: (seen: string | undefined) => string): Probe {
  const version = versionNumber(said ?? '');
  return probe({
    name: `${name} version`,
    node,
    ok: version === wanted,
    expected: `${wanted} (versions.${specKey} in the spec)`,
    seen: version ?? brief(said ?? 'not installed'),
    hint: hint(version),
  });
}

export function workerProbes(plan: Plan, node: PlannedNode, output: string, options: { kubeBinaries: boolean; images?: readonly string[] }): Probe[] {
  const s = parseSections(output);
  const at = node.name;
  const probes: Probe[] = [];

  const modules = s.get('modules') ?? '';
  for (const module of ['overlay', 'br_netfilter']) {
    const loaded = new RegExp(`^${module} loaded$`, 'm').test(modules);
    probes.push(
      probe({
        name: `kernel module ${module}`,
        node: at,
        ok: loaded,
        expected: 'loaded',
        seen: loaded ? 'loaded' : 'not loaded',
        hint: `on ${at}: \`modprobe ${module}\`; /etc/modules-load.d/kubernetes.conf loads it at boot (${RERUN})`,
      }),
    );
  }
  const sysctls = new Map(
    (s.get('sysctl') ?? '')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1).trim()] as const),
  );
  for (const key of ['net.bridge.bridge-nf-call-iptables', 'net.ipv4.ip_forward']) {
    const value = sysctls.get(key);
    probes.push(
      probe({
        name: `sysctl ${key}`,
        node: at,
        ok: value === '1',
        expected: '1',
        seen: value ?? 'unreadable',
        hint:
          key === 'net.ipv4.ip_forward'
            ? `without forwarding the node drops pod traffic to other nodes: \`sysctl -w ${key}=1\` on ${at} (${RERUN} also persists it)`
            : `bridged pod traffic must pass iptables for services to work (needs br_netfilter): \`sysctl -w ${key}=1\` on ${at} (${RERUN})`,
      }),
    );
  }

  probes.push(unitProbe('containerd', parseUnitHealth(s, 'containerd'), at, `on ${at}: \`systemctl start containerd\`; \`journalctl -u containerd -n 30\` tells why it stopped (${RERUN})`));
  const ctr = s.get('ctr-version') ?? '';
  const serverVersion = /Server:\s*\n\s*Version:\s*(\S+)/.exec(ctr)?.[1];
  probes.push(
    probe({
      name: 'ctr version reaches containerd',
      node: at,
      ok: serverVersion !== undefined,
      expected: 'client and server versions (the daemon answers on /run/containerd/containerd.sock)',
      seen: serverVersion ? `server ${serverVersion}` : brief(ctr, 160),
      hint: `containerd is not answering on its socket on ${at}: ${RERUN}, then \`journalctl -u containerd\``,
    }),
  );
  probes.push(
    versionProbe('containerd', at, s.get('containerd-version'), plan.versions.containerd, 'containerd', (v) => `put containerd ${plan.versions.containerd} into the artifacts (bin/containerd*), or set versions.containerd: ${v ?? '?'} in hardway-lab.yaml; then ${RERUN}`),
  );
  const runcVersion = versionNumber(s.get('runc-version') ?? '');
  const runcPath = (s.get('runc-path') ?? '').trim();
  probes.push(
    probe({
      name: 'runc',
      node: at,
      ok: runcVersion === plan.versions.runc && runcPath === '/usr/local/bin/runc',
      expected: `/usr/local/bin/runc ${plan.versions.runc}`,
      seen: runcVersion ? `${runcPath || 'not on PATH'} ${runcVersion}` : brief(s.get('runc-version') ?? 'missing'),
      hint: runcVersion && runcVersion !== plan.versions.runc
        ? `put runc ${plan.versions.runc} into the artifacts (bin/runc), or set versions.runc: ${runcVersion}; then ${RERUN}`
        : `containerd starts every container through runc: ${RERUN} installs it to /usr/local/bin`,
    }),
  );

  let bridge: { type?: string; bridge?: string; cniVersion?: string; ipam?: { ranges?: { subnet?: string }[][] } } | undefined;
  let bridgeError = '';
  try {
    bridge = JSON.parse(s.get('bridge-conf') ?? '') as typeof bridge;
  } catch (error) {
    bridgeError = `${brief(s.get('bridge-conf') ?? '', 80)} (${(error as Error).message})`;
  }
  const subnet = bridge?.ipam?.ranges?.[0]?.[0]?.subnet;
  probes.push(
    probe({
      name: 'CNI bridge config',
      node: at,
      ok: bridge?.type === 'bridge' && subnet === node.podCidr,
      expected: `/etc/cni/net.d/10-bridge.conf: bridge plugin, subnet ${node.podCidr} (this worker's pod CIDR)`,
      seen: bridge ? `type ${bridge.type}, subnet ${subnet ?? 'none'}` : `unreadable: ${bridgeError}`,
      hint: `each worker hands out pod addresses from its own /24, which the routes of the other nodes point at: ${RERUN} copies the lab's config`,
    }),
  );
  const wantedCniVersion = bridge?.cniVersion ?? '1.0.0';
  const plugins = new Map(
    (s.get('cni-plugins') ?? '')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1)] as const),
  );
  for (const name of ['bridge', 'host-local', 'loopback']) {
    const report = plugins.get(name) ?? 'missing';
    let supports = false;
    try {
      supports = (JSON.parse(report) as { supportedVersions?: string[] }).supportedVersions?.includes(wantedCniVersion) ?? false;
    } catch {
      supports = false;
    }
    probes.push(
      probe({
        name: `CNI plugin ${name}`,
        node: at,
        ok: supports,
        expected: `/opt/cni/bin/${name}, speaking CNI ${wantedCniVersion}`,
        seen: report === 'missing' ? 'missing' : supports ? `supports ${wantedCniVersion}` : brief(report, 120),
        hint: report === 'missing' ? `${RERUN} copies the CNI plugins to /opt/cni/bin` : `the plugin is too old for cniVersion ${wantedCniVersion}: use CNI plugins ${plan.versions.cniPlugins}`,
      }),
    );
  }

  probes.push(versionProbe('crictl', at, s.get('crictl-version'), plan.versions.crictl, 'crictl', () => `${RERUN} installs crictl ${plan.versions.crictl} from the artifacts (\`crictl ps\` shows the containers the kubelet runs)`));

  const images = new Set((s.get('images') ?? '').split('\n').map((l) => l.trim()).filter(Boolean));
  const pinned = new Set((s.get('pinned-images') ?? '').split('\n').map((l) => l.trim()).filter(Boolean));
  for (const reference of options.images ?? []) {
    const present = images.has(reference);
    probes.push(
      probe({
        name: `image ${reference}`,
        node: at,
        ok: present,
        expected: 'imported into containerd (namespace k8s.io)',
        seen: present ? 'present' : `absent (${images.size} image${images.size === 1 ? '' : 's'} there)`,
        hint: `the workers reach no registry, so every image is imported from the artifacts' images/: ${RERUN}`,
      }),
    );
  }
  const pause = plan.images.pause;
  if ((options.images ?? []).includes(pause)) {
    probes.push(
      probe({
        name: 'sandbox image pinned',
        node: at,
        ok: pinned.has(pause),
        expected: `${pause} pinned (containerd's pinned_images.sandbox), so image GC never removes it`,
        seen: pinned.has(pause) ? 'pinned' : `not pinned (pinned: ${[...pinned].join(', ') || 'none'})`,
        hint: `/etc/containerd/config.toml on ${at} must name ${pause} under [plugins.'io.containerd.cri.v1.images'.pinned_images] sandbox (a version-2 sandbox_image key is ignored by containerd 2): ${RERUN}`,
      }),
    );
  }

  if (options.kubeBinaries) {
    for (const unit of ['kubelet', 'kube-proxy']) {
      probes.push(unitProbe(unit, parseUnitHealth(s, unit), at, `on ${at}: \`journalctl -u ${unit} -n 50\`${unit === 'kube-proxy' ? ' (kube-proxy writes the iptables rules of services and NodePorts)' : ''}; ${RERUN}`));
      probes.push(versionProbe(unit, at, s.get(`${unit}-version`), plan.versions.kubernetes, 'kubernetes', () => `${RERUN} installs ${unit} ${plan.versions.kubernetes} from the artifacts`));
    }
  }
  return probes;
}
