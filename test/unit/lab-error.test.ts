// One error shape for people: what failed, on which node, the command, the end of its output and
// what to do, the same from a provider, a step and the image builder, and through the API.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeError, LabError } from '../../main/shared/lab-error.ts';
import { serializeError } from '../../main/shared/api-contract.ts';
import { ProviderError } from '../../main/providers/provider.ts';
import { StepError } from '../../main/engine/step-definition.ts';
import { ImageBuildError } from '../../main/image/build-image.ts';

test('providers, steps and the image builder throw LabErrors that tell the whole story', () => {
  for (const Kind of [ProviderError, StepError, ImageBuildError]) {
    const error = new Kind('etcd did not start', { node: 'controller-1', command: 'systemctl start etcd', output: 'line 1\nline 2\n', hint: 'journalctl -u etcd on controller-1' });
    assert.ok(error instanceof LabError);
    assert.equal(error.name, Kind.name);
    assert.equal(
      describeError(error),
      ['etcd did not start', '  node: controller-1', '  command: systemctl start etcd', '  last output:', '    line 1', '    line 2', '  what to do: journalctl -u etcd on controller-1'].join('\n'),
    );
    assert.deepEqual(serializeError(error), { name: Kind.name, message: describeError(error), hint: 'journalctl -u etcd on controller-1', code: undefined });
  }
  assert.equal(describeError(new StepError('no details')), 'no details');
  assert.equal(describeError(new Error('plain')), 'plain');
  assert.equal(describeError('text'), 'text');
});
