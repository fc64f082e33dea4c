// Runs inside a test's network namespace (see netns.ts): imports a scenario module, calls one of its
// exported async functions with JSON arguments, and prints the JSON result (or the error) on a
// marked line for the parent test to read.
//
//   node --import tsx test/helpers/netns-scenario-runner.ts MODULE EXPORT 'JSON-ARGS'

import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { ERROR_MARK, RESULT_MARK } from './netns.ts';

const [modulePath, exportName, argsJson] = process.argv.slice(2);
if (!modulePath || !exportName) {
  console.error('usage: netns-scenario-runner.ts MODULE EXPORT [JSON-ARGS]');
  process.exit(2);
}

try {
  const module = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
  const scenario = module[exportName];
  if (typeof scenario !== 'function') throw new Error(`${modulePath} exports no function ${exportName}`);
  const result = await (scenario as (args: unknown) => Promise<unknown>)(argsJson ? JSON.parse(argsJson) : {});
  process.stdout.write(`\n${RESULT_MARK}${JSON.stringify(result ?? null)}\n`);
  process.exit(0);
} catch (error) {
  const err = error as Error & { describe?: () => string };
  const message = typeof err.describe === 'function' ? err.describe() : (err.stack ?? String(err));
  process.stdout.write(`\n${ERROR_MARK}${JSON.stringify({ message })}\n`);
  process.exit(1);
}
