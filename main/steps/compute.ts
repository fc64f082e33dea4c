// Step compute: the machines.

import { computeFactsArgs, computeProbes } from '../checkers/compute-facts.ts';
import { HOST, StepError, type StepContext, type StepDefinition } from '../engine/step-definition.ts';
import { hostProbeSeconds, SPEED_PROBE, timingFrom } from '../engine/guest-speed.ts';
import { shellQuote } from '../engine/shell.ts';
import { byTemplate, copyCommands, syncJobs } from './step-support.ts';
import { timeout } from '../engine/timeouts.ts';
import { checkNodes, factsScript } from '../engine/node-checks.ts';

const HOSTS = byTemplate('common/hosts');

/** Times the same shell loop here and on every node at once; later waits scale with the ratio. */
async function measureGuestSpeed(ctx: StepContext): Promise<void> {
  const hostSeconds = hostProbeSeconds();
  const perNode = await ctx.forEachNode(ctx.nodes, async (session) => {
    const started = Date.now();
    await session.run(`bash -c ${shellQuote(SPEED_PROBE)}`, { timeoutMs: 600_000 });
    return { node: session.name, seconds: (Date.now() - started) / 1000 };
  });
  ctx.recordTiming(timingFrom(hostSeconds, perNode));
}

export const computeStep: StepDefinition = {
  id: 'compute',
  title: 'Compute: the VMs, their names and addresses',
  explanation:
    'Every node of the plan becomes a VM with its planned address. Each gets its hostname, an /etc/hosts naming every node ' +
    '(no DNS in the lab), and swap turned off (the kubelet refuses swap). The checker also proves each node talks to the ' +
    'others from its lab address: a VM that prefers a NAT or management NIC makes the kubelet register the wrong ' +
    'INTERNAL-IP, and `kubectl logs` and `exec` break later — a classic hard-way failure.',
  roles: ['lb', 'controller', 'worker'],
  needsKubeBinaries: false,
  hostCommands: () => [{ node: HOST, command: 'hardway-lab up --vms-only && hardway-lab status', description: 'create and start every VM of the plan' }],
  commands: (env, node) => [
    { node: node.name, command: `hostnamectl set-hostname ${node.name}`, description: 'the name the kubelet registers under' },
    ...copyCommands(env, node, HOSTS),
    { node: node.name, command: "swapoff -a && sed -i -E '/^[^#]\\S*\\s+\\S+\\s+swap\\s/ s/^/#/' /etc/fstab", description: 'no swap, also after a reboot' },
    {
      node: node.name,
      command: `ip route get ${env.plan.nodes.find((n) => n.name !== node.name)?.ip ?? env.plan.network.gateway}`,
      description: `must say "src ${node.ip}"`,
    },
  ],
  async run(ctx) {
    if (!ctx.provider) {
      throw new StepError('no provider to create the VMs with', { hint: 'run through `hardway-lab up`, which creates the provider from the spec' });
    }
    ctx.progress('creating and starting the VMs');
    await ctx.provider.create();
    const provider = ctx.provider;
    await ctx.forEachNode(ctx.nodes, async (session) => {
      await session.waitForSsh({ timeoutMs: timeout(ctx.timing, 'sshUp'), consoleTail: () => provider.consoleTail(session.name) });
      await session.syncFiles(syncJobs(ctx.paths, session.node, HOSTS));
      await session.runScript('steps/compute-node.sh', [session.name]);
    });
    await measureGuestSpeed(ctx);
  },
  check: (ctx) =>
    checkNodes(ctx, {
      facts: factsScript({ script: 'checks/compute-facts.sh', args: () => computeFactsArgs(ctx.plan), timeout: 'shortCommand', mustSucceed: true }),
      judge: (stdout, node) => computeProbes(ctx.plan, node, stdout, Date.now() / 1000),
    }),
};
