// The base image as built: a real mmdebstrap build from the Debian mirror (about 2 minutes the
// first time, then cached), inspected without booting it: the disk, the kernel, the initrd and
// the files that make the kernel-command-line contract work. Booting it: qemu-provider.test.ts.

import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { buildBaseImage, commandExists, findBaseImage, imageRecipe, type BaseImage } from '../../main/image/build-image.ts';
import { runChecked, runCommand } from '../../main/image/run-command.ts';

const skip =
  process.getuid?.() !== 0
    ? 'the image builder tests run mmdebstrap in root mode; run them as root'
    : !(await commandExists('mmdebstrap'))
      ? 'mmdebstrap is not installed (apt-get install mmdebstrap)'
      : !(await commandExists('debugfs'))
        ? 'debugfs (e2fsprogs) is not installed'
        : undefined;
if (skip) console.warn(`SKIPPED: image builder tests: ${skip}`);

let image: BaseImage;
let scratch: string;
let raw: string;

/** Reads a path inside the image's ext4 filesystem without mounting it. */
async function debugfs(request: string): Promise<string> {
  const result = await runCommand(['debugfs', '-R', request, raw]);
  // stderr carries "File not found" errors (wanted) and the version banner (not).
  return result.stdout + result.stderr.replace(/^debugfs \d.*\n?/m, '');
}

test('image builder', { skip, timeout: 30 * 60_000 }, async (t) => {
  image = await buildBaseImage({ onProgress: (line) => console.log(`[image] ${line}`) });
  scratch = await mkdtemp(join(tmpdir(), 'hwl-image-test-'));
  raw = join(scratch, 'root.raw');
  await runChecked(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', image.qcow2, raw]);
  t.after(() => rm(scratch, { recursive: true, force: true }));

  await t.test('a second build is instant and returns the same cached image', async () => {
    const started = Date.now();
    const again = await buildBaseImage({});
    assert.ok(Date.now() - started < 5000, `cached build took ${Date.now() - started} ms`);
    assert.equal(again.hash, image.hash);
    assert.equal(again.qcow2, image.qcow2);
    assert.equal((await findBaseImage())?.hash, image.hash);
    const recipe = await imageRecipe(image.mirror);
    assert.equal(recipe.hash, image.hash, 'the cache key is the recipe hash');
    const elsewhere = await imageRecipe('http://mirror.example/debian');
    assert.notEqual(elsewhere.hash, recipe.hash, 'another mirror is another cache entry');
    assert.equal(elsewhere.contentHash, recipe.contentHash, '... with the same contents');
  });

  await t.test('the disk is a qcow2 with ext4 directly on it (root=/dev/vda), the kernel a bzImage', async () => {
    const info = JSON.parse((await runChecked(['qemu-img', 'info', '--output=json', image.qcow2])).stdout) as { format: string; 'virtual-size': number };
    assert.equal(info.format, 'qcow2');
    assert.ok(info['virtual-size'] >= 2 * 1024 ** 3);
    const handle = await open(raw, 'r');
    const head = Buffer.alloc(2048);
    await handle.read(head, 0, 2048, 0);
    await handle.close();
    assert.equal(head.readUInt16LE(1080), 0xef53, 'ext superblock magic at byte 1080: no partition table');
    const fsInfo = (await runChecked(['dumpe2fs', '-h', raw])).stdout;
    assert.match(fsInfo, /Filesystem features:.*extent/);
    assert.match(fsInfo, /Filesystem volume name:\s+hardway-root/);
    const kernel = await readFile(image.kernel);
    assert.equal(kernel.toString('ascii', 0x202, 0x206), 'HdrS', 'Linux boot protocol header');
    assert.match(image.kernelVersion ?? '', /^\d+\.\d+\.\d+-\d+-amd64$/);
  });

  await t.test('the initrd carries the virtio disk and network drivers', async () => {
    const listing = (await runChecked(['lsinitramfs', image.initrd], { maxOutputChars: 50_000_000 })).stdout;
    assert.match(listing, /virtio_blk\.ko/);
    assert.match(listing, /virtio_net\.ko/);
    assert.match(listing, /virtio_pci\.ko/);
    assert.match(listing, /ext4\.ko/);
  });

  await t.test('no SSH host keys and no root password in the image; key-only root login', async () => {
    const ssh = await debugfs('ls -l /etc/ssh');
    assert.doesNotMatch(ssh, /ssh_host_/, 'host keys are generated per node at first boot');
    const conf = await debugfs('cat /etc/ssh/sshd_config.d/hardway-lab.conf');
    const hostKeys = conf.split('\n').filter((l) => /^HostKey\s/.test(l));
    assert.deepEqual(hostKeys, ['HostKey /etc/ssh/ssh_host_ed25519_key']);
    assert.match(conf, /^PasswordAuthentication no$/m);
    assert.match(conf, /^PermitRootLogin prohibit-password$/m);
    const shadow = await debugfs('cat /etc/shadow');
    assert.match(shadow, /^root:[!*]/m, 'root has no usable password');
    assert.doesNotMatch(await debugfs('ls /root/.ssh'), /authorized_keys/, 'the key arrives on the kernel command line, per lab');
    assert.equal((await debugfs('cat /etc/machine-id')).trim(), '', 'every node gets its own machine-id');
  });

  await t.test('the boot-time units are enabled and the slow periodic ones are not', async () => {
    const wants = await debugfs('ls /etc/systemd/system/multi-user.target.wants');
    assert.match(wants, /hardway-boot-config\.service/);
    assert.match(wants, /hardway-growfs\.service/);
    assert.match(wants, /ssh\.service/);
    const timers = await debugfs('ls /etc/systemd/system/timers.target.wants');
    for (const timer of ['apt-daily.timer', 'apt-daily-upgrade.timer', 'e2scrub_all.timer', 'fstrim.timer']) assert.doesNotMatch(timers, new RegExp(timer.replace('.', '\\.')));
    assert.match(await debugfs('stat /etc/systemd/system/systemd-networkd-wait-online.service'), /Type: symlink/, 'wait-online is masked');
    const script = await debugfs('cat /usr/local/sbin/hardway-boot-config');
    for (const word of ['hardway.hostname', 'hardway.ssh_key', 'ip', 'ssh-keygen -q -t ed25519']) assert.ok(script.includes(word), `boot script handles ${word}`);
    assert.match(await debugfs('stat /usr/local/sbin/hardway-boot-config'), /Mode:\s+0755/);
  });

  await t.test('the tools the steps need are there; Kubernetes, etcd and containerd are not', async () => {
    for (const tool of ['/usr/sbin/iptables', '/usr/sbin/conntrack', '/usr/bin/socat', '/usr/sbin/ipset', '/usr/bin/curl', '/usr/bin/openssl', '/usr/sbin/sshd', '/usr/bin/zstd']) {
      assert.doesNotMatch(await debugfs(`stat ${tool}`), /File not found/, `${tool} is installed`);
    }
    for (const absent of ['/usr/bin/kubelet', '/usr/local/bin/kubelet', '/usr/bin/etcd', '/usr/local/bin/etcd', '/usr/bin/containerd', '/usr/local/bin/containerd']) {
      assert.match(await debugfs(`stat ${absent}`), /File not found/, `${absent} is installed by the lab, not the image`);
    }
  });
});
