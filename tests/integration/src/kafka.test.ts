import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, testKafka, uniqueName } from './harness.ts';

test('a record produced with kafkajs is consumed back from the broker', async () => {
  const topic = uniqueName('topic');
  const group = uniqueName('group');
  const { kafka, admin, producer, own } = await testKafka([topic], [group]);
  assert.ok(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }));

  const body = JSON.stringify({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' } });
  await producer.send({ topic, messages: [{ key: 'k1', value: body, headers: { 'x-api-key': 'secret' } }] });

  const consumer = kafka.consumer({ groupId: group });
  own(() => consumer.disconnect());
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
