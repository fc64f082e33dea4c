// The lab.json the Vagrantfile reads, the box pieces, and the real Vagrantfile evaluated by the real
// `vagrant` (no VMs, no libvirtd: `vagrant validate` and `vagrant status` only read the config).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { boxVersion, renderBoxCatalog, renderBoxVagrantfile } from '../../main/image/build-box.ts';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { parseMachineReadable, parseStatus } from '../../main/providers/vagrant/vagrant-cli.ts';
import { renderVagrantLabFile } from '../../main/providers/vagrant/vagrant-lab-file.ts';
import { SHIPPED_VAGRANTFILE } from '../../main/providers/vagrant/vagrant-provider.ts';
import { presetSpec } from '../../main/spec/cluster-spec.ts';

const plan = buildPlan({ ...presetSpec('ha', 'hardway'), provider: 'vagrant' });
const options = {
  labDir: '/labs/hardway',
  vagrantDir: '/labs/hardway/vagrant',
  privateKeyPath: '/labs/hardway/ssh/id_ed25519',
  publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample hardway-lab\n',
  uri: 'qemu:///system',
  driver: 'qemu' as const,
  boxVersion: '1.20260101.120000',
};

test('lab.json carries every planned node with its address, MAC and size', () => {
  const lab = renderVagrantLabFile(plan, options);
  assert.equal(lab.schema, 1);
  assert.deepEqual(lab.box, { name: 'hardway-lab/bookworm', version: '1.20260101.120000' });
  assert.equal(lab.ssh.publicKey, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample hardway-lab');
  assert.deepEqual(lab.network, { subnet: '10.240.0.0/24', gateway: '10.240.0.1', netmask: '255.255.255.0', prefixLength: 24, nat: false, dns: [] });
  assert.deepEqual(
    lab.nodes.map((n) => [n.name, n.ip]),
    plan.nodes.map((n) => [n.name, n.ip]),
  );
  const worker = lab.nodes.find((n) => n.name === 'worker-1')!;
  assert.equal(worker.mac, plan.nodes.find((n) => n.name === 'worker-1')!.mac);
  assert.equal(worker.consoleLog, '/labs/hardway/vagrant/worker-1/console.log');
  assert.equal(lab.libvirt.managementSubnet, '192.168.121.0/24');
  assert.deepEqual(renderVagrantLabFile(plan, options), lab, 'pure');
});

test('the box: version from the image build time, catalog, direct-boot Vagrantfile', () => {
  assert.equal(boxVersion({ builtAt: '2026-11-22T04:04:18.027Z' }), '1.20261122.040418');
  const catalog = JSON.parse(renderBoxCatalog('hardway-lab/bookworm', '1.2.3', '/cache/x/box file.box'));
  assert.equal(catalog.name, 'hardway-lab/bookworm');
  assert.deepEqual(catalog.versions[0].providers[0], { name: 'libvirt', url: 'file:///cache/x/box%20file.box' });
  const vagrantfile = renderBoxVagrantfile();
  assert.match(vagrantfile, /libvirt\.kernel = File\.join\(__dir__, 'vmlinuz'\)/);
  assert.match(vagrantfile, /libvirt\.initrd = File\.join\(__dir__, 'initrd\.img'\)/);
  assert.match(vagrantfile, /root=\/dev\/vda/);
});

function vagrantAvailable(t: { skip: (reason: string) => void }): boolean {
  if (spawnSync('sh', ['-c', 'command -v vagrant']).status === 0) return true;
  const reason = 'SKIPPED: vagrant is not installed (apt install vagrant vagrant-libvirt); the Vagrantfile was not evaluated';
  console.warn(reason);
  t.skip(reason);
  return false;
}

test('the shipped Vagrantfile validates and defines exactly the planned machines', (t) => {
  if (!vagrantAvailable(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'hwl-vagrantfile-'));
  try {
    const key = join(dir, 'id_ed25519');
    writeFileSync(key, 'not a real key; vagrant validate only checks the file exists\n', { mode: 0o600 });
    writeFileSync(join(dir, 'lab.json'), JSON.stringify(renderVagrantLabFile(plan, { ...options, privateKeyPath: key, vagrantDir: dir })));
    copyFileSync(SHIPPED_VAGRANTFILE, join(dir, 'Vagrantfile'));
    const env = { ...process.env, VAGRANT_CWD: dir, VAGRANT_HOME: join(dir, 'home'), VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_DEFAULT_PROVIDER: 'libvirt' };
    const validate = spawnSync('vagrant', ['validate', '--machine-readable'], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(validate.status, 0, `vagrant validate failed:\n${validate.stdout}${validate.stderr}`);
    const status = spawnSync('vagrant', ['status', '--machine-readable'], { env, encoding: 'utf8', timeout: 120_000 });
    assert.equal(status.status, 0, status.stdout + status.stderr);
    const machines = parseStatus(parseMachineReadable(status.stdout).records);
    assert.deepEqual(
      machines.map((m) => [m.name, m.state, m.provider]),
      plan.nodes.map((n) => [n.name, 'not_created', 'libvirt']),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without lab.json the Vagrantfile says what is missing', (t) => {
  if (!vagrantAvailable(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'hwl-vagrantfile-'));
  try {
    copyFileSync(SHIPPED_VAGRANTFILE, join(dir, 'Vagrantfile'));
    const env: NodeJS.ProcessEnv = { ...process.env, VAGRANT_CWD: dir, VAGRANT_HOME: join(dir, 'home'), VAGRANT_CHECKPOINT_DISABLE: '1' };
    delete env.HARDWAY_LAB_DIR;
    const status = spawnSync('vagrant', ['status'], { env, encoding: 'utf8', timeout: 120_000 });
    assert.notEqual(status.status, 0);
    assert.match(status.stdout + status.stderr, /no lab\.json next to this Vagrantfile/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
