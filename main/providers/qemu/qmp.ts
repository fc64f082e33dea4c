// A minimal QMP (QEMU Machine Protocol) client: enough to ask a guest to power down cleanly, the way
// pressing the power button would, instead of killing QEMU under a running filesystem.

import { connect } from 'node:net';

/** Sends one QMP command over the VM's monitor socket; resolves with its `return` value. */
export function qmpCommand(socketPath: string, execute: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(socketPath);
    let buffer = '';
    let stage: 'greeting' | 'capabilities' | 'command' = 'greeting';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`QMP ${execute} on ${socketPath} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (error: Error | undefined, value?: unknown) => {
      clearTimeout(timer);
      socket.end();
      if (error) reject(error);
      else resolvePromise(value);
    };
    socket.on('error', (error) => done(new Error(`QMP socket ${socketPath}: ${error.message}`)));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (!line) continue;
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if ('event' in message) continue;
        if (stage === 'greeting' && 'QMP' in message) {
          stage = 'capabilities';
          socket.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`);
        } else if (stage === 'capabilities' && 'return' in message) {
          stage = 'command';
          socket.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
        } else if ('error' in message) {
          const error = message.error as { desc?: string };
          done(new Error(`QMP ${execute}: ${error.desc ?? JSON.stringify(error)}`));
        } else if (stage === 'command' && 'return' in message) {
          done(undefined, message.return);
        }
      }
    });
  });
}
