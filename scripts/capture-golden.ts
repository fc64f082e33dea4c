// Captures what the facts scripts print on a real, healthy lab into test/unit/golden/ (see
// test/helpers/golden-capture.ts). Run it inside the lab's network (for a test lab:
// `ip netns exec NS`), against a lab whose `hardway-lab check` is all green:
//
//   npx tsx scripts/capture-golden.ts --lab DIR
//
// The hard-way story does the same on its own lab with HWL_CAPTURE_GOLDEN=1.

import { parseArgs } from 'node:util';
import { loadLabContext } from '../main/cli/lab-context.ts';
import { openLabRuntime } from '../main/lab/lab-runtime.ts';
import { captureGolden } from '../test/helpers/golden-capture.ts';

const { values } = parseArgs({ options: { lab: { type: 'string' } } });
const ctx = loadLabContext({ lab: values.lab });
const runtime = await openLabRuntime(ctx);
try {
  for (const line of await captureGolden(ctx.plan, runtime.pool)) console.log(line);
} finally {
  runtime.close();
}
