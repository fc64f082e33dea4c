// A step's check as data: what to ask each node of the step (usually a facts script from
// provision/checks/, with its libraries, arguments and wait from the timeout table), and the judge
// that turns one node's facts into probes. checkNodes asks every node at once; a node that cannot
// be asked, or whose script fails, becomes one failing probe that says which and why
// (unreachableProbe), never a crashed check.

import type { Probe } from '../shared/engine-types.ts';
import type { PlannedNode } from '../plan/address-plan.ts';
import { unreachableProbe } from '../checkers/probe.ts';
import type { StepContext } from './step-definition.ts';
import type { NodeSession } from './node-session.ts';
import { timeout, type TimeoutName } from './timeouts.ts';

export interface NodeCheck<F> {
  /** One node's facts. */
  facts: (session: NodeSession, node: PlannedNode, ctx: StepContext) => Promise<F>;
  /** One node's facts, judged. */
  judge: (facts: F, node: PlannedNode) => Probe[] | Promise<Probe[]>;
}

export interface FactsScript {
  /** Under provision/, e.g. checks/worker-facts.sh. */
  script: string;
  args?: (node: PlannedNode) => readonly string[];
  /** Function libraries sent ahead of it (e.g. checks/lib-unit-health.sh). */
  include?: readonly string[];
  timeout: TimeoutName;
  /** A non-zero exit is a failure of the check (else the script reports problems in its output). */
  mustSucceed?: boolean;
}

/** The facts a script prints on the node (its stdout). */
export function factsScript(spec: FactsScript): NodeCheck<string>['facts'] {
  return async (session, node, ctx) => {
    const options = { quietStdout: true, include: spec.include ? [...spec.include] : undefined, timeoutMs: timeout(ctx.timing, spec.timeout) };
    const args = spec.args?.(node) ?? [];
    const result = spec.mustSucceed ? await session.runScript(spec.script, args, options) : await session.script(spec.script, args, options);
    return result.stdout;
  };
}

/** Every node of the step asked at once and judged; the probes in node order. */
export async function checkNodes<F>(ctx: StepContext, check: NodeCheck<F>): Promise<Probe[]> {
  const perNode = await Promise.all(
    ctx.nodes.map(async (node) => {
      try {
        return await check.judge(await check.facts(ctx.session(node), node, ctx), node);
      } catch (error) {
        return [unreachableProbe(node.name, error)];
      }
    }),
  );
  return perNode.flat();
}
