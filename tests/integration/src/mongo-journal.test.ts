import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptMessage, newId, validateMessageRequest, type StatusEvent } from '@commstrat/core';
import { Journal, type ProviderExchange } from '@commstrat/journal';
import type { Db, Document } from 'mongodb';
import { testMongo } from './harness.ts';

function aMessage(tenantId: string, extra: object = {}) {
  const now = new Date();
  const request = validateMessageRequest(
    { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' }, tags: ['otp'], ...extra },
    now,
  );
  return acceptMessage(request, { id: newId(), tenantId, batchId: newId(), now });
}

/** A fresh journal (indexes made) holding one request of `count` messages of tenant t1. */
async function journalOf(count: number, options: ConstructorParameters<typeof Journal>[1] = {}) {
  const { db } = await testMongo();
  const journal = new Journal(db, options);
  await journal.ensureIndexes();
  const requestId = newId();
  const now = new Date();
  const messages = Array.from({ length: count }, () =>
    acceptMessage(
      validateMessageRequest({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' }, tags: ['otp'] }, now),
      { id: newId(), tenantId: 't1', batchId: requestId, now },
    ),
  );
  await journal.recordAccepted(
    { _id: requestId, tenant_id: 't1', source: 'rest', received_at: now, body: {}, message_ids: messages.map((m) => m.id), enqueued: true },
    messages,
  );
  return { db, journal, messages, requestId };
}

function exchangeOf(messageIds: string[], providerIds: (string | null)[]): ProviderExchange {
  return {
    _id: newId(),
    provider: 't1/p1',
    message_ids: messageIds,
    request: '{}',
    response: '{}',
    http_status: 200,
    outcome: 'accepted',
    started_at: new Date(),
    duration_ms: 3,
    provider_message_ids: providerIds,
  };
}

/** A sent batch's events, as the dispatcher records them: one `sending` and one `sent` shared by all. */
function sentBatch(exchange: ProviderExchange, ids: readonly string[] = exchange.message_ids) {
  const sending: StatusEvent = { status: 'sending', at: new Date(), provider: 'p1', exchange_id: exchange._id, strategy: 'otp', strategy_version: 3 };
  const sent: StatusEvent = { status: 'sent', at: new Date(), provider: 'p1', exchange_id: exchange._id };
  return ids.flatMap((messageId) => [
    { messageId, event: sending },
    { messageId, event: sent },
  ]);
}

/** Every stage name of a query plan (explain's winning plan, nested). */
function stages(plan: Document | undefined): string[] {
  if (plan === undefined || plan === null) return [];
  const inner = [plan['inputStage'], ...((plan['inputStages'] as Document[] | undefined) ?? [])];
  return [String(plan['stage']), ...inner.flatMap((stage) => stages(stage as Document | undefined))];
}

async function planOf(db: Db, filter: Document, sort: Document = {}): Promise<string[]> {
  const explained = await db.collection('messages').find(filter).sort(sort).limit(100).explain('queryPlanner');
  return stages(explained.queryPlanner.winningPlan as Document);
}

test('a journaled message is found by its tenant only, with its fields intact', async () => {
  const { db, journal, messages: [message] } = await journalOf(1);
  const found = await journal.findMessage('t1', message!.id);
  assert.equal(found?.id, message!.id);
  assert.equal(found?.status, 'queued');
  assert.deepEqual(found?.recipient, { phone: '+79161234567' });
  assert.deepEqual(found?.tags, ['otp']);
  assert.equal(await journal.findMessage('t2', message!.id), null);
  assert.equal(await db.collection('requests').countDocuments({ _id: message!.batch_id as never }), 1);
});

test('a sent batch is written to each message: status, timeline, provider, its own provider id and the strategy version', async () => {
  const { db, journal, messages } = await journalOf(3);
  const [a, b, c] = messages as [(typeof messages)[0], (typeof messages)[0], (typeof messages)[0]];
  const exchange = exchangeOf([a.id, b.id, c.id], ['pa', 'pb', null]);
  const changes = [
    ...sentBatch(exchange, [a.id, b.id]),
    { messageId: c.id, event: { status: 'sending', at: new Date(), provider: 'p1' } as StatusEvent },
    { messageId: c.id, event: { status: 'failed', at: new Date(), reason: '$where: invalid_number' } as StatusEvent },
  ];
  await journal.recordOutcomes([exchange], changes);
  const [foundA, foundB, foundC] = await Promise.all([a, b, c].map((m) => journal.findMessage('t1', m.id)));
  assert.equal(foundA?.status, 'sent');
  assert.deepEqual(foundA?.timeline.map((e) => e.status), ['accepted', 'queued', 'sending', 'sent']);
  assert.equal(foundA?.provider_message_id, 'pa');
  assert.equal(foundA?.timeline.at(-1)?.provider_message_id, 'pa');
  assert.equal(foundB?.provider_message_id, 'pb');
  assert.equal(foundA?.provider, 'p1');
  assert.equal(foundA?.strategy, 'otp');
  assert.equal(foundA?.strategy_version, 3);
  assert.equal(foundC?.status, 'failed');
  assert.equal(foundC?.timeline.at(-1)?.reason, '$where: invalid_number', 'a reason is kept as text, never read as a field path');
  assert.equal((await journal.findByProviderMessageId('t1', 'pb'))?.id, b.id);
  assert.equal(await journal.findByProviderMessageId('t2', 'pb'), null);
  assert.deepEqual(await journal.countByStatus('t1', a.batch_id), { sent: 2, failed: 1 });
  assert.equal(await db.collection('status_events').countDocuments(), 0, 'no side collection of events');
});

test('a terminal state is never left: a late send, retry or cancel after failed changes nothing', async () => {
  const { journal, messages: [message] } = await journalOf(1);
  const id = message!.id;
  await journal.recordStatusChanges([{ messageId: id, event: { status: 'failed', at: new Date(), reason: 'gave up' } }]);
  const exchange = exchangeOf([id], ['late']);
  await journal.recordOutcomes([exchange], sentBatch(exchange));
  const changed = await journal.recordStatusChanges([
    { messageId: id, event: { status: 'scheduled', at: new Date(), reason: 'retry' } },
    { messageId: id, event: { status: 'cancelled', at: new Date() } },
  ]);
  assert.equal(changed, 0);
  const found = await journal.findMessage('t1', id);
  assert.equal(found?.status, 'failed');
  assert.deepEqual(found?.timeline.map((e) => e.status), ['accepted', 'queued', 'failed']);
  assert.equal(found?.provider_message_id, undefined);
});

test('the same outcome recorded twice after a reclaim leaves one sent event', async () => {
  const { journal, messages } = await journalOf(2);
  const ids = messages.map((m) => m.id);
  const first = exchangeOf(ids, ['x1', 'x2']);
  await journal.recordOutcomes([first], sentBatch(first));
  // A replica died before acknowledging: another reclaimed the batch and sent it again.
  const again = exchangeOf(ids, ['y1', 'y2']);
  await journal.recordOutcomes([again], sentBatch(again));
  for (const found of await journal.findMessages(ids)) {
    assert.deepEqual(found.timeline.map((e) => e.status), ['accepted', 'queued', 'sending', 'sent']);
    assert.match(found.provider_message_id ?? '', /^x/, 'the first provider id stays');
  }
});

test('a cancel racing a send ends each message in exactly one of cancelled or sent', async () => {
  const { journal, messages } = await journalOf(60);
  await Promise.all(
    messages.map(async (message, i) => {
      const exchange = exchangeOf([message.id], [`p${i}`]);
      const cancel = journal.recordStatusChanges([{ messageId: message.id, event: { status: 'cancelled', at: new Date() } }]);
      const send = journal.recordOutcomes([exchange], sentBatch(exchange));
      await Promise.all(i % 2 === 0 ? [cancel, send] : [send, cancel]);
    }),
  );
  const outcomes = { cancelled: 0, sent: 0 };
  for (const found of await journal.findMessages(messages.map((m) => m.id))) {
    const ends = found.timeline.filter((e) => e.status === 'cancelled' || e.status === 'sent');
    assert.equal(ends.length, 1, `one end for ${found.id}: ${found.timeline.map((e) => e.status).join(',')}`);
    assert.equal(found.status, ends[0]?.status);
    outcomes[found.status as 'cancelled' | 'sent'] += 1;
  }
  assert.equal(outcomes.cancelled + outcomes.sent, 60);
});

test('reads are served by indexes: by id, listings by status, tag, batch and time, receipts by provider id', async () => {
  const { db, journal, messages } = await journalOf(3);
  const id = messages[0]!.id;
  const byId = await planOf(db, { _id: id, tenant_id: 't1' });
  assert.ok(byId.some((s) => /IXSCAN|IDHACK/.test(s)), `find by id: ${byId.join(' > ')}`);
  const newestFirst = { _id: -1 };
  for (const filter of [
    { tenant_id: 't1' },
    { tenant_id: 't1', status: 'sent' },
    { tenant_id: 't1', tags: 'otp' },
    { tenant_id: 't1', request_id: messages[0]!.batch_id },
    { tenant_id: 't1', _id: { $gte: '01', $lt: id } },
    { tenant_id: 't1', provider_message_id: 'pa' },
  ]) {
    const plan = await planOf(db, filter, 'provider_message_id' in filter ? {} : newestFirst);
    assert.ok(plan.includes('IXSCAN'), `${JSON.stringify(filter)}: ${plan.join(' > ')}`);
    assert.ok(!plan.includes('COLLSCAN') && !plan.includes('SORT'), `${JSON.stringify(filter)}: ${plan.join(' > ')}`);
  }
  assert.equal((await journal.listMessages('t1', { limit: 10 })).messages.length, 3);
});

test('a listing pages by a stable cursor and filters by current status, tag, batch and time', async () => {
  const { journal, messages } = await journalOf(5);
  const [a, b] = messages;
  const exchange = exchangeOf([a!.id, b!.id], ['pa', 'pb']);
  await journal.recordOutcomes([exchange], sentBatch(exchange));
  const sent = await journal.listMessages('t1', { status: 'sent', limit: 1 });
  assert.equal(sent.messages.length, 1);
  assert.equal(sent.messages[0]?.id, b!.id, 'newest first');
  assert.equal(sent.nextAfter, b!.id);
  const next = await journal.listMessages('t1', { status: 'sent', limit: 1, after: sent.nextAfter });
  assert.deepEqual(next.messages.map((m) => m.id), [a!.id]);
  assert.equal((await journal.listMessages('t1', { status: 'sent', limit: 1, after: a!.id })).nextAfter, null);
  assert.equal((await journal.listMessages('t1', { status: 'queued', limit: 10 })).messages.length, 3);
  assert.equal((await journal.listMessages('t1', { tag: 'none', limit: 10 })).messages.length, 0);
  assert.equal((await journal.listMessages('t1', { batchId: a!.batch_id, limit: 10 })).messages.length, 5);
  const later = new Date(Date.now() + 60_000);
  assert.equal((await journal.listMessages('t1', { from: later, limit: 10 })).messages.length, 0);
  assert.equal((await journal.listMessages('t1', { to: later, limit: 10 })).messages.length, 5);
  assert.equal((await journal.listMessages('t2', { limit: 10 })).messages.length, 0);
});

test('without transactions, a request cut short before its messages is discarded and can be journaled whole', async () => {
  const { db } = await testMongo();
  const journal = new Journal(db, { transactions: false });
  const message = aMessage('t1');
  const request = {
    _id: message.batch_id,
    tenant_id: 't1',
    source: 'kafka' as const,
    received_at: new Date(),
    body: {},
    message_ids: [message.id],
    enqueued: false,
  };
  // What a process that died between the two writes leaves behind.
  await db.collection('requests').insertOne(request as never);
  assert.equal(await journal.recordAccepted(request, [message]), false, 'seen before');
  assert.equal(await journal.discardIncompleteBatch(request._id), true);
  assert.equal(await journal.recordAccepted(request, [message]), true);
  assert.equal((await journal.findMessage('t1', message.id))?.status, 'queued');
  assert.equal(await journal.discardIncompleteBatch(request._id), false, 'a whole request is kept');
});

test('provider exchanges are found by any message they carried', async () => {
  const { db } = await testMongo();
  const journal = new Journal(db);
  const ids = [newId(), newId()];
  await journal.recordProviderExchanges([exchangeOf(ids, [null, null])]);
  const [exchange] = await journal.findProviderExchanges(ids[1]!);
  assert.equal(exchange?.provider, 't1/p1');
  assert.equal(exchange?.http_status, 200);
});
