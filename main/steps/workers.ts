// Step workers: the workers — kernel settings, containerd, runc, CNI, then kubelet and kube-proxy.

import { basename } from 'node:path';
import { workerProbes } from '../checkers/workers.ts';
import { CONTAINERD_BINARIES, KUBE_WORKER_BINARIES } from '../artifacts/artifact-set.ts';
import type { ArtifactSet } from '../artifacts/artifact-set.ts';
import type { NodeSession } from '../engine/node-session.ts';
import { shellJoin } from '../engine/shell.ts';
import type { StepContext, StepDefinition } from '../engine/step-definition.ts';
import { readImagesManifest } from '../artifacts/lab-images.ts';
import { binaryJobs, byTemplate, copyCommands, ensureServices, plannedFileProbes, syncJobs, touches } from './step-support.ts';
import { timeout } from '../engine/timeouts.ts';
import { checkNodes, factsScript } from '../engine/node-checks.ts';

const KERNEL = byTemplate('worker/modules-load-kubernetes.conf', 'worker/sysctl-kubernetes.conf');
const RUNTIME = byTemplate('worker/containerd-config.toml', 'worker/crictl.yaml', 'worker/10-bridge.conf', 'worker/99-loopback.conf', 'systemd/containerd.service');
const KUBE = byTemplate('worker/kubelet-config.yaml', 'worker/kube-proxy-config.yaml', 'systemd/kubelet.service', 'systemd/kube-proxy.service');
const IMAGE_DIR = '/root/hardway-images';

async function installRuntime(ctx: StepContext, session: NodeSession, artifacts: ArtifactSet): Promise<void> {
  await session.syncFiles(syncJobs(ctx.paths, session.node, KERNEL));
  await session.runScript('steps/worker-kernel.sh');

  const binaries = await session.syncFiles(
    binaryJobs([
      ...CONTAINERD_BINARIES.map((name) => ({ local: artifacts.require(name), remote: `/usr/local/bin/${name}` })),
      { local: artifacts.require('runc'), remote: '/usr/local/bin/runc' },
      ...(artifacts.has('crictl') ? [{ local: artifacts.binaryPath('crictl'), remote: '/usr/local/bin/crictl' }] : []),
    ]),
  );
  const plugins = artifacts.requireCniPlugins();
  await session.syncFiles(binaryJobs(plugins.map((name) => ({ local: `${artifacts.cniDir}/${name}`, remote: `/opt/cni/bin/${name}` }))));
  const configs = await session.syncFiles(syncJobs(ctx.paths, session.node, RUNTIME));
  const unitChanged = touches(configs, ['/etc/systemd/system/containerd.service']);
  const restart = touches(binaries, ['/usr/local/bin/containerd']) || touches(configs, ['/etc/containerd/config.toml']) || unitChanged;
  await ensureServices(session, [{ unit: 'containerd', restart }], { daemonReload: unitChanged, timeoutMs: timeout(ctx.timing, 'unitStart') });
  await session.run('for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; ctr version', {
    hint: `containerd does not answer on ${session.name}: \`journalctl -u containerd -n 50\``,
  });

  await importImages(ctx, session, artifacts);
}

/**
 * The workers reach no registry: every image comes from the artifacts' images/ and is imported
 * into containerd's k8s.io namespace (the kubelet's). An archive is imported when it changed, or
 * when the image it holds is missing from containerd (removed by hand, or by image GC).
 */
async function importImages(ctx: StepContext, session: NodeSession, artifacts: ArtifactSet): Promise<void> {
  const archives = artifacts.images();
  if (archives.length === 0) return;
  const known = new Map(Object.values((await readImagesManifest(artifacts.root)).images).map((r) => [basename(r!.archive), r!.reference]));
  const present = new Set((await session.exec('ctr -n k8s.io images ls -q', { quietStdout: true })).stdout.split('\n').map((l) => l.trim()));
  for (const image of archives) {
    const remote = `${IMAGE_DIR}/${basename(image)}`;
    const changed = await session.syncFiles([{ local: image, remote, mode: 0o644 }]);
    const reference = known.get(basename(image));
    if (changed.length > 0 || (reference && !present.has(reference))) {
      session.info(`importing ${reference ?? basename(image)} into containerd`);
      await session.run(`ctr -n k8s.io images import ${shellJoin([remote])}`, { timeoutMs: timeout(ctx.timing, 'imageImport') });
    }
  }
}

async function installKubeNode(ctx: StepContext, session: NodeSession, artifacts: ArtifactSet): Promise<void> {
  const binaries = await session.syncFiles(binaryJobs(KUBE_WORKER_BINARIES.map((name) => ({ local: artifacts.require(name), remote: `/usr/local/bin/${name}` }))));
  const configs = await session.syncFiles(syncJobs(ctx.paths, session.node, KUBE));
  const unitChanged = touches(configs, ['/etc/systemd/system/kubelet.service', '/etc/systemd/system/kube-proxy.service']);
  await ensureServices(
    session,
    [
      { unit: 'kubelet', restart: touches(binaries, ['/usr/local/bin/kubelet']) || touches(configs, ['/var/lib/kubelet/kubelet-config.yaml', '/etc/systemd/system/kubelet.service']) },
      { unit: 'kube-proxy', restart: touches(binaries, ['/usr/local/bin/kube-proxy']) || touches(configs, ['/var/lib/kube-proxy/kube-proxy-config.yaml', '/etc/systemd/system/kube-proxy.service']) },
    ],
    { daemonReload: unitChanged, timeoutMs: timeout(ctx.timing, 'unitStart') },
  );
}

export const workersStep: StepDefinition = {
  id: 'workers',
  title: 'Workers: container runtime, CNI, kubelet, kube-proxy',
  explanation:
    'A worker runs pods. The kernel must load overlay (container filesystems) and br_netfilter, and forward packets; ' +
    'containerd runs containers through runc; the CNI bridge plugin puts each pod on the cni0 bridge with an address from ' +
    'this worker\'s pod CIDR. The kubelet registers the node (as system:node:<name>, at its lab IP) and kube-proxy ' +
    'programs service IPs. Without Kubernetes binaries, the runtime half is still installed and checked.',
  roles: ['worker'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    ...copyCommands(env, node, KERNEL),
    { node: node.name, command: 'modprobe overlay && modprobe br_netfilter && sysctl --system', description: 'now and at every boot' },
    { node: node.name, command: 'install -m 0755 containerd containerd-shim-runc-v2 ctr runc crictl /usr/local/bin/ && install -d /opt/cni/bin && install -m 0755 cni/* /opt/cni/bin/', description: 'runtime, CRI client and CNI plugins (from the artifacts)' },
    ...copyCommands(env, node, RUNTIME),
    { node: node.name, command: 'systemctl daemon-reload && systemctl enable --now containerd && ctr version', description: 'the client must reach the server' },
    { node: node.name, command: `for image in ${IMAGE_DIR}/*.tar; do ctr -n k8s.io images import "$image"; done && crictl images`, description: `no registry: the lab's images (${Object.values(env.plan.images).join(', ')}), copied from the artifacts' images/` },
    { node: node.name, command: 'install -m 0755 kubelet kube-proxy /usr/local/bin/', description: 'Kubernetes node binaries' },
    ...copyCommands(env, node, KUBE),
    { node: node.name, command: 'systemctl daemon-reload && systemctl enable --now kubelet kube-proxy', description: 'register the node' },
  ],
  async run(ctx) {
    const artifacts = await ctx.artifacts(ctx.kubeBinaries ? ['containerd', 'runc', 'cni-plugins', 'kubernetes'] : ['containerd', 'runc', 'cni-plugins']);
    if (!ctx.kubeBinaries) {
      ctx.warn('SKIPPED kubelet and kube-proxy on the workers: no Kubernetes binaries in the artifacts (containerd, runc and CNI are installed)');
    }
    await ctx.forEachNode(ctx.nodes, async (session) => {
      await installRuntime(ctx, session, artifacts);
      if (ctx.kubeBinaries) await installKubeNode(ctx, session, artifacts);
    });
  },
  async check(ctx) {
    const facts = factsScript({ script: 'checks/worker-facts.sh', include: ['checks/lib-unit-health.sh'], timeout: 'factsScript' });
    return checkNodes(ctx, {
      facts: async (session, node) => ({
        stdout: await facts(session, node, ctx),
        files: await plannedFileProbes(ctx.paths, session, ctx.kubeBinaries ? (f) => RUNTIME(f) || KUBE(f) : RUNTIME, 'run `hardway-lab up --step workers`'),
      }),
      judge: ({ stdout, files }, node) => [...workerProbes(ctx.plan, node, stdout, { kubeBinaries: ctx.kubeBinaries, images: ctx.kubeBinaries ? Object.values(ctx.plan.images) : [] }), ...files],
    });
  },
};
