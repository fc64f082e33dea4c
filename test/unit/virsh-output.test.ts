import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNotFound, isNotRunning, parseDomState, parseNameList, parseNetList, resolveLibvirtUri } from '../../main/providers/libvirt/virsh.ts';
import { toVmState } from '../../main/providers/libvirt/libvirt-provider.ts';
import { ProviderError } from '../../main/providers/provider.ts';

test('list --all --name: one name a line, blank lines dropped', () => {
  assert.deepEqual(parseNameList('hardway-controller-0\nhardway-worker-0\n\n'), ['hardway-controller-0', 'hardway-worker-0']);
  assert.deepEqual(parseNameList('\n'), []);
});

test('domstate words, and what the lab calls them', () => {
  assert.equal(parseDomState('running\n\n'), 'running');
  assert.equal(parseDomState('shut off\n'), 'shut off');
  assert.throws(() => parseDomState('exploded\n'), ProviderError);
  assert.equal(toVmState(undefined), 'absent');
  assert.equal(toVmState('running'), 'running');
  assert.equal(toVmState('shut off'), 'stopped');
  assert.equal(toVmState('crashed'), 'failed');
});

test('net-list --all table', () => {
  const out = [
    ' Name          State      Autostart   Persistent',
    '----------------------------------------------------',
    ' default       inactive   no          yes',
    ' hardway-net   active     no          yes',
    '',
  ].join('\n');
  assert.deepEqual(parseNetList(out), [
    { name: 'default', active: false, autostart: false, persistent: true },
    { name: 'hardway-net', active: true, autostart: false, persistent: true },
  ]);
  assert.deepEqual(parseNetList(' Name   State   Autostart   Persistent\n------------------------------------------\n\n'), []);
  assert.throws(() => parseNetList('garbage'), ProviderError);
});

test('"already gone" errors are told apart from real failures', () => {
  const gone = new ProviderError('x', { output: "error: failed to get domain 'nope'" });
  const netGone = new ProviderError('x', { output: "error: failed to get network 'nope'\nerror: Network not found: no network with matching name 'nope'" });
  const notRunning = new ProviderError('x', { output: "error: Failed to destroy domain 'a'\nerror: Requested operation is not valid: domain is not running" });
  const real = new ProviderError('x', { output: 'error: failed to connect to the hypervisor' });
  assert.ok(isNotFound(gone));
  assert.ok(isNotFound(netGone));
  assert.ok(isNotRunning(notRunning));
  assert.ok(!isNotFound(real) && !isNotRunning(real));
});

test('connection URI: option, then LIBVIRT_DEFAULT_URI, then qemu:///system', () => {
  assert.equal(resolveLibvirtUri(undefined, {}), 'qemu:///system');
  assert.equal(resolveLibvirtUri(undefined, { LIBVIRT_DEFAULT_URI: 'qemu:///session' }), 'qemu:///session');
  assert.equal(resolveLibvirtUri('qemu+ssh://host/system', { LIBVIRT_DEFAULT_URI: 'qemu:///session' }), 'qemu+ssh://host/system');
});
