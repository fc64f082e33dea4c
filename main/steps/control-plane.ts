// Steps 6 and 7: the Kubernetes control plane on every controller, and the RBAC that lets the
// API server reach kubelets.

import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlaneProbes, leaseProbes, rbacProbes } from '../checkers/control-plane.ts';
import { unreachableProbe } from '../checkers/probe.ts';
import { KUBE_CONTROL_PLANE_BINARIES } from '../artifacts/artifact-set.ts';
import { renderTemplate } from '../render/template.ts';
import { parseSections } from '../engine/shell.ts';
import { StepError, type StepContext, type StepDefinition } from '../engine/step-definition.ts';
import type { NodeSession } from '../engine/node-session.ts';
import { binaryJobs, byTemplate, copyCommands, ensureServices, syncJobs, touches } from './step-support.ts';

const FILES = byTemplate(
  'systemd/kube-apiserver.service',
  'systemd/kube-controller-manager.service',
  'systemd/kube-scheduler.service',
  'controller/kube-scheduler.yaml',
);
const ADMIN = '--kubeconfig /root/admin.kubeconfig';
/** API server /readyz after start, measured under TCG: ~35 s; the timing scale stretches this. */
const READY_WAIT_MS = 60_000;
const RBAC_MANIFEST = '/root/hardway/apiserver-to-kubelet-rbac.yaml';

export function kubeletClientUser(ctx: Pick<StepContext, 'plan'>): string {
  return ctx.plan.certificates.find((c) => c.id === 'apiserver-kubelet-client')?.commonName ?? 'kube-apiserver-kubelet-client';
}

async function waitForReady(ctx: StepContext, session: NodeSession): Promise<void> {
  const deadline = Date.now() + READY_WAIT_MS * ctx.timing.scale;
  let last = '';
  for (;;) {
    const result = await session.exec(`kubectl ${ADMIN} --request-timeout=5s get --raw /readyz`, { quietStdout: true });
    if (result.code === 0 && result.stdout.trim() === 'ok') return;
    last = (result.stdout + result.stderr).trim().split('\n').slice(-3).join(' | ');
    if (Date.now() > deadline) {
      throw new StepError(`the API server on ${session.name} did not become ready`, {
        node: session.name,
        output: last,
        hint: `read \`journalctl -u kube-apiserver -n 80\` on ${session.name}; etcd must be healthy (\`hardway-lab check etcd\`)`,
      });
    }
    await sleep(3000, undefined, { signal: ctx.signal });
  }
}

export const controlPlaneStep: StepDefinition = {
  id: 'control-plane',
  title: 'Control plane: API server, controller manager, scheduler',
  explanation:
    'Every controller runs the API server (the only component that talks to etcd), the controller manager and the ' +
    'scheduler. The last two use leader election: one of each is active at a time, and the holder of its lease in ' +
    'kube-system does the work. The API server is ready when /readyz says ok — under software emulation that takes ' +
    'about half a minute after start.',
  roles: ['controller'],
  needsKubeBinaries: true,
  commands: (env, node) => [
    { node: node.name, command: 'install -m 0755 kube-apiserver kube-controller-manager kube-scheduler kubectl /usr/local/bin/', description: 'from the artifacts' },
    ...copyCommands(env, node, FILES),
    { node: node.name, command: 'systemctl daemon-reload && systemctl enable --now kube-apiserver kube-controller-manager kube-scheduler' },
    { node: node.name, command: `kubectl ${ADMIN} get --raw /readyz`, description: 'ok when ready' },
    { node: node.name, command: `kubectl ${ADMIN} -n kube-system get lease kube-controller-manager kube-scheduler`, description: 'who leads' },
  ],
  async run(ctx) {
    const artifacts = await ctx.artifacts(['kubernetes']);
    const binaries = binaryJobs(KUBE_CONTROL_PLANE_BINARIES.map((name) => ({ local: artifacts.require(name), remote: `/usr/local/bin/${name}` })));
    const etcdVersion = artifacts.versions().etcd ?? ctx.plan.versions.etcd;
    if (/^3\.4\./.test(etcdVersion)) {
      ctx.warn(`etcd ${etcdVersion} is older than recent Kubernetes expects (3.5.13+): expect "RequestWatchProgress not supported" in the API server log`);
    }
    await ctx.forEachNode(ctx.nodes, async (session) => {
      const changedBinaries = await session.syncFiles(binaries);
      const changed = await session.syncFiles(syncJobs(ctx.paths, session.node, FILES));
      const unitsChanged = changed.some((p) => p.startsWith('/etc/systemd/system/'));
      await ensureServices(
        session,
        [
          { unit: 'kube-apiserver', restart: touches(changedBinaries, ['/usr/local/bin/kube-apiserver']) || touches(changed, ['/etc/systemd/system/kube-apiserver.service']) },
          {
            unit: 'kube-controller-manager',
            restart: touches(changedBinaries, ['/usr/local/bin/kube-controller-manager']) || touches(changed, ['/etc/systemd/system/kube-controller-manager.service']),
          },
          {
            unit: 'kube-scheduler',
            restart:
              touches(changedBinaries, ['/usr/local/bin/kube-scheduler']) ||
              touches(changed, ['/etc/systemd/system/kube-scheduler.service', '/etc/kubernetes/config/kube-scheduler.yaml']),
          },
        ],
        { daemonReload: unitsChanged, timeoutMs: 180_000 * ctx.timing.scale },
      );
      await waitForReady(ctx, session);
    });
  },
  async check(ctx) {
    const perNode = await Promise.all(
      ctx.nodes.map(async (node) => {
        try {
          const result = await ctx.session(node).script('checks/control-plane-facts.sh', [], { quietStdout: true, timeoutMs: 120_000 * ctx.timing.scale });
          return { node, output: result.stdout, probes: controlPlaneProbes(ctx.plan, node, result.stdout) };
        } catch (error) {
          return { node, output: undefined, probes: [unreachableProbe(node.name, error)] };
        }
      }),
    );
    const answering = perNode.find((p) => p.output && (parseSections(p.output).get('leases') ?? '').includes(' '));
    return [...perNode.flatMap((p) => p.probes), ...leaseProbes(answering?.output ?? perNode[0]?.output, answering?.node.name ?? perNode[0]?.node.name)];
  },
};

export const rbacStep: StepDefinition = {
  id: 'rbac',
  title: 'RBAC: let the API server reach the kubelets',
  explanation:
    'For `kubectl logs`, `exec` and `port-forward`, the API server connects to kubelets with its kubelet-client ' +
    'certificate. Kubelets ask the API server whether that user may, and by default it may not: a ClusterRole on the ' +
    'nodes/proxy, stats, log, spec and metrics subresources, bound to that user, fixes it.',
  roles: ['controller'],
  needsKubeBinaries: true,
  commands: (_env, node) =>
    node.index === 0
      ? [
          { node: node.name, command: `kubectl ${ADMIN} apply -f ${RBAC_MANIFEST}`, description: 'ClusterRole system:kube-apiserver-to-kubelet and its binding' },
          { node: node.name, command: `kubectl ${ADMIN} auth can-i get nodes/proxy --as=kube-apiserver-kubelet-client`, description: 'must say yes' },
        ]
      : [],
  async run(ctx) {
    const first = ctx.nodes[0];
    if (!first) throw new StepError('the plan has no controller');
    const session = ctx.session(first);
    const manifest = renderTemplate('steps/apiserver-to-kubelet-rbac.yaml', { kubeletClientUser: kubeletClientUser(ctx) });
    await session.syncFiles([{ content: manifest, remote: RBAC_MANIFEST, mode: 0o644 }]);
    await session.run(`kubectl ${ADMIN} apply -f ${RBAC_MANIFEST}`, { hint: 'the API server must be ready first: `hardway-lab check control-plane`' });
  },
  async check(ctx) {
    const first = ctx.nodes[0];
    if (!first) return [];
    try {
      const user = kubeletClientUser(ctx);
      const result = await ctx.session(first).script('checks/rbac-facts.sh', [user], { quietStdout: true });
      return rbacProbes(user, result.stdout, first.name);
    } catch (error) {
      return [unreachableProbe(first.name, error)];
    }
  },
};
