import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptMessage, newId, validateMessageRequest } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import { testMongo } from './harness.ts';

function aMessage(tenantId: string) {
  const now = new Date();
  const request = validateMessageRequest(
    { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' }, tags: ['otp'] },
    now,
  );
  return acceptMessage(request, { id: newId(), tenantId, requestId: newId(), now });
}

/** A fresh journal holding one request of three messages of tenant t1. */
async function journalOfThree() {
  const { db } = await testMongo();
  const journal = new Journal(db);
  const messages = [aMessage('t1'), aMessage('t1'), aMessage('t1')] as const;
  await journal.recordAccepted(
    { _id: newId(), tenant_id: 't1', source: 'rest', received_at: new Date(), body: {}, message_ids: messages.map((m) => m.id), enqueued: true },
    [...messages],
  );
  return { db, journal, messages };
}

test('a journaled message is found by its tenant only, with its fields intact', async () => {
  const { db } = await testMongo();
  const journal = new Journal(db);
  await journal.ensureIndexes();
  const message = aMessage('t1');
  await journal.recordAccepted(
    { _id: message.request_id, tenant_id: 't1', source: 'rest', received_at: new Date(), body: {}, message_ids: [message.id], enqueued: true },
    [message],
  );
  const found = await journal.findMessage('t1', message.id);
  assert.equal(found?.id, message.id);
  assert.deepEqual(found?.recipient, { phone: '+79161234567' });
  assert.deepEqual(found?.tags, ['otp']);
  assert.equal(await journal.findMessage('t2', message.id), null);
  assert.equal(await db.collection('requests').countDocuments({ _id: message.request_id as never }), 1);
});

test('status changes are appended to the timeline in order, grouped by event', async () => {
  const { db } = await testMongo();
  const journal = new Journal(db);
  const a = aMessage('t1');
  const b = aMessage('t1');
  await journal.recordAccepted(
    { _id: newId(), tenant_id: 't1', source: 'rest', received_at: new Date(), body: {}, message_ids: [a.id, b.id], enqueued: true },
    [a, b],
  );
  await journal.recordStatusChanges([
    { messageId: a.id, event: { status: 'sent', at: new Date(), provider: 'p1', provider_message_id: 'x1' } },
    { messageId: b.id, event: { status: 'failed', at: new Date(), reason: 'invalid_number' } },
  ]);
  const foundA = await journal.findMessage('t1', a.id);
  const foundB = await journal.findMessage('t1', b.id);
  assert.equal(foundA?.status, 'sent');
  assert.deepEqual(foundA?.timeline.map((e) => e.status), ['accepted', 'queued', 'sent']);
  assert.equal(foundA?.timeline[2]?.provider_message_id, 'x1');
  assert.equal(foundB?.status, 'failed');
  assert.equal(foundB?.timeline.at(-1)?.reason, 'invalid_number');
});

test('the status changes of a batch are one document per distinct sequence, merged back in order', async () => {
  const { db, journal, messages: [a, b, c] } = await journalOfThree();
  const leftAt = new Date(Date.now() + 1000);
  const answeredAt = new Date(Date.now() + 1005);
  const sending = { status: 'sending', at: leftAt, provider: 'p1' } as const;
  const sent = { status: 'sent', at: answeredAt, provider: 'p1', exchange_id: 'x' } as const;
  await journal.recordOutcomes(
    [],
    [
      { messageId: a.id, event: sending },
      { messageId: b.id, event: sending },
      { messageId: c.id, event: sending },
      { messageId: a.id, event: sent },
      { messageId: b.id, event: sent },
      { messageId: c.id, event: { status: 'failed', at: answeredAt, reason: 'invalid_number' } },
    ],
  );
  assert.equal(await db.collection('status_events').countDocuments(), 2, 'a and b share one document');
  const found = await journal.findMessages([a.id, c.id]);
  const foundA = found.find((m) => m.id === a.id);
  const foundC = found.find((m) => m.id === c.id);
  assert.deepEqual(foundA?.timeline.map((e) => e.status), ['accepted', 'queued', 'sending', 'sent']);
  assert.equal(foundA?.status, 'sent');
  assert.deepEqual(foundC?.timeline.map((e) => e.status), ['accepted', 'queued', 'sending', 'failed']);
  assert.equal(foundC?.status, 'failed');
  assert.deepEqual(await journal.countByStatus('t1', a.request_id), { sent: 1 });
});

test('events a sent batch shares are kept in its exchange and still read back in each timeline', async () => {
  const { db, journal, messages: [a, b, c] } = await journalOfThree();
  const exchange = (id: string, messageIds: string[]) => ({
    _id: id,
    provider: 't1/p1',
    message_ids: messageIds,
    request: '{}',
    response: '{}',
    http_status: 200,
    outcome: 'accepted' as const,
    started_at: new Date(),
    duration_ms: 3,
  });
  const sending = { status: 'sending', at: new Date(Date.now() + 1000), provider: 'p1' } as const;
  const whole = { ...exchange(newId(), [a.id, b.id]) };
  const sent = { status: 'sent', at: new Date(Date.now() + 1005), provider: 'p1', exchange_id: whole._id } as const;
  const partial = exchange(newId(), [c.id]);
  await journal.recordOutcomes(
    [whole, partial],
    [a.id, b.id, c.id].flatMap((messageId) => [
      { messageId, event: sending },
      { messageId, event: messageId === c.id ? { status: 'failed', at: sent.at, reason: 'invalid_number' } : sent },
    ]),
  );
  assert.equal(await db.collection('status_events').countDocuments(), 0, 'every event went into an exchange');
  const stored = await db.collection('provider_exchanges').findOne({ _id: whole._id as never });
  assert.deepEqual(stored?.['events']?.map((e: { status: string }) => e.status), ['sending', 'sent']);
  const found = await journal.findMessages([a.id, b.id, c.id]);
  for (const message of found) {
    assert.deepEqual(
      message.timeline.map((e) => e.status),
      ['accepted', 'queued', 'sending', message.id === c.id ? 'failed' : 'sent'],
      `timeline of ${message.id}`,
    );
  }
  assert.deepEqual(await journal.countByStatus('t1', a.request_id), { sent: 1 });
});

test('provider exchanges are found by any message they carried', async () => {
  const { db } = await testMongo();
  const journal = new Journal(db);
  const ids = [newId(), newId()];
  await journal.recordProviderExchanges([
    {
      _id: newId(),
      provider: 'p1',
      message_ids: ids,
      request: '{"messages":[]}',
      response: '{"results":[]}',
      http_status: 200,
      outcome: 'accepted',
      started_at: new Date(),
      duration_ms: 12,
    },
  ]);
  const [exchange] = await journal.findProviderExchanges(ids[1]!);
  assert.equal(exchange?.provider, 'p1');
  assert.equal(exchange?.http_status, 200);
});
