import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, type Priority, type QueuedMessage } from '@commstrat/core';
import { LaneQueue } from '@commstrat/queue';
import { queuedMessage, testRedis } from './harness.ts';

const messages = (priority: Priority, count: number): QueuedMessage[] =>
  Array.from({ length: count }, () => queuedMessage(priority));

test('overCap names the lanes deeper than their cap, highest priority first, and ignores lanes without one', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new LaneQueue(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue([...messages('bulk', 5), ...messages('normal', 3), ...messages('high', 2)]);

  assert.deepEqual(await lanes.overCap({ bulk: 4, normal: 3, high: 1, critical: 0 }), ['high', 'bulk']);
  assert.deepEqual(await lanes.overCap({ bulk: 5 }), [], 'a lane exactly at its cap is not over it');
  assert.deepEqual(await lanes.overCap({}), []);
});

test('entries claimed but not acked still count towards the cap', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new LaneQueue(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue(messages('normal', 3));
  const claimed = await lanes.claim('A', 10, 100);
  assert.deepEqual(await lanes.overCap({ normal: 2 }), ['normal']);
  await lanes.ack(claimed.slice(0, 1));
  assert.deepEqual(await lanes.overCap({ normal: 2 }), []);
});

test('a cap that is not a whole number >= 0 is refused with the lane named', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new LaneQueue(redis, { prefix });
  await assert.rejects(lanes.overCap({ high: -1 }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems[0]?.path, 'caps.high');
    return true;
  });
});
