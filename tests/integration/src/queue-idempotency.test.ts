import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@commstrat/core';
import { IdempotencyStore } from '@commstrat/queue';
import { eventually, testRedis } from './harness.ts';

test('of two concurrent reserves of one key on two connections, exactly one is new', async () => {
  const first = await testRedis();
  const second = await testRedis();
  const prefix = first.prefix;
  const stores = [new IdempotencyStore(first.redis, { prefix }), new IdempotencyStore(second.redis, { prefix })];
  for (let round = 0; round < 20; round++) {
    const answers = await Promise.all(stores.map((store) => store.reserve('t1', `order-${round}`)));
    assert.deepEqual(
      answers.map((a) => a.status).sort(),
      ['in_progress', 'new'],
      `round ${round}: ${JSON.stringify(answers)}`,
    );
  }
});

test('a completed key answers with its value; a released one can be reserved again', async () => {
  const { redis, prefix } = await testRedis();
  const store = new IdempotencyStore(redis, { prefix });
  assert.deepEqual(await store.reserve('t1', 'k1'), { status: 'new' });
  assert.deepEqual(await store.reserve('t1', 'k1'), { status: 'in_progress' });
  await store.complete('t1', 'k1', '["01JA"]');
  assert.deepEqual(await store.reserve('t1', 'k1'), { status: 'done', value: '["01JA"]' });
  assert.ok((await redis.pttl(store.redisKey('t1', 'k1'))) > 86_000_000, 'kept for the 24 h default window');

  assert.deepEqual(await store.reserve('t1', 'k2'), { status: 'new' });
  await store.release('t1', 'k2');
  assert.deepEqual(await store.reserve('t1', 'k2'), { status: 'new' });

  await store.release('t1', 'k1');
  assert.deepEqual(await store.reserve('t1', 'k1'), { status: 'done', value: '["01JA"]' }, 'release keeps a completed key');
});

test('a key is new again once its window has passed, and a reservation lapses after its own TTL', async () => {
  const { redis, prefix } = await testRedis();
  const store = new IdempotencyStore(redis, { prefix, reservationSeconds: 0.2 });
  assert.equal((await store.reserve('t1', 'k', 1)).status, 'new');
  await store.complete('t1', 'k', 'v', 1);
  assert.equal((await store.reserve('t1', 'k', 1)).status, 'done');
  const gone = () => eventually('the key to expire', async () => ((await redis.exists(store.redisKey('t1', 'k'))) === 0 ? true : undefined), 5000, 20);
  await gone(); // its window of 1 s
  assert.equal((await store.reserve('t1', 'k', 1)).status, 'new');

  await gone(); // the reservation's own 0.2 s
  assert.equal((await store.reserve('t1', 'k', 1)).status, 'new', 'a crashed request does not hold its key for ever');
});

test('tenants never share a key, whatever the key or tenant id contains', async () => {
  const { redis, prefix } = await testRedis();
  const store = new IdempotencyStore(redis, { prefix });
  await store.reserve('t1', 'same');
  await store.complete('t1', 'same', 'of t1');
  assert.deepEqual(await store.reserve('t2', 'same'), { status: 'new' });
  // Without escaping, tenant "a:b" with key "c" and tenant "a" with key "b:c" could meet.
  assert.deepEqual(await store.reserve('a:b', 'c'), { status: 'new' });
  assert.deepEqual(await store.reserve('a', 'b:c'), { status: 'new' });
  assert.notEqual(store.redisKey('a:b', 'c'), store.redisKey('a', 'b:c'));
  assert.ok(store.redisKey('t1', 'x'.repeat(10_000)).length < prefix.length + 40, 'long keys are hashed to a fixed size');
});

test('the batch variants agree with the single ones, in one round trip each', async () => {
  const { redis, prefix } = await testRedis();
  const store = new IdempotencyStore(redis, { prefix });
  await store.reserve('t1', 'done-before');
  await store.complete('t1', 'done-before', 'old ids');
  await store.reserve('t1', 'held-before');
  await store.release('t1', 'never-reserved'); // Redis has both scripts cached from here on

  const keys = [
    ...Array.from({ length: 1_000 }, (_, i) => ({ tenantId: 't1', key: `k${i}` })),
    { tenantId: 't1', key: 'done-before' },
    { tenantId: 't1', key: 'held-before' },
    { tenantId: 't1', key: 'k7' }, // a duplicate within the batch itself
  ];
  // Count what the connection sends: a batch must be one command, not one per key.
  const sent: string[] = [];
  const sendCommand = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    sent.push(command.name);
    return sendCommand(command, stream);
  };
  const reserved = await store.reserveMany(keys);
  await store.releaseMany(keys.slice(500, 1_000));
  redis.sendCommand = sendCommand;
  assert.deepEqual(sent, ['evalsha', 'evalsha'], 'one command per batch call');
  assert.equal(reserved.length, keys.length);
  assert.ok(reserved.slice(0, 1_000).every((r) => r.status === 'new'));
  assert.deepEqual(reserved.slice(1_000), [
    { status: 'done', value: 'old ids' },
    { status: 'in_progress' },
    { status: 'in_progress' },
  ]);

  await store.completeMany(keys.slice(0, 500).map((k, i) => ({ ...k, value: `ids-${i}` })));
  const again = await store.reserveMany(keys.slice(0, 1_000));
  for (const [i, reservation] of again.entries()) {
    const single = await store.reserve(keys[i]?.tenantId ?? '', keys[i]?.key ?? '');
    const expected = i < 500 ? { status: 'done', value: `ids-${i}` } : { status: 'new' };
    assert.deepEqual(reservation, expected, `batch answer for key ${i}`);
    assert.deepEqual(single, i < 500 ? expected : { status: 'in_progress' }, `single answer for key ${i}`);
  }
  assert.deepEqual(await store.reserveMany([]), []);
});

test('a window that is not a positive number of seconds is refused', async () => {
  const { redis, prefix } = await testRedis();
  assert.throws(() => new IdempotencyStore(redis, { prefix, windowSeconds: 0 }), ConfigError);
  const store = new IdempotencyStore(redis, { prefix });
  await assert.rejects(store.complete('t1', 'k', 'v', Number.NaN), ConfigError);
});
