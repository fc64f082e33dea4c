// Building blocks for checkers: a probe states one fact — expected, seen, where, and (when it
// fails) the fix. A passing probe carries no hint.

import type { Probe } from '../shared/engine-types.ts';
import { StepError } from '../engine/step-definition.ts';

export interface ProbeInput {
  name: string;
  node?: string;
  ok: boolean;
  expected: string;
  seen: string;
  hint: string;
}

export function probe(input: ProbeInput): Probe {
  const p: Probe = { name: input.name, ok: input.ok, expected: input.expected, seen: input.seen, hint: input.ok ? '' : input.hint };
  if (input.node !== undefined) p.node = input.node;
  return p;
}

/**
 * A checker that could not do its work on a node: one failing probe instead of a crashed checker.
 * A command that ran and failed is told apart from a node that does not answer at all.
 */
export function unreachableProbe(node: string, error: unknown, what = 'node answers over SSH'): Probe {
  const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  if (error instanceof StepError) {
    return probe({
      name: 'checker commands ran',
      node,
      ok: false,
      expected: 'the checker\'s commands complete on the node',
      seen: `${message}${error.output ? `: ${brief(error.output, 160)}` : ''}`,
      hint: error.hint ?? `see the step's log for ${node} in the lab's logs/ directory`,
    });
  }
  return probe({
    name: what,
    node,
    ok: false,
    expected: 'the checker can run its commands on the node',
    seen: message,
    hint: `bring ${node} up (\`hardway-lab up --step compute\`) and check \`hardway-lab status\`; its console log is in the lab's vms/ directory`,
  });
}

/** Shortens multi-line output for the "seen" column. */
export function brief(text: string, max = 200): string {
  const one = text.trim().replace(/\s*\n\s*/g, ' | ');
  if (one === '') return '(nothing)';
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

export function allOk(probes: readonly Probe[]): boolean {
  return probes.length > 0 && probes.every((p) => p.ok);
}
