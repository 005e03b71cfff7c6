// API keys are credentials: whatever a process does with one (authenticate, refuse,
// reject a Kafka record), the key appears in no log line, metric or journal document.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { loadIngestConfig, startIngest } from '@commstrat/ingest';
import { createLogger } from '@commstrat/observability';
import { MongoClient } from 'mongodb';
import { eventually, testKafka, uniqueName } from './harness.ts';
import { startDeployment } from './services.ts';

const sms = { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hello' } };

test('no API key, valid or not, reaches a log line, /metrics, the journal or the rejected topic', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const topic = uniqueName('in');
  const rejectedTopic = uniqueName('rejected');
  const group = uniqueName('group');
  const logged: string[] = [];
  const ingest = await startIngest(
    loadIngestConfig({
      ...deployment.env,
      INGEST_KAFKA_ENABLED: 'true',
      INGEST_KAFKA_TOPIC: topic,
      INGEST_KAFKA_REJECTED_TOPIC: rejectedTopic,
      INGEST_KAFKA_GROUP: group,
      INGEST_KAFKA_TOPIC_PARTITIONS: '1',
    }),
    { logger: createLogger({ service: 'ingest', level: 'debug', console: false, capture: (entry) => logged.push(JSON.stringify(entry)) }) },
  );
  const { kafka, producer, own } = await testKafka([topic, rejectedTopic], [group, `${group}-reader`]);
  own(() => ingest.close());

  const wrongKey = `cs_${'W'.repeat(32)}`;
  const call = (body: string, key: string) =>
    fetch(`${ingest.url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  assert.equal((await call(JSON.stringify(sms), deployment.apiKey)).status, 202);
  assert.equal((await call(JSON.stringify(sms), wrongKey)).status, 401);
  assert.equal((await call('{"channel":', deployment.apiKey)).status, 400);
  assert.equal((await call(JSON.stringify({ ...sms, recipient: { phone: '+7123' } }), deployment.apiKey)).status, 422);

  const records = [
    { value: JSON.stringify(sms), headers: { 'x-api-key': deployment.apiKey } },
    { value: '{"channel":', headers: { 'x-api-key': deployment.apiKey } },
    { value: JSON.stringify(sms), headers: { 'x-api-key': wrongKey } },
    { value: JSON.stringify(sms), headers: { 'x-api-key': [deployment.apiKey, wrongKey] } },
  ];
  await producer.send({ topic, acks: -1, messages: records });
  const rejected: string[] = [];
  const reader = kafka.consumer({ groupId: `${group}-reader`, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  await reader.connect();
  own(() => reader.disconnect());
  await reader.subscribe({ topic: rejectedTopic, fromBeginning: true });
  await reader.run({
    eachMessage: ({ message }) =>
      Promise.resolve(void rejected.push(JSON.stringify({ value: message.value?.toString(), headers: Object.entries(message.headers ?? {}).map(([k, v]) => `${k}=${String(v)}`) }))),
  });
  await eventually('three records rejected', () => Promise.resolve(rejected.length >= 3 ? true : undefined));

  // Keys the admin API makes: answered once, then in no log line either; and revoked.
  const adminKey = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, adminKey, 'admin', ['admin']);
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${ingest.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const made = (await (await admin('POST', '/v1/admin/keys', { label: 'made', scopes: ['send'] })).json()) as { id: string; key: string };
  assert.equal((await call(JSON.stringify(sms), made.key)).status, 202);
  assert.equal((await admin('DELETE', `/v1/admin/keys/${made.id}`)).status, 200);
  await eventually('the made key refused', async () => ((await call(JSON.stringify(sms), made.key)).status === 401 ? true : undefined));
  const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
  const mongo = new MongoClient(deployment.env['COMMSTRAT_MONGO_URL'] ?? '');
  own(() => mongo.close());
  const db = mongo.db();
  const documents: string[] = [];
  for (const { name } of await db.listCollections().toArray()) {
    for (const document of await db.collection(name).find().toArray()) documents.push(JSON.stringify(document));
  }
  assert.ok(logged.length > 5, 'the process logged');
  assert.ok(documents.length >= 2, 'the journal holds the accepted requests');
  for (const key of [deployment.apiKey, wrongKey, adminKey, made.key]) {
    for (const [where, texts] of Object.entries({ logs: logged, metrics: [metrics], journal: documents, 'rejected topic': rejected })) {
      const leak = texts.find((text) => text.includes(key) || text.includes(key.slice(3, 20)));
      assert.equal(leak, undefined, `a key in the ${where}: ${leak?.slice(0, 300) ?? ''}`);
    }
  }
});
