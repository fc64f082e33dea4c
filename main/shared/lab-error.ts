// The one shape of an error a person can act on: what failed, on which node, the command, the end of
// its output, and what to do. Providers, steps and the image builder throw subclasses of it; the
// CLI, the API and the engine's step log print it with describe().

export interface LabErrorDetails {
  node?: string;
  command?: string;
  /** The end of the command's output (a few lines, not the whole log). */
  output?: string;
  /** What to do: names the fix. */
  hint?: string;
  cause?: unknown;
}

export class LabError extends Error {
  readonly node?: string;
  readonly command?: string;
  readonly output?: string;
  readonly hint?: string;

  constructor(message: string, details: LabErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LabError';
    this.node = details.node;
    this.command = details.command;
    this.output = details.output;
    this.hint = details.hint;
  }

  /** The full text for a terminal or the UI. */
  describe(): string {
    const lines = [this.message];
    if (this.node) lines.push(`  node: ${this.node}`);
    if (this.command) lines.push(`  command: ${this.command}`);
    if (this.output) lines.push('  last output:', ...this.output.trimEnd().split('\n').map((l) => `    ${l}`));
    if (this.hint) lines.push(`  what to do: ${this.hint}`);
    return lines.join('\n');
  }
}

/** A LabError's whole story, else an error's message. */
export function describeError(error: unknown): string {
  if (error instanceof LabError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}
