// The journal's writers against the real server: requests journaled at the same time
// share one transaction and each still learns its own outcome; a critical message's
// journal write has a client and writers of its own and does not wait for bulk writes.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { acceptMessage, newId, validateMessageRequest, type Message, type Priority } from '@commstrat/core';
import { Journal, type BatchRecord } from '@commstrat/journal';
import { MongoClient, type Db } from 'mongodb';
import { testMongo } from './harness.ts';
import { startPausableProxy } from './pausable-proxy.ts';

/** A request of `count` messages of tenant t1, as intake journals it. */
function aRequest(count: number, priority: Priority = 'normal'): { request: BatchRecord; messages: Message[] } {
  const now = new Date();
  const requestId = newId();
  const messages = Array.from({ length: count }, () =>
    acceptMessage(validateMessageRequest({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' }, priority }, now), {
      id: newId(),
      tenantId: 't1',
      batchId: requestId,
      now,
    }),
  );
  const request: BatchRecord = {
    _id: requestId,
    tenant_id: 't1',
    source: 'kafka',
    received_at: now,
    body: {},
    message_ids: messages.map((m) => m.id),
    enqueued: false,
  };
  return { request, messages };
}

/** The test's database through a client that counts the inserts it sends, by collection. */
async function countingClient(url: string): Promise<{ db: Db; inserts: Map<string, number> }> {
  const client = new MongoClient(url, { ignoreUndefined: true, monitorCommands: true });
  const inserts = new Map<string, number>();
  client.on('commandStarted', (event) => {
    if (event.commandName !== 'insert') return;
    const collection = String(event.command['insert']);
    inserts.set(collection, (inserts.get(collection) ?? 0) + 1);
  });
  await client.connect();
  after(() => client.close());
  return { db: client.db(), inserts };
}

test('requests journaled at the same time share transactions, and every one of them is journaled whole', async () => {
  const { url } = await testMongo();
  const { db, inserts } = await countingClient(url);
  const journal = new Journal(db);
  await journal.ensureIndexes();
  const requests = Array.from({ length: 24 }, () => aRequest(5));
  const results = await Promise.all(requests.map(({ request, messages }) => journal.recordAccepted(request, messages)));
  assert.deepEqual(results, requests.map(() => true));
  assert.ok((inserts.get('requests') ?? 0) < requests.length, `${String(inserts.get('requests'))} request inserts for ${requests.length} requests`);
  assert.equal(await db.collection('messages').countDocuments(), 24 * 5);
  assert.equal(await db.collection('requests').countDocuments(), 24);
});

test('in a group, a request journaled before answers false and a document the driver refuses fails alone; the others are journaled', async () => {
  const { url } = await testMongo();
  const { db } = await countingClient(url);
  const journal = new Journal(db);
  await journal.ensureIndexes();
  const seen = aRequest(2);
  assert.equal(await journal.recordAccepted(seen.request, seen.messages), true);
  const poison = aRequest(1);
  const [message] = poison.messages;
  // A key with a NUL byte cannot be written as BSON: the input's fault, not the server's.
  const refused = { ...poison, messages: [{ ...message, metadata: { 'a\u0000b': 'x' } } as Message] };
  const fresh = Array.from({ length: 10 }, () => aRequest(3));
  const all = [...fresh.slice(0, 5), seen, refused, ...fresh.slice(5)];
  const results = await Promise.allSettled(all.map(({ request, messages }) => journal.recordAccepted(request, messages)));
  const answer = (r: PromiseSettledResult<boolean>) => (r.status === 'fulfilled' ? r.value : 'rejected');
  assert.deepEqual(results.map(answer), [true, true, true, true, true, false, 'rejected', true, true, true, true, true]);
  assert.equal(await db.collection('messages').countDocuments({ request_id: seen.request._id }), 2, 'seen before: left as it was');
  assert.equal(await db.collection('requests').countDocuments({ _id: poison.request._id as never }), 0, 'refused: nothing of it written');
  for (const { request } of fresh) assert.equal(await db.collection('messages').countDocuments({ request_id: request._id }), 3);
});

test('a critical message is journaled through its own client while bulk writes wait on a stalled one', async () => {
  const { url } = await testMongo();
  const direct = new URL(url);
  // The bulk client goes through a proxy the test stalls (directConnection: the driver
  // must not find its way to the server around it).
  const proxy = await startPausableProxy({ host: direct.hostname, port: Number(direct.port) });
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${proxy.port}`;
  proxied.searchParams.set('directConnection', 'true');
  const bulkClient = new MongoClient(proxied.toString(), { ignoreUndefined: true, serverSelectionTimeoutMS: 30_000 });
  const urgentClient = new MongoClient(url, { ignoreUndefined: true });
  await Promise.all([bulkClient.connect(), urgentClient.connect()]);
  after(() => Promise.all([bulkClient.close(true), urgentClient.close()]).then(() => undefined));
  const journal = new Journal(bulkClient.db(), { urgentDb: urgentClient.db() });
  await journal.ensureIndexes();

  proxy.pause();
  const bulk = aRequest(100, 'bulk');
  let bulkDone = false;
  const bulkWrite = journal.recordAccepted(bulk.request, bulk.messages).finally(() => (bulkDone = true));
  const critical = aRequest(1, 'critical');
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the critical write waited')), 5000).unref());
  assert.equal(await Promise.race([journal.recordAccepted(critical.request, critical.messages), timeout]), true);
  // Its outcome too, as the dispatcher records a critical batch's.
  const [sentMessage] = critical.messages;
  await Promise.race([
    journal.recordOutcomes([], [{ messageId: sentMessage!.id, event: { status: 'sending', at: new Date() } }], { urgent: true }),
    timeout,
  ]);
  assert.equal(bulkDone, false, 'the bulk write is still held');
  assert.equal((await urgentClient.db().collection('messages').findOne({ _id: sentMessage!.id as never }))?.['status'], 'sending');
  proxy.resume();
  assert.equal(await bulkWrite, true);
});

test('a bulk write waits for the critical writes in flight before it goes', async () => {
  const { url } = await testMongo();
  const direct = new URL(url);
  const proxy = await startPausableProxy({ host: direct.hostname, port: Number(direct.port) });
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${proxy.port}`;
  proxied.searchParams.set('directConnection', 'true');
  // This time the critical client is the one held.
  const urgentClient = new MongoClient(proxied.toString(), { ignoreUndefined: true, serverSelectionTimeoutMS: 30_000 });
  const bulkClient = new MongoClient(url, { ignoreUndefined: true, monitorCommands: true });
  await Promise.all([bulkClient.connect(), urgentClient.connect()]);
  after(() => Promise.all([bulkClient.close(), urgentClient.close(true)]).then(() => undefined));
  const journal = new Journal(bulkClient.db(), { urgentDb: urgentClient.db() });
  await journal.ensureIndexes();
  const bulkInserts: number[] = [];
  bulkClient.on('commandStarted', (event) => {
    if (event.commandName === 'insert') bulkInserts.push(Date.now());
  });

  proxy.pause();
  const critical = aRequest(1, 'critical');
  const criticalWrite = journal.recordAccepted(critical.request, critical.messages);
  const bulk = aRequest(10, 'bulk');
  const bulkWrite = journal.recordAccepted(bulk.request, bulk.messages);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(bulkInserts, [], 'the bulk write has not started while the critical one is in flight');
  proxy.resume();
  assert.equal(await criticalWrite, true);
  assert.equal(await bulkWrite, true);
  assert.ok(bulkInserts.length > 0);
});
