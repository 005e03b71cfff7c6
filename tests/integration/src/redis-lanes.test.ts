import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Priority, QueuedMessage } from '@commstrat/core';
import { DeadLetterStream } from '@commstrat/queue';
import { TestLanes } from './test-lanes.ts';
import { queuedMessage, testRedis } from './harness.ts';

const message = (priority: Priority, text = 'hello'): QueuedMessage => queuedMessage(priority, text);

test('claimed entries come back highest priority first, and once acked they no longer count', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  const bulk = message('bulk');
  const critical = message('critical');
  const normal = message('normal');
  await lanes.enqueue([bulk, critical, normal]);
  assert.deepEqual(await lanes.depths(), { critical: 1, high: 0, normal: 1, bulk: 1 });

  const claimed = await lanes.claim('c1', 10, 100);
  assert.deepEqual(
    claimed.map((e) => e.message.id),
    [critical.id, normal.id, bulk.id],
  );
  assert.deepEqual(claimed[0]?.message, JSON.parse(JSON.stringify(critical)));
  assert.deepEqual(await lanes.claim('c2', 10, 50), [], 'a claimed entry is not handed to another consumer');

  await lanes.ack(claimed);
  assert.deepEqual(await lanes.depths(), { critical: 0, high: 0, normal: 0, bulk: 0 });
  assert.equal(await redis.xlen(lanes.laneKey('bulk')), 1, 'acked, left for the next trim');
  assert.equal(await lanes.trimHandled(), 3);
  assert.equal(await redis.xlen(lanes.laneKey('bulk')), 0);
});

test('a trim removes only handled entries: none from the oldest pending one on, none undelivered', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  await lanes.enqueue(Array.from({ length: 6 }, () => message('normal')));
  const [first, second, third, fourth] = await lanes.claim('c1', 4, 100);
  assert.ok(first && second && third && fourth);
  await lanes.ack([first, second, fourth]);
  assert.equal(await lanes.trimHandled(), 2, 'the two before the pending third');
  assert.deepEqual(
    (await redis.xrange(lanes.laneKey('normal'), '-', '+')).map(([id]) => id),
    [third.entryId, fourth.entryId, ...(await redis.xrange(lanes.laneKey('normal'), `(${fourth.entryId}`, '+')).map(([id]) => id)],
  );
  assert.equal((await lanes.depths()).normal, 3, 'the pending third and the two never claimed');
  assert.equal(await lanes.trimHandled(), 0, 'nothing more until the third is acked');

  await lanes.ack([third]);
  assert.equal(await lanes.trimHandled(), 2);
  const rest = await lanes.claim('c1', 10, 100);
  assert.equal(rest.length, 2, 'the never-claimed entries survived every trim');
});

test('a lane no dispatcher has read yet, or with an entry deleted by hand, counts its stream length', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.enqueue([message('high'), message('high')]);
  assert.equal((await lanes.depths()).high, 2, 'no group yet');
  await lanes.ensureGroup();
  const [entry] = await lanes.claim('c1', 1, 100);
  assert.ok(entry);
  const [[undelivered] = ['']] = await redis.xrange(lanes.laneKey('high'), `(${entry.entryId}`, '+');
  await redis.xdel(lanes.laneKey('high'), undelivered);
  assert.equal((await lanes.depths()).high, 1, 'the group cannot tell: the stream length, here the claimed one');
});

test('a deferred message reaches its lane only once its due time has come', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  const later = message('high', 'later');
  await lanes.defer([{ message: later, dueAt: 2_000_000 }]);

  assert.equal(await lanes.promoteDue(1_999_999), 0);
  assert.equal(await lanes.delayedCount(), 1);
  assert.equal(await lanes.promoteDue(2_000_000), 1);
  assert.equal(await lanes.delayedCount(), 0);
  assert.equal(await lanes.promoteDue(2_000_001), 0, 'an entry is promoted once');

  const claimed = await lanes.claim('c1', 10, 100);
  assert.equal(claimed.length, 1);
  assert.equal(claimed[0]?.lane, 'high');
  assert.deepEqual(claimed[0]?.message, JSON.parse(JSON.stringify(later)));
});

test('dead-lettered messages are kept with their reason', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.deadLetter([{ message: message('normal'), reason: 'provider down' }]);
  assert.equal(await lanes.deadLetterCount(), 1);
  const [[, fields] = ['', []]] = await redis.xrange(`${prefix}dlq`, '-', '+');
  assert.equal(fields[fields.indexOf('reason') + 1], 'provider down');
});

test('a cancel and a claim race on markers: whichever comes first wins, and a deferral reopens the cancel', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  const early = message('normal', 'cancelled first');
  const late = message('normal', 'claimed first');
  const retried = message('normal', 'deferred after its claim');

  assert.equal(await lanes.cancel(early.id), true);
  assert.deepEqual(await lanes.markSending([early.id, late.id, retried.id]), new Set([early.id]));
  assert.equal(await lanes.cancel(late.id), false, 'being sent: too late to cancel');

  await lanes.defer([{ message: retried, dueAt: Date.now() + 60_000 }]);
  assert.equal(await lanes.cancel(retried.id), true, 'waiting for a retry: cancellable again');
  assert.deepEqual(await lanes.markSending([retried.id]), new Set([retried.id]));

  await lanes.enqueue([late]);
  const [entry] = await lanes.claim('c1', 1, 100);
  assert.ok(entry);
  await lanes.ack([entry]);
  assert.equal(await redis.hexists(`${prefix}sending`, late.id), 0, 'the ack removes the sending marker');
  assert.equal(await redis.hlen(`${prefix}sending`), 0, 'no marker is left behind');
});

test('settling keeps the cancel marker of a deferred message; only a dropped message loses it', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  const retried = message('normal', 'retried');
  const cancelled = message('normal', 'cancelled before its claim');
  await lanes.enqueue([retried, cancelled]);
  await lanes.cancel(cancelled.id);
  const claimed = await lanes.claim('c1', 10, 100);
  assert.deepEqual(await lanes.markSending(claimed.map((e) => e.message.id)), new Set([cancelled.id]));
  const [retriedEntry, cancelledEntry] = claimed;
  assert.ok(retriedEntry && cancelledEntry);
  // A tenant cancels the retried message the moment its deferral is settled.
  await lanes.settle({ deferred: [{ message: retried, dueAt: Date.now() + 60_000 }], acks: [retriedEntry] });
  assert.equal(await lanes.cancel(retried.id), true);
  await lanes.settle({ acks: [cancelledEntry], dropped: [cancelled.id] });
  assert.equal(await redis.hexists(`${prefix}cancelled`, retried.id), 1, 'still cancelled when it comes back');
  assert.equal(await redis.hexists(`${prefix}cancelled`, cancelled.id), 0);
  assert.equal(await redis.hlen(`${prefix}sending`), 0);
  assert.deepEqual(await lanes.depths(), { critical: 0, high: 0, normal: 0, bulk: 0 });
  assert.equal(await lanes.delayedCount(), 1);
});

test('the delayed set keeps one member per message, its entry, and a timer is found again by its id and due time', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  const timer = { ...message('high', 'waits for its receipt'), receipt_timer: 0 };
  const other = message('high', 'due at the same millisecond');
  await lanes.defer([{ message: timer, dueAt: 5_000_000 }, { message: other, dueAt: 5_000_000 }]);
  const [member] = await redis.zrange(lanes.keys.delayed, 0, 0);
  assert.match(member ?? '', /^2\|[0-9A-Z]{26}\|\{/, 'lane digit, id, body (entry-codec.ts)');
  assert.equal(await redis.exists(lanes.keys.legacyDelayedPayloads), 0, 'no payload hash any more');

  assert.equal(await lanes.writer.advanceTimer(timer.id, 4_999_999, 100), false, 'not at that due time: left alone');
  assert.equal(await lanes.writer.advanceTimer(timer.id, 5_000_000, 100), true);
  assert.equal(await lanes.promoteDue(100), 1, 'only the timer came forward');
  const [claimed] = await lanes.claim('c1', 10, 100);
  assert.equal(claimed?.message.id, timer.id);
  assert.equal(claimed?.message.receipt_timer, 0);
});

test('entries of 0.1 left in Redis by an upgrade are still read: lane entries, the old delayed set and dead letters', async () => {
  const { redis, prefix } = await testRedis();
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  // As 0.1 wrote them: the message JSON in `m`; ids by due time plus `<lane index>|<JSON>` payloads.
  const inLane = message('normal', 'in a lane before the upgrade');
  const parked = message('bulk', 'parked before the upgrade');
  const timer = { ...message('high', 'a 0.1 cascade timer'), receipt_timer: 0 };
  const letter = { ...message('normal', 'dead before the upgrade'), attempts: 3 };
  await redis.xadd(lanes.keys.lane('normal'), '*', 'm', JSON.stringify(inLane));
  await redis.hset(lanes.keys.legacyDelayedPayloads, parked.id, `4|${JSON.stringify(parked)}`, timer.id, `2|${JSON.stringify(timer)}`);
  await redis.zadd(lanes.keys.legacyDelayed, 1000, parked.id, 9_000_000, timer.id);
  await redis.xadd(lanes.keys.deadLetters, '*', 'm', JSON.stringify(letter), 'reason', 'gave up');

  assert.equal(await lanes.delayedCount(), 2);
  assert.equal(await lanes.writer.advanceTimer(timer.id, 0, 2000), true, 'a 0.1 timer is brought forward by its id');
  assert.equal(await lanes.promoteDue(2000), 2);
  assert.equal(await lanes.delayedCount(), 0);
  assert.equal(await redis.hlen(lanes.keys.legacyDelayedPayloads), 0);
  const claimed = await lanes.claim('c1', 10, 100);
  assert.deepEqual(
    claimed.map((entry) => [entry.lane, entry.message]),
    [['high', JSON.parse(JSON.stringify(timer))], ['normal', JSON.parse(JSON.stringify(inLane))], ['bulk', JSON.parse(JSON.stringify(parked))]],
  );
  const page = await new DeadLetterStream(redis, { prefix }).page({}, 10);
  assert.deepEqual(page.entries[0]?.message, JSON.parse(JSON.stringify(letter)));
  assert.equal(page.entries[0]?.reason, 'gave up');
});
