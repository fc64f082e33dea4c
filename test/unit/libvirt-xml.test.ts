import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildPlan } from '../../main/plan/address-plan.ts';
import { renderKernelCmdline } from '../../main/providers/qemu/kernel-cmdline.ts';
import { HARDWAY_XML_NAMESPACE, libvirtNames, renderDomainXml, renderNetworkXml } from '../../main/providers/libvirt/libvirt-xml.ts';
import { presetSpec } from '../../main/spec/cluster-spec.ts';

const plan = buildPlan({ ...presetSpec('minimal', 'hardway'), provider: 'libvirt' });
const controller = plan.nodes.find((n) => n.name === 'controller-0')!;
const files = {
  overlay: '/labs/hardway/vms/controller-0/disk.qcow2',
  kernel: '/cache/img/vmlinuz',
  initrd: '/cache/img/initrd.img',
  consoleLog: '/labs/hardway/vms/controller-0/console.log',
};
const cmdline = renderKernelCmdline({ node: controller, network: plan.network, sshPublicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample hardway-lab' });

function domainXml(type: 'kvm' | 'qemu', runAs?: { uid: number; gid: number }) {
  return renderDomainXml(plan, controller, { type, files, cmdline, runAs, labDir: '/labs/hardway' });
}

/** libvirt's own RNG schemas, offline (virt-xml-validate from libvirt-clients, xmllint from libxml2-utils). */
function validate(xml: string, schema: 'domain' | 'network', t: { skip: (reason: string) => void }): void {
  const found = spawnSync('sh', ['-c', 'command -v virt-xml-validate && command -v xmllint']);
  if (found.status !== 0) {
    const reason = 'SKIPPED: virt-xml-validate/xmllint not installed (apt install libvirt-clients libxml2-utils); schema check not run';
    console.warn(reason);
    t.skip(reason);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hwl-xml-'));
  try {
    const file = join(dir, `${schema}.xml`);
    writeFileSync(file, xml);
    const result = spawnSync('virt-xml-validate', [file, schema], { encoding: 'utf8' });
    assert.equal(result.status, 0, `virt-xml-validate rejected the ${schema} XML:\n${result.stdout}${result.stderr}\n${xml}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('names are prefixed with the lab name and the bridge fits in 15 bytes', () => {
  const names = libvirtNames('hardway');
  assert.equal(names.domain('controller-0'), 'hardway-controller-0');
  assert.equal(names.network, 'hardway-net');
  assert.match(names.bridge, /^hwlv-[0-9a-f]{8}$/);
  assert.ok(libvirtNames('a-very-long-lab-name-indeed').bridge.length <= 15);
  assert.notEqual(libvirtNames('one').bridge, libvirtNames('two').bridge);
});

test('the network is the node subnet with the host at .1, no DHCP and no DNS', (t) => {
  const xml = renderNetworkXml(plan);
  assert.match(xml, /<name>hardway-net<\/name>/);
  assert.match(xml, /<ip address='10\.240\.0\.1' netmask='255\.255\.255\.0'\/>/);
  assert.doesNotMatch(xml, /<dhcp>/);
  assert.match(xml, /<dns enable='no'\/>/);
  assert.doesNotMatch(xml, /<forward/, 'isolated by default');
  assert.match(renderNetworkXml(plan, { forward: 'nat' }), /<forward mode='nat'\/>/);
  validate(xml, 'network', t);
});

test('a TCG domain: maximum CPU, tb-cache, direct kernel boot, planned MAC, console log', (t) => {
  const xml = domainXml('qemu', { uid: 0, gid: 0 });
  assert.match(xml, /^<domain type='qemu'>/);
  assert.match(xml, /<name>hardway-controller-0<\/name>/);
  assert.match(xml, /<memory unit='MiB'>2048<\/memory>/);
  assert.match(xml, /<vcpu placement='static'>2<\/vcpu>/);
  assert.match(xml, /<cpu mode='maximum' check='none'\/>/);
  assert.match(xml, /<tb-cache unit='MiB'>128<\/tb-cache>/);
  assert.match(xml, /<kernel>\/cache\/img\/vmlinuz<\/kernel>/);
  assert.match(xml, /<initrd>\/cache\/img\/initrd\.img<\/initrd>/);
  assert.match(xml, /<cmdline>[^<]*ip=10\.240\.0\.11::10\.240\.0\.1:255\.255\.255\.0:controller-0:eth0:off[^<]*hardway\.hostname=controller-0[^<]*<\/cmdline>/);
  assert.match(xml, new RegExp(`<mac address='${controller.mac}'/>`));
  assert.match(xml, /<source network='hardway-net'\/>/);
  assert.match(xml, /<source file='\/labs\/hardway\/vms\/controller-0\/disk\.qcow2'\/>/);
  assert.match(xml, /<target dev='vda' bus='virtio'\/>/);
  assert.match(xml, /<log file='\/labs\/hardway\/vms\/controller-0\/console\.log' append='off'\/>/);
  assert.match(xml, /<label>\+0:\+0<\/label>/);
  assert.ok(xml.includes(HARDWAY_XML_NAMESPACE));
  validate(xml, 'domain', t);
});

test('a KVM domain passes the host CPU through and has no TCG settings; without runAs, no seclabel', (t) => {
  const xml = domainXml('kvm');
  assert.match(xml, /^<domain type='kvm'>/);
  assert.match(xml, /<cpu mode='host-passthrough'/);
  assert.doesNotMatch(xml, /<tcg>/);
  assert.doesNotMatch(xml, /<seclabel/);
  validate(xml, 'domain', t);
});

test('XML is a pure function of its inputs and escapes text', () => {
  assert.equal(domainXml('qemu'), domainXml('qemu'));
  const odd = renderDomainXml(plan, controller, { type: 'qemu', files: { ...files, overlay: "/tmp/it's <here> & there" }, cmdline, labDir: '/l' });
  assert.match(odd, /<source file='\/tmp\/it&apos;s &lt;here&gt; &amp; there'\/>/);
});
