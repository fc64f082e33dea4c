// Steps admin-access, coredns and smoke-test: the cluster as a user sees it — kubectl from the host through the load
// balancer, cluster DNS, and the hard way's smoke test.

import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminAccessProbes, corednsProbes, parseNodeList, plainSecrets, smokeProbes, type CommandOutcome } from '../checkers/cluster.ts';
import { parseKubeconfig } from '../checkers/kubeconfigs.ts';
import { unreachableProbe } from '../checkers/probe.ts';
import { renderTemplate } from '../render/template.ts';
import { HOST, StepError, type StepContext, type StepDefinition } from '../engine/step-definition.ts';
import { adminKubeconfigPath, hostKubectl } from './host-kubectl.ts';
import { etcdEndpoints } from './etcd.ts';
import { timeout } from '../engine/timeouts.ts';

const SMOKE_NODE_PORT = 30080;
const PORT_FORWARD_LOCAL_PORT = 18080;

async function kubectl(ctx: StepContext, args: string[], options: { stdin?: string } = {}): Promise<CommandOutcome> {
  return ctx.host.exec([...(await hostKubectl(ctx)), ...args], { stdin: options.stdin, quietStdout: true, timeoutMs: timeout(ctx.timing, 'shortCommand') });
}

export const adminAccessStep: StepDefinition = {
  id: 'admin-access',
  title: 'Remote admin access with kubectl',
  explanation:
    'kubectl on your machine talks to the cluster through the load balancer, as the admin user (group ' +
    'system:masters). Every worker should now be registered and Ready, with its lab address as INTERNAL-IP.',
  roles: [],
  needsKubeBinaries: true,
  commands: () => [],
  hostCommands: (env) => [
    { node: HOST, command: `export KUBECONFIG=${adminKubeconfigPath(env.paths)}`, description: `admin, via ${env.plan.apiEndpoint.url}` },
    { node: HOST, command: 'kubectl version && kubectl get nodes -o wide', description: 'every worker Ready, INTERNAL-IP = its lab address' },
  ],
  async run(ctx) {
    const workers = ctx.plan.nodes.filter((n) => n.role === 'worker').map((n) => n.name);
    const deadline = Date.now() + timeout(ctx.timing, 'nodesReady');
    for (;;) {
      const nodes = await kubectl(ctx, ['get', 'nodes', '-o', 'json']);
      const items = nodes.code === 0 ? parseNodeList(nodes.stdout) : undefined;
      if (items) {
        const ready = workers.filter((w) => items.find((i) => i.name === w)?.ready);
        if (ready.length === workers.length) return;
        ctx.progress(`waiting for nodes to be Ready: ${ready.length} of ${workers.length}`, ready.length / Math.max(workers.length, 1));
      }
      if (Date.now() > deadline) return; // The checker says which node and why.
      await sleep(5000, undefined, { signal: ctx.signal });
    }
  },
  async check(ctx) {
    let server: string | undefined;
    try {
      server = parseKubeconfig(readFileSync(adminKubeconfigPath(ctx.paths), 'utf8')).server;
    } catch {
      server = undefined;
    }
    return adminAccessProbes(ctx.plan, {
      kubeconfigServer: server,
      version: await kubectl(ctx, ['version', '-o', 'json']),
      nodes: await kubectl(ctx, ['get', 'nodes', '-o', 'json']),
    });
  },
};

export const corednsStep: StepDefinition = {
  id: 'coredns',
  title: 'Cluster DNS (CoreDNS)',
  explanation:
    'Pods find services by name: every pod\'s resolv.conf points at the cluster DNS address, where CoreDNS answers ' +
    'for the cluster domain from what the API server knows. The check asks from inside a pod.',
  roles: [],
  needsKubeBinaries: true,
  commands: () => [],
  hostCommands: (env) => [
    { node: HOST, command: 'kubectl apply -f coredns.yaml', description: `CoreDNS ${env.plan.versions.coredns} at ${env.plan.network.dnsServiceIp}` },
    { node: HOST, command: 'kubectl exec hardway-dns-probe -- nslookup kubernetes', description: `answers ${env.plan.network.apiServiceIp}` },
  ],
  async run(ctx) {
    const manifest = renderTemplate('steps/coredns.yaml', {
      labName: ctx.plan.labName,
      clusterDomain: ctx.plan.network.clusterDomain,
      dnsServiceIp: ctx.plan.network.dnsServiceIp,
      corednsVersion: ctx.plan.versions.coredns,
      corednsImage: ctx.plan.images.coredns,
      busyboxImage: ctx.plan.images.busybox,
    });
    // --validate=false: the lab wrote this manifest; validating it first downloads the whole
    // OpenAPI document, which a slow (TCG) API server behind the LB can fail to serve in time.
    const applied = await kubectl(ctx, ['apply', '--validate=false', '-f', '-'], { stdin: manifest });
    if (applied.code !== 0) throw new StepError('kubectl apply of CoreDNS failed', { command: 'kubectl apply -f coredns.yaml', output: applied.stderr, hint: '`hardway-lab check admin-access`' });
    await kubectl(ctx, ['-n', 'kube-system', 'rollout', 'status', 'deployment/coredns', `--timeout=${Math.round(180 * ctx.timing.scale)}s`]);
    await kubectl(ctx, ['wait', '--for=condition=Ready', 'pod/hardway-dns-probe', `--timeout=${Math.round(120 * ctx.timing.scale)}s`]);
  },
  async check(ctx) {
    return corednsProbes(ctx.plan, {
      deployment: await kubectl(ctx, ['-n', 'kube-system', 'get', 'deployment', 'coredns', '-o', 'json']),
      service: await kubectl(ctx, ['-n', 'kube-system', 'get', 'service', 'kube-dns', '-o', 'json']),
      lookup: await kubectl(ctx, ['exec', 'hardway-dns-probe', '--', 'nslookup', 'kubernetes']),
    });
  },
};

function httpStatus(url: string, timeoutMs = 10_000): Promise<{ ok: boolean; seen: string }> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve({ ok: res.statusCode === 200, seen: `HTTP ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ ok: false, seen: error.message }));
  });
}

async function portForward(ctx: StepContext): Promise<{ ok: boolean; seen: string }> {
  const argv = [...(await hostKubectl(ctx)), 'port-forward', 'deployment/nginx', `${PORT_FORWARD_LOCAL_PORT}:80`];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  try {
    const deadline = Date.now() + timeout(ctx.timing, 'portForwardStarts');
    while (!output.includes('Forwarding from') && child.exitCode === null && Date.now() < deadline) await sleep(300);
    if (!output.includes('Forwarding from')) return { ok: false, seen: output.trim().split('\n').slice(-2).join(' | ') || 'port-forward did not start' };
    return await httpStatus(`http://127.0.0.1:${PORT_FORWARD_LOCAL_PORT}/`);
  } finally {
    child.kill();
  }
}

export const smokeTestStep: StepDefinition = {
  id: 'smoke-test',
  title: 'Smoke test',
  explanation:
    'The hard way ends by proving the cluster works end to end: a secret is stored encrypted in etcd, a deployment ' +
    'becomes available, and port-forward, logs, exec (all API server → kubelet) and a NodePort service work.',
  roles: [],
  needsKubeBinaries: true,
  commands: () => [],
  hostCommands: (env) => [
    { node: HOST, command: 'kubectl create secret generic kubernetes-the-hard-way --from-literal=mykey=mydata' },
    {
      node: HOST,
      command: `ssh root@${env.plan.nodes.find((n) => n.role === 'controller')?.ip} "etcdctl --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key get /registry/secrets/default/kubernetes-the-hard-way --print-value-only | head -c 23"`,
      description: 'must print k8s:enc:aescbc:v1:key1:',
    },
    { node: HOST, command: `kubectl create deployment nginx --image=${env.plan.images.nginx} && kubectl port-forward deployment/nginx 8080:80`, description: 'the image the lab made from Debian\'s nginx' },
    { node: HOST, command: 'kubectl logs deployment/nginx && kubectl exec deployment/nginx -- nginx -v' },
    { node: HOST, command: `kubectl expose deployment nginx --port 80 --type NodePort && curl http://<worker ip>:<node port>`, description: 'on every worker: kube-proxy writes the NodePort rules on each' },
    { node: HOST, command: 'kubectl get secrets -A -o json | kubectl replace --validate=false -f -', description: 'only if a secret was written before encryption was on: stores it encrypted' },
  ],
  async run(ctx) {
    const manifest = renderTemplate('steps/smoke-test.yaml', { nginxImage: ctx.plan.images.nginx, nodePort: String(SMOKE_NODE_PORT) });
    const applied = await kubectl(ctx, ['apply', '--validate=false', '-f', '-'], { stdin: manifest });
    if (applied.code !== 0) throw new StepError('kubectl apply of the smoke test failed', { output: applied.stderr, hint: '`hardway-lab check admin-access`' });
    await kubectl(ctx, ['rollout', 'status', 'deployment/nginx', `--timeout=${Math.round(180 * ctx.timing.scale)}s`]);
    // Secrets written while an API server ran without its encryption config stay plain until
    // they are written again.
    const controller = ctx.plan.nodes.find((n) => n.role === 'controller');
    if (controller) {
      const atRest = plainSecrets((await ctx.session(controller).script('checks/secrets-at-rest.sh', [etcdEndpoints(ctx)], { quietStdout: true })).stdout);
      if (atRest.plain.length > 0) {
        ctx.info(`rewriting ${atRest.plain.length} secret(s) stored in plain text (${atRest.plain.join(', ')}) so that they are encrypted at rest`);
        const secrets = await kubectl(ctx, ['get', 'secrets', '-A', '-o', 'json']);
        // What was just read back is valid by construction; skipping validation spares a slow API
        // server the whole OpenAPI document.
        const replaced = secrets.code === 0 ? await kubectl(ctx, ['replace', '--validate=false', '-f', '-'], { stdin: secrets.stdout }) : secrets;
        if (replaced.code !== 0) throw new StepError('could not rewrite the plain-text secrets', { command: 'kubectl get secrets -A -o json | kubectl replace -f -', output: replaced.stderr, hint: '`hardway-lab check control-plane`: every API server must run with its encryption config' });
      }
    }
  },
  async check(ctx) {
    const controller = ctx.plan.nodes.find((n) => n.role === 'controller');
    const worker = ctx.plan.nodes.find((n) => n.role === 'worker');
    if (!controller || !worker) return [unreachableProbe('lab', new Error('the plan needs a controller and a worker'))];
    const session = ctx.session(controller);
    const head = await session.exec(
      `etcdctl --endpoints=${etcdEndpoints(ctx)} --cacert=/etc/etcd/ca.crt --cert=/etc/etcd/etcd-server.crt --key=/etc/etcd/etcd-server.key get /registry/secrets/default/kubernetes-the-hard-way --print-value-only | head -c 64`,
      { quietStdout: true },
    );
    const workers = ctx.plan.nodes.filter((n) => n.role === 'worker');
    const nodePorts = await Promise.all(
      workers.map(async (w) => {
        const url = `http://${w.ip}:${SMOKE_NODE_PORT}/`;
        return { node: w.name, url, ...(await httpStatus(url)) };
      }),
    );
    return smokeProbes(ctx.plan, {
      etcdValueHead: head,
      secretsAtRest: await session.script('checks/secrets-at-rest.sh', [etcdEndpoints(ctx)], { quietStdout: true, timeoutMs: timeout(ctx.timing, 'factsScript') }),
      deployment: await kubectl(ctx, ['get', 'deployment', 'nginx', '-o', 'json']),
      portForward: await portForward(ctx),
      logs: await kubectl(ctx, ['logs', 'deployment/nginx', '--tail=5']),
      exec: await kubectl(ctx, ['exec', 'deployment/nginx', '--', 'nginx', '-v']),
      nodePorts,
      viaLb: await kubectl(ctx, ['get', '--raw', '/version']),
      nodes: await kubectl(ctx, ['get', 'nodes', '-o', 'json']),
      askedFrom: controller.name,
    });
  },
};
