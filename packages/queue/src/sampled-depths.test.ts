import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SampledDepths } from './sampled-depths.ts';

const depths = (n: number) => ({ critical: 0, high: 0, normal: n, bulk: 0 });

test('readers within the sample age share one read; an older sample is read again', async () => {
  let now = 1000;
  let reads = 0;
  const sampled = new SampledDepths(() => Promise.resolve(depths(++reads)), 250, () => now);
  const [a, b] = await Promise.all([sampled.get(), sampled.get()]);
  assert.equal(reads, 1, 'two concurrent readers, one read');
  assert.equal(a.normal, 1);
  assert.equal(b.normal, 1);
  now += 249;
  assert.equal((await sampled.get()).normal, 1);
  now += 1;
  assert.equal((await sampled.get()).normal, 2);
  sampled.invalidate();
  assert.equal((await sampled.get()).normal, 3);
});

test('a failed read rejects its readers and the next one tries again', async () => {
  let fail = true;
  const sampled = new SampledDepths(() => (fail ? Promise.reject(new Error('redis down')) : Promise.resolve(depths(5))));
  await assert.rejects(sampled.get(), /redis down/);
  fail = false;
  assert.equal((await sampled.get()).normal, 5);
});
