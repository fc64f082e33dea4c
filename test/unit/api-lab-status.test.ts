// Parsing what the dashboard's status sweep reads from a node: systemctl's unit states, where a
// unit not installed yet must not look like a stopped one.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unitStates } from '../../main/api/lab-status.ts';

test('systemctl show blocks become unit states; a missing unit file is "not installed"', () => {
  const output = [
    'Id=etcd.service',
    'ActiveState=active',
    'LoadState=loaded',
    '',
    'LoadState=not-found',
    'ActiveState=inactive',
    'Id=kube-apiserver.service',
    '',
    'Id=kube-scheduler.service',
    'LoadState=loaded',
    'ActiveState=failed',
    '',
  ].join('\n');
  const states = unitStates(output);
  assert.equal(states.get('etcd'), 'active');
  assert.equal(states.get('kube-apiserver'), 'not installed');
  assert.equal(states.get('kube-scheduler'), 'failed');
  assert.equal(states.get('kube-controller-manager'), undefined);
  assert.equal(unitStates('').size, 0);
});
