import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMachineReadable, parseRecordLine, parseSnapshotList, parseSshConfig, parseStatus, unescapeField } from '../../main/providers/vagrant/vagrant-cli.ts';
import { toVmState } from '../../main/providers/vagrant/vagrant-provider.ts';

// Captured from Vagrant 2.3.4 + vagrant-libvirt 0.11.2.
const STATUS = [
  '1795320323,a,metadata,provider,libvirt',
  '1795320323,a,provider-name,libvirt',
  '1795320323,a,state,not_created',
  '1795320323,a,state-human-short,not created',
  '1795320323,a,state-human-long,The Libvirt domain is not created. Run `vagrant up` to create it.',
  '1795320323,b,provider-name,libvirt',
  '1795320323,b,state,running',
  '1795320323,b,state-human-short,running',
  '1795320323,,ui,info,Current machine states:\\n\\na                         not created (libvirt)\\n\\nFor more information about a specific\\nVM%!(VAGRANT_COMMA) run `vagrant status NAME`.',
  '',
].join('\n');

test('records: timestamp, target, type, data with VAGRANT_COMMA and \\n unescaped', () => {
  const record = parseRecordLine('1795320325,,error-exit,Vagrant::Errors::SSHNotReady,not yet ready.\\nAdditionally%!(VAGRANT_COMMA) check');
  assert.deepEqual(record, {
    timestamp: 1795320325,
    target: '',
    type: 'error-exit',
    data: ['Vagrant::Errors::SSHNotReady', 'not yet ready.\nAdditionally, check'],
  });
  assert.equal(unescapeField('a%!(VAGRANT_COMMA)b\\r\\nc'), 'a,b\r\nc');
  assert.equal(parseRecordLine('==> default: Booting VM...'), undefined);
  assert.deepEqual(parseRecordLine('1,,box-name,hardway-lab/bookworm')?.data, ['hardway-lab/bookworm']);
});

test('lines that are not records are kept apart', () => {
  const { records, otherLines } = parseMachineReadable(`${STATUS}Some plugin printed this\n`);
  assert.equal(records.length, 9);
  assert.deepEqual(otherLines, ['Some plugin printed this']);
});

test('status: one entry per machine with state, provider and the short human text', () => {
  const machines = parseStatus(parseMachineReadable(STATUS).records);
  assert.deepEqual(machines, [
    { name: 'a', provider: 'libvirt', state: 'not_created', human: 'not created' },
    { name: 'b', provider: 'libvirt', state: 'running', human: 'running' },
  ]);
  assert.equal(toVmState({ state: 'not_created' }), 'absent');
  assert.equal(toVmState({ state: 'running' }), 'running');
  assert.equal(toVmState({ state: 'inaccessible' }), 'starting');
  assert.equal(toVmState({ state: 'shutoff' }), 'stopped');
});

test('ssh-config: host, address, user, port and key', () => {
  const text = [
    'Host controller-0',
    '  HostName 10.240.0.11',
    '  User root',
    '  Port 22',
    '  UserKnownHostsFile /dev/null',
    '  StrictHostKeyChecking no',
    '  PasswordAuthentication no',
    '  IdentityFile "/labs/hard way/ssh/id_ed25519"',
    '  IdentitiesOnly yes',
    '  LogLevel FATAL',
    '  PubkeyAcceptedKeyTypes +ssh-rsa',
    '',
  ].join('\n');
  const [block] = parseSshConfig(text);
  assert.equal(block?.host, 'controller-0');
  assert.equal(block?.hostName, '10.240.0.11');
  assert.equal(block?.user, 'root');
  assert.equal(block?.port, 22);
  assert.deepEqual(block?.identityFiles, ['/labs/hard way/ssh/id_ed25519']);
  assert.deepEqual(block?.options.IdentitiesOnly, ['yes']);
});

test('ssh-config in machine-readable mode: the record carries the raw config on the lines after it', () => {
  const stdout = [
    '1795321587,controller-0,metadata,provider,libvirt',
    '1795321588,controller-0,ssh-config,Host controller-0',
    '  HostName 10.240.0.11',
    '  User root',
    '  Port 22',
    '  IdentityFile /labs/hardway/ssh/id_ed25519',
    '',
  ].join('\n');
  const { records, otherLines } = parseMachineReadable(stdout);
  assert.deepEqual(otherLines, []);
  const record = records.find((r) => r.type === 'ssh-config')!;
  const [block] = parseSshConfig(record.data.join(','));
  assert.equal(block?.hostName, '10.240.0.11');
  assert.equal(block?.user, 'root');
  assert.deepEqual(block?.identityFiles, ['/labs/hardway/ssh/id_ed25519']);
});

test('box list: the last record is not followed by a stray newline', () => {
  const stdout = [
    '1795323077,,ui,info,hardway-lab/bookworm (libvirt%!(VAGRANT_COMMA) 1.20261122.041656)',
    '1795323077,,box-name,hardway-lab/bookworm',
    '1795323077,,box-provider,libvirt',
    '1795323077,,box-version,1.20261122.041656',
    '',
  ].join('\n');
  const { records } = parseMachineReadable(stdout);
  assert.deepEqual(records.at(-1)?.data, ['1.20261122.041656']);
});

test('snapshot list: the names are the detail lines; "no snapshots" and a machine not created are none', () => {
  const some = parseMachineReadable('1,worker-0,ui,output,==> worker-0: \n1,worker-0,ui,detail,after-compute\n1,worker-0,ui,detail,after-etcd\n').records;
  assert.deepEqual(parseSnapshotList(some), ['after-compute', 'after-etcd']);
  const none = parseMachineReadable('1,worker-0,ui,output,==> worker-0: No snapshots have been taken yet!\n1,worker-0,ui,detail,    worker-0: Snapshot is a way to save the state\n').records;
  assert.deepEqual(parseSnapshotList(none), []);
  assert.deepEqual(parseSnapshotList(parseMachineReadable('1,lb,ui,info,==> lb: VM not created. Moving on...\n').records), []);
});
