import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Priority, QueuedMessage } from '@commstrat/core';
import { TestLanes } from './test-lanes.ts';
import { eventually, holdFor, queuedMessage, testRedis } from './harness.ts';

const message = (priority: Priority): QueuedMessage => queuedMessage(priority);

const noneByLane = { critical: 0, high: 0, normal: 0, bulk: 0 };

test('entries a dead consumer claimed are reclaimed by another only once idle long enough, and ack clears them', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue([message('normal'), message('critical'), message('bulk')]);
  const claimedByA = await lanes.claim('A', 10, 100);
  assert.equal(claimedByA.length, 3);
  assert.deepEqual(await lanes.pendingCount(), { critical: 1, high: 0, normal: 1, bulk: 1 });

  assert.deepEqual(await lanes.reclaim('B', 100, 10), [], 'nothing is idle for 100 ms yet');
  const reclaimed = await eventually('the entries to be idle for 100 ms', async () => {
    const found = await lanes.reclaim('B', 100, 10);
    return found.length > 0 ? found : undefined;
  });
  assert.deepEqual(reclaimed, claimedByA, 'the same entries, highest priority first');
  assert.deepEqual(await lanes.reclaim('C', 100, 10), [], 'a reclaimed entry is idle again from zero');

  await lanes.ack(reclaimed);
  assert.deepEqual(await lanes.pendingCount(), noneByLane);
  assert.deepEqual(await lanes.depths(), noneByLane);
});

test('reclaim stops at count, across lanes, and the rest comes with the next call', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue([...Array.from({ length: 30 }, () => message('bulk')), ...Array.from({ length: 5 }, () => message('high'))]);
  // XREADGROUP's COUNT is per lane.
  assert.equal((await lanes.claim('A', 100, 100)).length, 35);

  const first = await eventually('the entries to be idle for 100 ms', async () => {
    const found = await lanes.reclaim('B', 100, 25);
    return found.length > 0 ? found : undefined;
  });
  assert.equal(first.length, 25);
  assert.deepEqual(
    first.map((e) => e.lane),
    [...Array<Priority>(5).fill('high'), ...Array<Priority>(20).fill('bulk')],
  );
  const second = await lanes.reclaim('B', 100, 25);
  assert.equal(second.length, 10, 'the other 10 bulk entries, still idle since A claimed them');
  // Entry ids are per stream (two lanes can both hold `<ms>-0`): compare message ids.
  assert.equal(new Set([...first, ...second].map((e) => e.message.id)).size, 35);
});

test('an entry deleted from its stream while pending is not handed out and stops being pending', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue([message('high'), message('high')]);
  const [gone, kept] = await lanes.claim('A', 10, 100);
  assert.ok(gone && kept);
  await redis.xdel(lanes.laneKey('high'), gone.entryId);

  const reclaimed = await eventually('the kept entry to be idle for 20 ms', async () => {
    const found = await lanes.reclaim('B', 20, 10);
    return found.length > 0 ? found : undefined;
  });
  assert.deepEqual(reclaimed.map((e) => e.entryId), [kept.entryId]);
  assert.deepEqual(await lanes.pendingCount(), { ...noneByLane, high: 1 });
});

test('lane lag is the age of the oldest entry not yet acked, per lane, 0 when empty', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue([message('normal')]);
  await holdFor(200, 'the first entry ages 200 ms, the lag the lane then reports');
  await lanes.enqueue([message('normal'), message('critical')]);

  const age = await lanes.oldestEntryAgeMs();
  assert.ok(age.normal >= 190 && age.normal < 1_000, `normal lane lag ${age.normal} ms`);
  assert.ok(age.critical < 100, `critical lane lag ${age.critical} ms`);
  assert.equal(age.high, 0);
  assert.equal(age.bulk, 0);

  // Claimed but not acked still counts: the message is not handled yet.
  const claimed = await lanes.claim('A', 10, 100);
  assert.ok((await lanes.oldestEntryAgeMs()).normal >= 190);
  await lanes.ack(claimed);
  assert.deepEqual(await lanes.oldestEntryAgeMs(), noneByLane);
});
