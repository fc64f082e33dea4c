// The heavy VM scenarios (the whole hard way on the ha preset, the UI against a real lab) take
// longer than CI's budget allows on a host without KVM. They run when HARDWAY_FULL_TESTS=1
// (`npm run test:full`) and otherwise skip with a loud message, never silently.

export const FULL_TESTS_ENV = 'HARDWAY_FULL_TESTS';

/** A skip reason for a heavy test, or undefined when the full tier was asked for. */
export function fullTierSkipReason(what: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[FULL_TESTS_ENV] === '1') return undefined;
  const reason = `${what} is in the full tier: run it with ${FULL_TESTS_ENV}=1 (npm run test:full)`;
  console.warn(`SKIPPED: ${reason}`);
  return reason;
}
