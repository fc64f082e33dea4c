import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionSlots } from '../../main/ssh/session-slots.ts';

test('no more than max sessions run at once; waiters get slots in order', async () => {
  const slots = new SessionSlots(2);
  const first = await slots.acquire();
  const second = await slots.acquire();
  const order: string[] = [];
  const third = slots.acquire().then((release) => (order.push('third'), release));
  const fourth = slots.acquire().then((release) => (order.push('fourth'), release));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, []);
  assert.equal(slots.inUse, 2);

  first();
  first(); // releasing twice must not free a second slot
  const releaseThird = await third;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['third']);

  second();
  const releaseFourth = await fourth;
  assert.deepEqual(order, ['third', 'fourth']);
  releaseThird();
  releaseFourth();
  assert.equal(slots.inUse, 0);
});

test('an aborted wait leaves the queue and rejects with the abort reason', async () => {
  const slots = new SessionSlots(1);
  const held = await slots.acquire();
  const controller = new AbortController();
  const waiting = slots.acquire(controller.signal);
  controller.abort(new Error('stop waiting'));
  await assert.rejects(waiting, /stop waiting/);
  held();
  assert.equal(slots.inUse, 0);
  const again = await slots.acquire();
  assert.equal(slots.inUse, 1);
  again();
});
