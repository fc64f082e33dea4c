// Which steps a command works on: all of them, up to one (`--until STEP`), or exactly one
// (`--step STEP`). A step is named by its id (`etcd`) or its number (`5`).

export interface StepSelection {
  /** Run every step up to and including this one. */
  until?: string;
  /** Run only this step. */
  step?: string;
}

export class UnknownStepError extends Error {
  constructor(
    readonly stepName: string,
    readonly known: readonly { id: string }[],
  ) {
    super(`unknown step "${stepName}"\n  what to do: use a step number or id: ${known.map((s, i) => `${i} ${s.id}`).join(', ')}`);
    this.name = 'UnknownStepError';
  }
}

export function stepIndex<T extends { id: string }>(steps: readonly T[], name: string): number {
  const trimmed = name.trim();
  const byId = steps.findIndex((s) => s.id === trimmed);
  if (byId >= 0) return byId;
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    if (n < steps.length) return n;
  }
  throw new UnknownStepError(name, steps);
}

export function selectSteps<T extends { id: string }>(steps: readonly T[], selection: StepSelection = {}): T[] {
  if (selection.step !== undefined && selection.until !== undefined) {
    throw new Error('--step and --until cannot be combined: --step runs one step, --until runs every step up to one');
  }
  if (selection.step !== undefined) return [steps[stepIndex(steps, selection.step)]!];
  if (selection.until !== undefined) return steps.slice(0, stepIndex(steps, selection.until) + 1);
  return [...steps];
}
