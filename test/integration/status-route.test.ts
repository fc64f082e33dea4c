// No packet goes to a lab address unless this host's route to it is the lab's own network. The app
// runs in a network namespace whose only route (the default) leads to a capture device, while the
// provider reports the lab's VMs as running (their QEMU runs elsewhere: here a stand-in process
// holding a pidfile, as a lab in another namespace would). The dashboard's status must say that
// the lab network is not on this host and send nothing: the capture counts zero packets, while a
// plain connection to the API address from the same namespace is counted (the capture works).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LabStatus } from '../../main/shared/api-contract.ts';
import { NetworkNamespace, REPO_ROOT, netnsUnavailableReason } from '../helpers/netns.ts';

const SCENARIOS = fileURLToPath(new URL('../helpers/status-scenarios.ts', import.meta.url));
const skip = netnsUnavailableReason();
if (skip) console.warn(`SKIPPED: the status route guard: ${skip}`);

function txPackets(ns: NetworkNamespace, dev: string): number {
  const out = spawnSync('ip', ['-n', ns.name, '-s', '-j', 'link', 'show', 'dev', dev], { encoding: 'utf8' }).stdout;
  return (JSON.parse(out) as Array<{ stats64: { tx: { packets: number } } }>)[0]!.stats64.tx.packets;
}

test('the dashboard sends nothing to the lab addresses when the route to them is not the lab network', { skip, timeout: 5 * 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hwl-route-'));
  const lab = join(dir, 'lab');
  const ns = NetworkNamespace.create('route');
  let standIn: ReturnType<typeof spawn> | undefined;
  try {
    const render = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'hardway-lab.mjs'), 'render', '--lab', lab], { encoding: 'utf8' });
    assert.equal(render.status, 0, render.stderr);
    // The capture: a veth pair (cap0 holding the namespace's default route, its peer cap1 up with
    // no address, so nothing answers); no IPv6 chatter on either.
    for (const args of [['-w', 'net.ipv6.conf.all.disable_ipv6=1'], ['-w', 'net.ipv6.conf.default.disable_ipv6=1']]) spawnSync('ip', ['netns', 'exec', ns.name, 'sysctl', '-q', ...args]);
    for (const args of [['link', 'add', 'cap0', 'type', 'veth', 'peer', 'name', 'cap1'], ['addr', 'add', '192.0.2.1/24', 'dev', 'cap0'], ['link', 'set', 'cap1', 'up'], ['link', 'set', 'cap0', 'up'], ['route', 'add', 'default', 'dev', 'cap0']]) {
      const r = spawnSync('ip', ['-n', ns.name, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    }
    // The load balancer (the API endpoint) "runs": a process whose command line names its disk.
    const vm = join(lab, 'vms', 'lb');
    mkdirSync(vm, { recursive: true });
    standIn = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', 'qemu-system-x86_64', join(vm, 'disk.qcow2')], { stdio: 'ignore' });
    writeFileSync(join(vm, 'qemu.pid'), `${standIn.pid}\n`);

    const before = txPackets(ns, 'cap0');
    const { result } = await ns.runScenario<LabStatus>(SCENARIOS, 'labStatus', { labDir: lab }, { timeoutMs: 120_000 });
    const after = txPackets(ns, 'cap0');
    assert.equal(result.nodes.find((n) => n.node === 'lb')?.vm, 'running', 'the provider reports the endpoint running');
    assert.match(result.api.detail, /the lab network is not on this host: 10\.240\.0\.10 would go out of cap0/);
    assert.match(result.nodes.find((n) => n.node === 'lb')?.sshDetail ?? '', /the lab network is not on this host/);
    assert.equal(after - before, 0, 'no packet left through the default route');

    // The capture does count: a connection attempt to the same address from the same namespace.
    spawnSync('ip', ['netns', 'exec', ns.name, process.execPath, '-e', "const s=require('net').connect(6443,'10.240.0.10');s.on('error',()=>{});setTimeout(()=>process.exit(0),1500)"]);
    assert.ok(txPackets(ns, 'cap0') > after, 'a real connection attempt is seen on the capture');
  } finally {
    standIn?.kill('SIGKILL');
    ns.delete();
    rmSync(dir, { recursive: true, force: true });
  }
});
