// A Kafka broker killed and restarted while records flow: ingest's consumer resumes, every
// record the broker acknowledged to its producer is journaled and sent, nothing stalls.
// The broker is a private one (the stack's is shared with other tests).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { uniqueName, holdFor } from './harness.ts';
import { ledgerOf, privateKafka, verdict } from './faults.ts';
import { startDeployment } from './services.ts';


// Its own timeout: two JVM starts (format and two broker starts) take over a minute on 2 busy cores.
test('Kafka broker killed and restarted during traffic: the consumer resumes, no acknowledged record is lost, none stalls', { timeout: 240_000 }, async () => {
  // The broker stops after the deployment (node:test runs `after` hooks in order).
  let stopBroker: () => Promise<void> = () => Promise.resolve();
  const kafkaServer = await privateKafka((dispose) => (stopBroker = dispose));
  const topic = uniqueName('topic');
  const kafka = new Kafka({ clientId: 'faults', brokers: [kafkaServer.broker], logLevel: logLevel.NOTHING, retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 1000 } });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }, { topic: `${topic}.rejected`, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const deployment = await startDeployment({
    env: {
      INGEST_KAFKA_ENABLED: 'true',
      COMMSTRAT_KAFKA_BROKERS: kafkaServer.broker,
      INGEST_KAFKA_TOPIC: topic,
      INGEST_KAFKA_REJECTED_TOPIC: `${topic}.rejected`,
      INGEST_KAFKA_GROUP: topic,
    },
  });
  after(() => stopBroker());
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const batchIds: string[] = [];
  let failedSends = 0;
  let running = true;
  const produce = async (i: number) => {
    const value = JSON.stringify({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: `k${i}` }, priority: (['critical', 'high', 'normal', 'bulk'] as const)[i % 4] });
    try {
      const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: String(i), value, headers: { 'x-api-key': deployment.apiKey } }] });
      if (meta !== undefined) batchIds.push(`kafka:${topic}:${meta.partition}:${meta.baseOffset ?? ''}`);
    } catch {
      failedSends += 1; // not acknowledged: a real producer would send it again
    }
  };
  const sends: Promise<void>[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      sends.push(produce(i));
      await holdFor(20, 'one record every 20 ms');
    }
  })();
  await holdFor(3000, 'traffic before the broker goes');
  const beforeKill = batchIds.length;
  await kafkaServer.restart(2000);
  await holdFor(4000, 'traffic while the broker comes back');
  running = false;
  await loop;
  await Promise.all(sends);
  await producer.disconnect();
  assert.ok(beforeKill > 0 && batchIds.length > beforeKill, `records were acknowledged before (${beforeKill}) and after the restart (${batchIds.length})`);
  const report = await ledgerOf(deployment, { kafkaBatchIds: batchIds }, { timeoutMs: 90_000 });
  assert.ok(report.ok, `${verdict(report)} (${failedSends} sends failed during the outage)`);
  assert.equal(report.byStatus['sent'], batchIds.length, verdict(report));
});
