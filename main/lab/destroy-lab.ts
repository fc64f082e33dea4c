// Destroying a lab's VMs, the same way from every face (CLI, Electron, browser mode): under the
// lab lock, so it never runs under a live `up` or step of another process; the pinned host keys
// forgotten (new VMs get new ones); and state.json emptied, since no step of a destroyed cluster
// is done any more, and the snapshots gone with the disks. The spec, PKI, secrets and rendered
// files stay.

import { emptyLabState, withLabLock, writeLabState } from '../engine/lab-state.ts';
import type { Provider } from '../providers/provider.ts';
import type { HostKeyPins, SshPool } from '../ssh/ssh-pool.ts';
import type { LabPaths } from './lab-dir.ts';
import { snapshotsDir } from './lab-snapshots.ts';
import { rmSync } from 'node:fs';

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
    // The disks held the snapshots; their host halves go with them.
    rmSync(snapshotsDir(paths), { recursive: true, force: true });
    hostKeys.forgetAll();
    writeLabState(paths.state, emptyLabState());
  });
}
