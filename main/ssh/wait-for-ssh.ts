// Waits for a booting VM to accept SSH: tries again and again (0.5 s doubling to 5 s between
// tries) until a command runs, and otherwise explains which node never came up and what its
// console said.

import { setTimeout as sleep } from 'node:timers/promises';
import { HostKeyChangedError } from './host-key-pins.ts';
import type { NodeConnection } from './node-connection.ts';
import { SshUnreachableError } from './ssh-errors.ts';

export interface WaitForSshOptions {
  timeoutMs: number;
  /** The end of the node's serial console, shown when it never answers. */
  consoleTail?: () => Promise<string>;
  signal?: AbortSignal;
  onAttempt?: (attempt: number, error: string) => void;
}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;

export async function waitForSsh(
  connection: NodeConnection,
  probe: (timeoutMs: number) => Promise<void>,
  options: WaitForSshOptions & { connectTimeoutMs: number },
): Promise<void> {
  const { timeoutMs, signal, onAttempt } = options;
  const deadline = Date.now() + timeoutMs;
  let delay = FIRST_DELAY_MS;
  let attempt = 0;
  let lastError = '';

  for (;;) {
    signal?.throwIfAborted();
    attempt++;
    const remaining = Math.max(deadline - Date.now(), 1000);
    try {
      await connection.connected(Math.min(options.connectTimeoutMs, remaining));
      await probe(remaining);
      return;
    } catch (error) {
      // A changed host key will not fix itself by waiting; an abort means stop now.
      if (error instanceof HostKeyChangedError) throw error;
      if (signal?.aborted) throw signal.reason;
      lastError = error instanceof SshUnreachableError ? error.reason : (error as Error).message;
    }
    onAttempt?.(attempt, lastError);
    const left = deadline - Date.now();
    if (left <= 0) break;
    await sleep(Math.min(delay, left), undefined, { signal });
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }

  let consoleTail: string | undefined;
  try {
    consoleTail = await options.consoleTail?.();
  } catch (error) {
    consoleTail = `(its console log could not be read: ${(error as Error).message})`;
  }
  throw new SshUnreachableError(connection.node, connection.endpoint(), {
    reason: `no SSH session within ${Math.round(timeoutMs / 1000)} s (${attempt} attempts; last error: ${lastError})`,
    consoleTail,
    hint:
      'the VM did not finish booting or its sshd did not start. The console lines above usually say why ' +
      '(kernel panic, emergency shell, network or disk errors). Under TCG emulation booting is slow: ' +
      'if the console shows a boot still in progress, retry with a longer timeout.',
  });
}
