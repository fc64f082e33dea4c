// The pure parts of the qemu provider: the kernel command line contract, the QEMU argv, interface
// names and the cloud-init seed. (The VMs themselves: test/integration/qemu-provider.test.ts.)

import assert from 'node:assert/strict';
import test from 'node:test';
import { buildPlan, findNode } from '../../main/plan/address-plan.ts';
import { presetSpec } from '../../main/spec/cluster-spec.ts';
import { cmdlineValue, renderKernelCmdline } from '../../main/providers/qemu/kernel-cmdline.ts';
import { qemuArgv, qemuOptionValue } from '../../main/providers/qemu/qemu-command.ts';
import { bridgeNameFor, tapNameFor } from '../../main/providers/qemu/lab-network.ts';
import { renderSeed } from '../../main/providers/qemu/cloud-init-seed.ts';
import { natRules } from '../../main/providers/qemu/lab-nat.ts';
import { labResolvers, parseNameservers } from '../../main/providers/host-resolvers.ts';

const plan = buildPlan(presetSpec('ha', 'hardway'));
const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB/iTx94aXiu89PgcpQmrWMRq3HVAORhVpxIiA7o0ZMp hardway-lab';

test('the kernel command line carries hostname, static address and the lab key', () => {
  const node = findNode(plan, 'controller-1');
  const line = renderKernelCmdline({ node, network: plan.network, sshPublicKey: `${key}\n` });
  assert.equal(cmdlineValue(line, 'root'), '/dev/vda');
  assert.equal(cmdlineValue(line, 'console'), 'ttyS0,115200');
  assert.equal(cmdlineValue(line, 'net.ifnames'), '0');
  assert.equal(cmdlineValue(line, 'ip'), '10.240.0.12::10.240.0.1:255.255.255.0:controller-1:eth0:off');
  assert.equal(cmdlineValue(line, 'hardway.hostname'), 'controller-1');
  assert.equal(Buffer.from(cmdlineValue(line, 'hardway.ssh_key')!, 'base64').toString('utf8'), key);
  assert.ok(line.length < 2048);
  assert.equal(cmdlineValue(line, 'hardway.dns'), undefined, 'an isolated lab names no resolver');
});

test('a multi-line or oversized key is refused rather than truncated by the kernel', () => {
  const node = findNode(plan, 'lb');
  assert.throws(() => renderKernelCmdline({ node, network: plan.network, sshPublicKey: `${key}\n${key}` }), /single authorized_keys line/);
  assert.throws(() => renderKernelCmdline({ node, network: plan.network, sshPublicKey: `ssh-rsa ${'A'.repeat(2000)}` }), /over the 2047-byte limit/);
});

test('bridge and tap names fit IFNAMSIZ and differ per lab directory and per node', () => {
  const a = bridgeNameFor('hardway', '/home/a/labs/hardway');
  const b = bridgeNameFor('hardway', '/home/b/labs/hardway');
  assert.notEqual(a, b);
  assert.match(a, /^hwl-[0-9a-f]{10}$/);
  const taps = plan.nodes.map((n) => tapNameFor('hardway', '/l', n.name));
  assert.equal(new Set(taps).size, taps.length);
  for (const name of [a, b, ...taps]) assert.ok(name.length <= 15, name);
});

test('QEMU argv: direct kernel boot, overlay disk, tap with the planned MAC, serial to a file', () => {
  const node = findNode(plan, 'worker-0');
  const files = { dir: '/lab/vms/worker-0', overlay: '/lab/vms/worker-0/disk.qcow2', pidfile: '/lab/vms/worker-0/qemu.pid', console: '/lab/vms/worker-0/console.log', qmp: '/lab/vms/worker-0/qmp.sock', meta: '/lab/vms/worker-0/vm.json', seed: '/lab/vms/worker-0/seed' };
  const argv = qemuArgv({
    qemu: 'qemu-system-x86_64', label: 'hardway/worker-0', cpus: 2, memoryMiB: 2048, mac: node.mac, tap: 'hwt-0123456789', acceleration: 'tcg', files,
    image: { disk: '/img/base.qcow2', diskFormat: 'qcow2', kernel: '/img/vmlinuz', initrd: '/img/initrd.img', rootDevice: '/dev/vda', description: 'x' },
    append: 'root=/dev/vda', withSeed: false, withQmp: true,
  });
  const after = (flag: string) => argv[argv.indexOf(flag) + 1];
  assert.equal(after('-accel'), 'tcg,thread=multi,tb-size=512');
  assert.equal(after('-cpu'), 'max');
  assert.equal(after('-smp'), '2');
  assert.equal(after('-m'), '2048');
  assert.equal(after('-kernel'), '/img/vmlinuz');
  assert.equal(after('-initrd'), '/img/initrd.img');
  assert.equal(after('-append'), 'root=/dev/vda');
  assert.ok(argv.includes(`virtio-net-pci,netdev=lab0,mac=${node.mac}`));
  assert.ok(argv.includes('tap,id=lab0,ifname=hwt-0123456789,script=no,downscript=no'));
  assert.ok(argv.some((a) => a.startsWith('file=/lab/vms/worker-0/disk.qcow2,if=virtio,format=qcow2')));
  assert.equal(after('-chardev'), 'file,id=console0,path=/lab/vms/worker-0/console.log');
  assert.ok(argv.includes('-daemonize'));
  assert.equal(after('-pidfile'), '/lab/vms/worker-0/qemu.pid');

  const kvm = qemuArgv({ ...{ qemu: 'q', label: 'l', cpus: 1, memoryMiB: 512, mac: node.mac, tap: 't', files, append: '', withSeed: true, withQmp: false }, acceleration: 'kvm', image: { disk: '/d', diskFormat: 'raw', rootDevice: '/dev/vda1', description: 'cloud' } });
  assert.equal(kvm[kvm.indexOf('-accel') + 1], 'kvm');
  assert.equal(kvm[kvm.indexOf('-cpu') + 1], 'host');
  assert.ok(!kvm.includes('-kernel') && !kvm.includes('-append'), 'no kernel: the disk boots itself');
  assert.ok(kvm.some((a) => a.includes('driver=vvfat') && a.includes('label=cidata')), 'cloud-init seed attached');
  assert.ok(!kvm.includes('-qmp'));
  assert.equal(qemuOptionValue('/a,b/c'), '/a,,b/c');
});

test('the cloud-init seed carries the same contract: hostname, root key, static address by MAC', () => {
  const node = findNode(plan, 'controller-0');
  const seed = renderSeed({ labName: 'hardway', node, network: plan.network, sshPublicKey: key });
  assert.match(seed.metaData, /local-hostname: controller-0/);
  assert.match(seed.userData, /^#cloud-config\n/);
  assert.ok(seed.userData.includes(JSON.stringify(key)));
  assert.match(seed.networkConfig, new RegExp(`macaddress: "${node.mac}"`));
  assert.match(seed.networkConfig, /addresses: \[10\.240\.0\.11\/24\]/);
  assert.match(seed.networkConfig, /via: 10\.240\.0\.1/);
});

test('a panicked or stranded guest is recognised from its console', async () => {
  const { guestBootFailure } = await import('../../main/providers/qemu/qemu-provider.ts');
  assert.equal(
    guestBootFailure('[    3.3] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n[    3.4] ---[ end Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0) ]---\n'),
    'kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)',
  );
  assert.equal(guestBootFailure('ALERT!  /dev/vdz does not exist.  Dropping to a shell!'), 'the initramfs gave up: /dev/vdz does not exist.');
  assert.equal(guestBootFailure('You are in emergency mode. After logging in, type "journalctl -xb"'), 'systemd entered emergency mode');
  assert.equal(guestBootFailure('[  OK  ] Started ssh.service - OpenBSD Secure Shell server.\ncontroller-0 login:'), undefined);
});

test('a connected lab (network.nat): resolvers on the kernel command line, three tagged iptables rules, loopback resolvers skipped', () => {
  const node = findNode(plan, 'worker-0');
  const line = renderKernelCmdline({ node, network: plan.network, sshPublicKey: key, dns: ['9.9.9.9', '1.1.1.1'] });
  assert.equal(cmdlineValue(line, 'hardway.dns'), '9.9.9.9,1.1.1.1');
  const rules = natRules('hwl-0123456789', '10.240.0.0/24');
  assert.deepEqual(rules.map((r) => `${r.table} ${r.chain} ${r.rule.join(' ')}`), [
    'nat POSTROUTING -s 10.240.0.0/24 ! -o hwl-0123456789 -m comment --comment hardway-lab hwl-0123456789 -j MASQUERADE',
    'filter FORWARD -i hwl-0123456789 ! -o hwl-0123456789 -m comment --comment hardway-lab hwl-0123456789 -j ACCEPT',
    'filter FORWARD -o hwl-0123456789 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment hardway-lab hwl-0123456789 -j ACCEPT',
  ]);
  assert.deepEqual(parseNameservers('# resolved\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nsearch lan\nnameserver 192.168.1.1\nnameserver fe80::1\n'), ['192.168.1.1']);
  const spec = presetSpec('minimal', 'x');
  assert.deepEqual(labResolvers(spec), [], 'nat is off by default: no resolver');
  assert.deepEqual(labResolvers({ network: { ...spec.network, nat: true, dns: ['9.9.9.9'] } }), ['9.9.9.9']);
  assert.deepEqual(labResolvers({ network: { ...spec.network, nat: true } }, ['/nonexistent']), []);
});
