import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrequencyCaps, type CapCheck } from '@commstrat/queue';
import { testRedis } from './harness.ts';

const DAY = 86_400_000;
const check = (messageId: string, over: Partial<CapCheck> = {}): CapCheck => ({
  messageId,
  tenantId: 'acme',
  channel: 'sms',
  category: 'marketing',
  address: '+4915112345678',
  max: 3,
  windowMs: DAY,
  ...over,
});

test('three replicas checking one recipient at once admit exactly the cap, and the rest learn when the window allows', async () => {
  const connections = await Promise.all([testRedis(), testRedis(), testRedis()]);
  const prefix = connections[0].prefix;
  const replicas = connections.map(({ redis }) => new FrequencyCaps(redis, { prefix, secret: 's3cret' }));
  const now = Date.parse('2026-12-02T09:00:00Z');
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) => replicas[i % 3]!.admit([[check(`m${i}`)]], now + (i % 5))),
  );
  const admitted = answers.filter(([answer]) => answer?.admitted === true);
  assert.equal(admitted.length, 3);
  for (const [answer] of answers) {
    if (answer?.admitted === false) {
      assert.ok(answer.allowedAt > now + DAY - 10 && answer.allowedAt <= now + DAY + 5, `allowed a day after the first: ${answer.allowedAt - now}`);
    }
  }
  // The key names a keyed hash, never the number.
  const keys = await connections[0].redis.keys(`${prefix}*`);
  assert.equal(keys.length, 1);
  assert.ok(!keys[0]!.includes('4915112345678'));
  assert.notEqual(
    new FrequencyCaps(connections[0].redis, { prefix, secret: 'other' }).windowKey(check('x')),
    keys[0],
    'the hash is keyed by the secret',
  );
});

test('the window slides: one place frees a window after the oldest counted message, not at a boundary', async () => {
  const { redis, prefix } = await testRedis();
  const caps = new FrequencyCaps(redis, { prefix, secret: 's' });
  const t0 = 1_000_000;
  const hour = 3_600_000;
  for (const [i, at] of [t0, t0 + hour, t0 + 2 * hour].entries()) {
    assert.deepEqual(await caps.admit([[check(`m${i}`)]], at), [{ admitted: true }]);
  }
  assert.deepEqual(await caps.admit([[check('late')]], t0 + DAY - 1), [{ admitted: false, allowedAt: t0 + DAY, blocking: 0 }]);
  assert.deepEqual(await caps.admit([[check('late')]], t0 + DAY), [{ admitted: true }]);
  assert.deepEqual(await caps.admit([[check('later')]], t0 + DAY + 1), [{ admitted: false, allowedAt: t0 + hour + DAY, blocking: 0 }]);
});

test('a message is counted in all its caps or in none, and counting it again is a no-op', async () => {
  const { redis, prefix } = await testRedis();
  const caps = new FrequencyCaps(redis, { prefix, secret: 's' });
  const both = (id: string) => [check(id), check(id, { max: 1, windowMs: 3_600_000 })];
  const [first, second, other] = await caps.admit([both('a'), both('b'), [check('c', { address: '+4915100000000' })]], 0);
  assert.deepEqual(first, { admitted: true });
  assert.deepEqual(second, { admitted: false, allowedAt: 3_600_000, blocking: 1 }, 'the hourly cap holds it');
  assert.deepEqual(other, { admitted: true }, 'another recipient has windows of its own');
  // "b" was counted in neither window: after the hour, two more fit the daily cap.
  assert.deepEqual(await caps.admit([both('b')], 3_600_000), [{ admitted: true }]);
  assert.deepEqual(await caps.admit([both('b')], 3_600_001), [{ admitted: true }], 'a retry of a counted message');
  assert.deepEqual(await caps.admit([[check('d')]], 3_600_002), [{ admitted: true }]);
  assert.equal((await caps.admit([[check('e')]], 3_600_003))[0]?.admitted, false, 'a, b, d fill the daily cap');
  assert.deepEqual(await caps.admit([[], [check('e')]], 3_600_004).then((a) => a[0]), { admitted: true }, 'no caps, no check');
});
