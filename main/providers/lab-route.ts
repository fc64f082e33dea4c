// Whether this host's route to the lab's addresses is the lab's own network, asked before any
// packet is sent to one. Every provider puts the gateway address (.1) on the host side of the lab
// network (the qemu bridge, libvirt's and vagrant-libvirt's network bridge), so the route to a
// node is "directly connected, from the gateway address". When the app runs where the lab's
// network is not (another network namespace, a bridge that is gone, a remote libvirt host) the
// route is the default one instead, through the user's own network, where the lab's addresses may
// belong to somebody else's machine: then nothing is sent, and the dashboard says so.

import { runCommand } from '../image/run-command.ts';

export type LabRoute = { here: true } | { here: false; reason: string };

/** Reads `ip -o route get ADDRESS` (which sends nothing). */
export function judgeRoute(output: string, code: number | null, address: string, gateway: string): LabRoute {
  const line = output.trim().split('\n')[0] ?? '';
  if (code !== 0) return { here: false, reason: `the lab network is not on this host: no route to ${address} (${line || `ip route get exited ${code}`})` };
  const via = / via (\S+)/.exec(line)?.[1];
  const dev = / dev (\S+)/.exec(line)?.[1];
  const src = / src (\S+)/.exec(line)?.[1];
  if (via || src !== gateway) {
    return { here: false, reason: `the lab network is not on this host: ${address} would go ${via ? `via ${via}` : `out of ${dev ?? '?'}`}${dev ? ` (${dev})` : ''}, not over the lab's own bridge (${gateway}); nothing was sent to it` };
  }
  return { here: true };
}

export async function labRoute(address: string, gateway: string): Promise<LabRoute> {
  const result = await runCommand(['ip', '-o', 'route', 'get', address]).catch((error: Error) => ({ code: -1, output: error.message }));
  return judgeRoute(result.output, result.code, address, gateway);
}
