// Templated messages over Kafka, against the stack's broker: a good one is rendered and
// accepted; one with a missing or wrong variable, hostile Liquid or an unknown template
// goes to the rejected topic with the code and path, and the partition goes on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { eventually, testKafka, uniqueName } from './harness.ts';
import { startDeployment } from './services.ts';
import { orderShipped, templateAdmin } from './template-support.ts';

const header = (record: KafkaMessage, name: string) => record.headers?.[name]?.toString();

test('a Kafka record with a missing variable or a render that fails goes to the rejected topic naming the path; the good ones are rendered', async () => {
  const [topic, rejectedTopic, group, readerGroup] = ['in', 'rejected', 'group', 'reader'].map(uniqueName) as [string, string, string, string];
  const deployment = await startDeployment({
    dispatcher: false,
    env: {
      INGEST_KAFKA_ENABLED: 'true',
      INGEST_KAFKA_TOPIC: topic,
      INGEST_KAFKA_REJECTED_TOPIC: rejectedTopic,
      INGEST_KAFKA_GROUP: group,
      INGEST_KAFKA_TOPIC_PARTITIONS: '1',
    },
  });
  const admin = await templateAdmin(deployment);
  assert.equal((await admin('PUT', '/v1/admin/templates/order-shipped', orderShipped())).status, 201);
  // Loops as deep as the message asks: harmless with the sample variables the save renders.
  const loops = {
    name: 'loops',
    default_locale: 'en',
    variables: { type: 'object', properties: { n: { type: 'integer' } } },
    sample_variables: { n: 2 },
    channels: { sms: { en: { text: '{% for i in (1..n) %}{% for j in (1..n) %}x{% endfor %}{% endfor %}' } } },
  };
  assert.equal((await admin('PUT', '/v1/admin/templates/loops', loops)).status, 201);

  const { kafka, producer, own } = await testKafka([topic, rejectedTopic], [group, readerGroup]);
  const rejected: KafkaMessage[] = [];
  const reader = kafka.consumer({ groupId: readerGroup, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  await reader.connect();
  own(() => reader.disconnect());
  await reader.subscribe({ topic: rejectedTopic, fromBeginning: true });
  await reader.run({ eachMessage: ({ message }) => Promise.resolve(void rejected.push(message)) });

  const sms = (variables: object, template = 'order-shipped') => ({
    channel: 'sms',
    recipient: { phone: '+79161234567', locale: 'ru' },
    content: { template_id: template, variables },
  });
  const send = (value: object) => producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify(value), headers: { 'x-api-key': deployment.apiKey } }] });
  await send(sms({ name: 'Anna' }));
  await send({ messages: [sms({ name: 'Anna', order: { id: 'K-1' } }), sms({ name: 'Anna', order: { id: 5 } })] });
  await send(sms({ n: 1_000_000 }, 'loops'));
  await send(sms({ name: 'Anna', order: { id: 'K-2' } }, 'order-shiped'));

  const records = await eventually('four rejected records', () => Promise.resolve(rejected.length >= 4 ? rejected : undefined), 20_000);
  const byOffset = [...records].sort((a, b) => Number(header(a, 'x-source-offset')) - Number(header(b, 'x-source-offset')));
  assert.deepEqual(
    byOffset.map((r) => [header(r, 'x-source-offset'), header(r, 'x-item-index') ?? null, header(r, 'x-error-code'), header(r, 'x-error-path')]),
    [
      ['0', null, 'validation_failed', '/content/variables/order'],
      ['1', '1', 'validation_failed', '/content/variables/order/id'],
      ['2', null, 'template_render_failed', '/content/template_id'],
      ['3', null, 'validation_failed', '/content/template_id'],
    ],
  );
  assert.match(header(byOffset[2] as KafkaMessage, 'x-error-message') ?? '', /template "loops" version 1 \(sms, en\) text: .*limit exceeded/);
  // The good item of the batch was rendered and journaled.
  const accepted = await eventually('the good item journaled', async () =>
    (await deployment.db.collection('messages').find({ 'rendered_steps.template': 'order-shipped' }).toArray())[0],
  );
  assert.equal(accepted['rendered_steps'][0].content.text, 'Anna, заказ K-1 отправлен.');
});
