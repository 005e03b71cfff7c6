import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { eventually, stackEnv, uniqueName, unreachable } from './harness.ts';

test('a record produced with kafkajs is consumed back from the broker', async (t) => {
  const { kafkaBrokers } = stackEnv();
  const kafka = new Kafka({
    clientId: 'commstrat-test',
    brokers: kafkaBrokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    retry: { retries: 2 },
  });
  const topic = uniqueName('topic');
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw unreachable('kafka', kafkaBrokers.join(','), error);
  }
  t.after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });
  assert.ok(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }));

  const producer = kafka.producer();
  await producer.connect();
  const body = JSON.stringify({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' } });
  await producer.send({ topic, messages: [{ key: 'k1', value: body, headers: { 'x-api-key': 'secret' } }] });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: uniqueName('group') });
  t.after(() => consumer.disconnect());
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received: { key: string; value: string; header: string }[] = [];
  await consumer.run({
    eachMessage: ({ message }) => {
      received.push({
        key: message.key?.toString() ?? '',
        value: message.value?.toString() ?? '',
        header: message.headers?.['x-api-key']?.toString() ?? '',
      });
      return Promise.resolve();
    },
  });
  await eventually('the record to come back', () => Promise.resolve(received.length > 0 ? true : undefined), 30_000);
  assert.deepEqual(received, [{ key: 'k1', value: body, header: 'secret' }]);
});
