// Destroying a lab's VMs, the same way from every face (CLI, Electron, browser mode): under the
// lab lock, so it never runs under a live `up` or step of another process; the pinned host keys
// forgotten (new VMs get new ones); and state.json emptied, since no step of a destroyed cluster
// is done any more. The spec, PKI, secrets and rendered files stay.

import { emptyLabState, withLabLock, writeLabState } from '../engine/lab-state.ts';
import type { Provider } from '../providers/provider.ts';
import type { HostKeyPins, SshPool } from '../ssh/ssh-pool.ts';
import type { LabPaths } from './lab-dir.ts';

export interface DestroyParts {
  provider: Provider;
  pool: SshPool;
  hostKeys: HostKeyPins;
  paths: LabPaths;
}

export async function destroyLab({ provider, pool, hostKeys, paths }: DestroyParts): Promise<void> {
  await withLabLock(paths.lock, 'destroy', async () => {
    pool.close();
    await provider.destroy();
    hostKeys.forgetAll();
    writeLabState(paths.state, emptyLabState());
  });
}
