import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptMessage, newId, validateMessageRequest } from '@commstrat/core';
import { Journal, migrateTimelines } from '@commstrat/journal';
import { testMongo } from './harness.ts';

test('a journal of the old layout converts to messages that hold their own state, and a second run changes nothing', async () => {
  const { db } = await testMongo();
  const now = Date.now();
  const requestId = newId();
  const [sent, failed, untouched] = [0, 1, 2].map(() =>
    acceptMessage(
      validateMessageRequest({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' } }, new Date(now)),
      { id: newId(), tenantId: 't1', batchId: requestId, now: new Date(now) },
    ),
  ) as [ReturnType<typeof acceptMessage>, ReturnType<typeof acceptMessage>, ReturnType<typeof acceptMessage>];
  // As commstrat 0.1 wrote them: documents frozen at acceptance, events beside them.
  await db.collection('messages').insertMany([sent, failed, untouched].map(({ id, batch_id, ...rest }) => ({ _id: id, request_id: batch_id, ...rest })) as never[]);
  const exchangeId = newId();
  const sending = { status: 'sending', at: new Date(now + 10), provider: 'p1' };
  await db.collection('provider_exchanges').insertOne({
    _id: exchangeId,
    provider: 't1/p1',
    message_ids: [sent.id, failed.id],
    provider_message_ids: ['pm-1', null],
    events: [sending],
  } as never);
  await db.collection('status_events').insertMany([
    { _id: newId(), message_ids: [sent.id], events: [{ status: 'sent', at: new Date(now + 20), provider: 'p1', exchange_id: exchangeId }] },
    { _id: newId(), message_ids: [failed.id], events: [{ status: 'failed', at: new Date(now + 20), reason: 'invalid_number' }] },
  ] as never[]);

  const first = await migrateTimelines(db, { pageSize: 2 });
  assert.deepEqual(first, { messages: 3, changed: 2 });
  const again = await migrateTimelines(db, { pageSize: 2 });
  assert.equal(again.changed, 0, 'nothing is added twice');

  const journal = new Journal(db);
  const [a, b, c] = await Promise.all([sent, failed, untouched].map((m) => journal.findMessage('t1', m.id)));
  assert.equal(a?.status, 'sent');
  assert.deepEqual(a?.timeline.map((e) => e.status), ['accepted', 'queued', 'sending', 'sent']);
  assert.equal(a?.provider_message_id, 'pm-1');
  assert.equal(b?.status, 'failed');
  assert.deepEqual(b?.timeline.map((e) => e.status), ['accepted', 'queued', 'sending', 'failed']);
  assert.equal(c?.status, 'queued');
  assert.deepEqual(await journal.countByStatus('t1', requestId), { sent: 1, failed: 1, queued: 1 });
  assert.equal((await db.listCollections({ name: 'status_events' }).toArray()).length, 0, 'the side collection is gone');
  assert.equal(await db.collection('provider_exchanges').countDocuments({ events: { $exists: true } }), 0);
});
