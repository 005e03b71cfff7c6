// A record the rejected topic cannot take as it came (its copy with the x-error-*
// headers outgrows the broker's record limit) must still be moved aside: retried in
// place it would stall its partition for ever, since no retry makes it smaller.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, testKafka } from './harness.ts';
import { header, kafkaIntakeEnv, kafkaIntakeNames, readRejected } from './kafka-support.ts';
import { startDeployment } from './services.ts';

/**
 * A value that fits the broker's default message.max.bytes (1 MiB + 12 for a whole
 * record batch) with the producer's few headers, but not with the rejection's headers.
 */
const NEAR_BROKER_LIMIT = 1_048_588 - 180;

// Its own timeout: on a handler that retries in place, the intake never stops cleanly.
test('a record whose rejected copy exceeds the broker limit is rejected without its value, and the partition moves on', { timeout: 60_000 }, async () => {
  const names = kafkaIntakeNames();
  const { topic } = names;
  const deployment = await startDeployment({ dispatcher: false, env: kafkaIntakeEnv(names) });
  const { kafka, producer, own } = await testKafka([topic, names.rejectedTopic], [names.group, names.readerGroup]);
  const rejected = await readRejected(kafka, own, names);

  // Not JSON, so the whole record is rejected; under the body limit (10 MiB), so its
  // value is what the rejected copy would carry.
  const [poison] = await producer.send({
    topic,
    acks: -1,
    messages: [{ value: Buffer.alloc(NEAR_BROKER_LIMIT, 0x78), headers: { 'x-api-key': deployment.apiKey, 'x-trace': 'p1' } }],
  });
  const [good] = await producer.send({
    topic,
    acks: -1,
    messages: [
      {
        value: JSON.stringify({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'after the poison' } }),
        headers: { 'x-api-key': deployment.apiKey },
      },
    ],
  });
  const batchId = encodeURIComponent(`kafka:${topic}:0:${good?.baseOffset ?? '?'}`);
  await eventually('the record after the oversized one to be accepted', async () => {
    const batch = await deployment.api('GET', `/v1/batches/${batchId}`);
    return batch.status === 200 && batch.body.accepted === 1 ? true : undefined;
  });
  await eventually('the oversized record on the rejected topic', () => Promise.resolve(rejected.length >= 1 ? true : undefined));
  const [copy] = rejected;
  assert.ok(copy !== undefined);
  assert.equal(header(copy, 'x-source-offset'), poison?.baseOffset);
  assert.equal(header(copy, 'x-error-code'), 'malformed_json');
  assert.equal(header(copy, 'x-trace'), 'p1', 'the producer headers are kept');
  assert.equal(copy.value, null, 'the value that did not fit is left out');
  assert.equal(header(copy, 'x-value-omitted-bytes'), String(NEAR_BROKER_LIMIT), 'the omission is said, with the size left out');
});
