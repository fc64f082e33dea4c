// Step load-balancer: haproxy on the lb node, fronting every API server on the API port.

import { httpsGet, tcpConnect } from '../checkers/host-network.ts';
import { loadBalancerProbes, parseShowStat, serverUp, type LoadBalancerFacts } from '../checkers/load-balancer.ts';
import { parseSections } from '../engine/shell.ts';
import { probe } from '../checkers/probe.ts';
import { readOptionalFile, pkiFilePath } from '../pki/pki-files.ts';
import { HOST, StepError, type StepContext, type StepDefinition } from '../engine/step-definition.ts';
import type { NodeSession } from '../engine/node-session.ts';
import { basename } from 'node:path';
import { byTemplate, copyCommands, ensureServices, syncJobs } from './step-support.ts';
import { timeout } from '../engine/timeouts.ts';

const CONFIG = byTemplate('lb/haproxy.cfg');
const CONFIG_PATH = '/etc/haproxy/haproxy.cfg';
const DEB_DIR = '/root/hardway-debs';

async function installHaproxy(ctx: StepContext, session: NodeSession): Promise<void> {
  const present = await session.exec('command -v haproxy');
  if (present.code === 0) return;
  await ctx.loadBalancerDebs();
  const debs = (await ctx.artifacts([])).debs();
  if (debs.length > 0) {
    session.info(`installing haproxy from ${debs.length} .deb file(s) in the artifacts`);
    for (const deb of debs) await session.syncFiles([{ local: deb, remote: `${DEB_DIR}/${basename(deb)}`, mode: 0o644 }]);
    await session.runScript('steps/install-debs.sh', [DEB_DIR], {
      timeoutMs: timeout(ctx.timing, 'debsInstalled'),
      hint: 'a dependency is missing from the artifacts\' debs/ directory: add the .deb files dpkg names (fill-artifacts-cli.ts collects haproxy\'s)',
    });
    return;
  }
  session.info('installing haproxy with apt-get (no .deb files in the artifacts)');
  await session.run('DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy', {
    timeoutMs: timeout(ctx.timing, 'aptInstall'),
    hint: 'the lb node has no package source: put haproxy\'s .deb files into the artifacts directory\'s debs/ (npx tsx main/artifacts/fill-artifacts-cli.ts DIR does) and run again',
  });
}

async function gatherFacts(ctx: StepContext): Promise<LoadBalancerFacts[]> {
  const controllers = ctx.plan.nodes.filter((n) => n.role === 'controller');
  return Promise.all(
    ctx.nodes.map(async (node): Promise<LoadBalancerFacts> => {
      const facts: LoadBalancerFacts = { node, controlPlaneExpected: ctx.kubeBinaries };
      try {
        const result = await ctx.session(node).script('checks/haproxy-facts.sh', [String(ctx.plan.apiEndpoint.port), ...controllers.map((c) => c.ip)], {
          quietStdout: true,
          timeoutMs: timeout(ctx.timing, 'factsScript'),
        });
        facts.output = result.stdout;
      } catch (error) {
        facts.error = (error as Error).message.split('\n')[0];
        return facts;
      }
      let anyUp = false;
      try {
        anyUp = parseShowStat(parseSections(facts.output).get('stat') ?? '').some((r) => r.svname !== 'BACKEND' && serverUp(r));
      } catch {
        anyUp = false;
      }
      const ca = readOptionalFile(pkiFilePath(ctx.paths, 'ca', 'crt'));
      if ((ctx.kubeBinaries || anyUp) && ca) {
        facts.version = await httpsGet(`https://${node.ip}:${ctx.plan.apiEndpoint.port}/version`, { ca, timeoutMs: 15_000 });
      } else {
        facts.tcp = await tcpConnect(node.ip, ctx.plan.apiEndpoint.port);
      }
      return facts;
    }),
  );
}

export const loadBalancerStep: StepDefinition = {
  id: 'load-balancer',
  title: 'Load balancer in front of the API servers',
  explanation:
    'Clients (kubectl, kubelets, kube-proxy) use one address for the API: haproxy on the lb node, port 6443. It passes ' +
    'TLS through untouched (the API server\'s certificate lists the LB address) and sends each connection to an API ' +
    'server whose /readyz answers 200 — stop one API server and the cluster stays reachable.',
  roles: ['lb'],
  needsKubeBinaries: false,
  commands: (env, node) => [
    { node: node.name, command: 'apt-get install -y haproxy', description: 'or dpkg -i the .deb files from the artifacts (air-gapped)' },
    ...copyCommands(env, node, CONFIG),
    { node: node.name, command: `haproxy -c -f ${CONFIG_PATH} && systemctl restart haproxy`, description: 'validate, then (re)start' },
    { node: node.name, command: "echo 'show stat' | socat stdio /run/haproxy/admin.sock | cut -d, -f1,2,18", description: 'every API server UP' },
  ],
  hostCommands: (env) => [
    { node: HOST, command: `curl --cacert ${env.paths.pki}/ca.crt ${env.plan.apiEndpoint.url}/version`, description: 'the API through the load balancer' },
  ],
  async run(ctx) {
    if (ctx.nodes.length === 0) {
      ctx.info('this lab has no lb node: clients talk to the first controller directly');
      return;
    }
    await ctx.forEachNode(ctx.nodes, async (session) => {
      await installHaproxy(ctx, session);
      const changed = await session.syncFiles(syncJobs(ctx.paths, session.node, CONFIG));
      const validation = await session.exec(`haproxy -c -f ${CONFIG_PATH}`);
      if (validation.code !== 0) {
        throw new StepError(`haproxy rejects ${CONFIG_PATH} on ${session.name}`, {
          node: session.name,
          command: `haproxy -c -f ${CONFIG_PATH}`,
          output: (validation.stderr || validation.stdout).trim().split('\n').slice(-10).join('\n'),
          hint: 'the lab renders this file from provision/lb/haproxy.cfg: fix the template or the values it is filled with',
        });
      }
      await ensureServices(session, [{ unit: 'haproxy', restart: changed.length > 0 }], { daemonReload: false });
    });
  },
  async check(ctx) {
    if (ctx.nodes.length === 0) {
      return [
        probe({
          name: 'no load balancer in this lab',
          ok: true,
          expected: `clients use ${ctx.plan.apiEndpoint.url}`,
          seen: `the ${ctx.plan.preset} preset has no lb node; the API endpoint is ${ctx.plan.apiEndpoint.host}`,
          hint: '',
        }),
      ];
    }
    const facts = await gatherFacts(ctx);
    return facts.flatMap((f) => loadBalancerProbes(ctx.plan, f));
  },
};
