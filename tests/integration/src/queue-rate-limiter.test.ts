import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { ConfigError } from '@commstrat/core';
import { ProviderRateLimiter, defaultBurst } from '@commstrat/queue';
import { testRedis, holdFor } from './harness.ts';

/** The most grant timestamps (ms) that fall in any half-open window [t, t + windowMs). */
function maxInAnyWindow(sortedTimestamps: readonly number[], windowMs: number): number {
  let max = 0;
  let start = 0;
  for (let end = 0; end < sortedTimestamps.length; end++) {
    while ((sortedTimestamps[end] ?? 0) - (sortedTimestamps[start] ?? 0) >= windowMs) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

test('three replicas on their own connections stay under the rate in every 1-second window, and near it overall', async (t) => {
  const rate = 200;
  const runMs = 3_000;
  // Three connections; the limiters share the first test's prefix, so one bucket.
  const connections = await Promise.all([testRedis(), testRedis(), testRedis()]);
  const prefix = connections[0].prefix;
  const limiters = connections.map(({ redis }) => new ProviderRateLimiter(redis, { prefix }));

  const grants: number[] = [];
  let takes = 0;
  const started = performance.now();
  const replica = async (limiter: ProviderRateLimiter, replicaIndex: number): Promise<void> => {
    while (performance.now() - started < runMs) {
      // Batches of different sizes, as dispatchers filling provider batches ask for.
      const wanted = 1 + ((takes + replicaIndex) % 8);
      takes++;
      const { granted, waitMs } = await limiter.take('sms-gw', wanted, rate);
      const at = performance.now();
      for (let i = 0; i < granted; i++) grants.push(at);
      if (granted < wanted) await holdFor(Math.max(1, waitMs), 'a replica waits as long as the bucket says');
    }
  };
  await Promise.all(limiters.map((limiter, i) => replica(limiter, i)));
  const elapsedS = (performance.now() - started) / 1000;

  grants.sort((a, b) => a - b);
  const maxWindow = maxInAnyWindow(grants, 1_000);
  const throughput = grants.length / elapsedS;
  t.diagnostic(
    `burst ${defaultBurst(rate)}, ${takes} takes, ${grants.length} grants in ${elapsedS.toFixed(2)} s = ` +
      `${throughput.toFixed(1)}/s; max in any 1 s window ${maxWindow} (limit ${rate * 1.05})`,
  );
  assert.ok(maxWindow <= rate * 1.05, `${maxWindow} grants in one 1-second window, more than ${rate} + 5%`);
  assert.ok(throughput >= rate * 0.9, `throughput ${throughput.toFixed(1)}/s is under 90% of ${rate}/s`);
});

test('a full bucket grants at most its burst at once, then says how long until the next token', async () => {
  const { redis, prefix } = await testRedis();
  const limiter = new ProviderRateLimiter(redis, { prefix });
  assert.deepEqual(await limiter.take('p', 50, 10, 3), { granted: 3, waitMs: 100 });
  const next = await limiter.take('p', 1, 10, 3);
  assert.equal(next.granted, 0);
  assert.ok(next.waitMs > 0 && next.waitMs <= 100, `waitMs ${next.waitMs}`);
  await holdFor(next.waitMs + 5, 'the wait the bucket named');
  assert.equal((await limiter.take('p', 1, 10, 3)).granted, 1, 'a token is there once waitMs has passed');
});

test('providers have buckets of their own', async () => {
  const { redis, prefix } = await testRedis();
  const limiter = new ProviderRateLimiter(redis, { prefix });
  assert.equal((await limiter.take('a', 5, 1, 1)).granted, 1);
  assert.equal((await limiter.take('a', 5, 1, 1)).granted, 0);
  assert.equal((await limiter.take('b', 5, 1, 1)).granted, 1);
});

test('asking for no tokens grants none and reports whether one is available', async () => {
  const { redis, prefix } = await testRedis();
  const limiter = new ProviderRateLimiter(redis, { prefix });
  assert.deepEqual(await limiter.take('p', 0, 5, 1), { granted: 0, waitMs: 0 });
  assert.equal((await limiter.take('p', 1, 5, 1)).granted, 1);
  const empty = await limiter.take('p', 0, 5, 1);
  assert.equal(empty.granted, 0);
  assert.ok(empty.waitMs > 0, 'an empty bucket reports a wait');
});

test('the default burst keeps a 1-second window within the rate + 5%, and is at least one token', () => {
  for (const rate of [1, 10, 39, 40, 200, 1_000, 10_000]) {
    const burst = defaultBurst(rate);
    assert.ok(burst >= 1);
    if (rate >= 20) assert.ok(burst + rate <= rate * 1.05, `rate ${rate}: burst ${burst}`);
  }
  assert.equal(defaultBurst(200), 5);
});

test('the bucket expires once it would be full again, so idle providers cost no memory', async () => {
  const { redis, prefix } = await testRedis();
  const limiter = new ProviderRateLimiter(redis, { prefix });
  await limiter.take('p', 1, 100, 2);
  const ttl = await redis.pttl(limiter.bucketKey('p'));
  assert.ok(ttl > 0 && ttl <= 1_010, `pttl ${ttl}`);
});

test('a rate, burst or request out of range is refused before Redis is asked', async () => {
  const { redis, prefix } = await testRedis();
  const limiter = new ProviderRateLimiter(redis, { prefix });
  await assert.rejects(limiter.take('p', 1, 0), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems[0]?.path, 'ratePerSecond');
    return true;
  });
  await assert.rejects(limiter.take('p', 1, 10, 0.5), ConfigError);
  await assert.rejects(limiter.take('p', -1, 10), RangeError);
  assert.equal(await redis.exists(limiter.bucketKey('p')), 0);
});
