// What the Kafka intake tests share: topics and consumer groups of the test's own, the
// ingest settings that consume them, and a reader of the rejected topic.
import type { Kafka, KafkaMessage } from 'kafkajs';
import { uniqueName, type Owner } from './harness.ts';

/** The names of a test's own Kafka intake; testKafka deletes the topics and groups after it. */
export interface KafkaIntakeNames {
  readonly topic: string;
  readonly rejectedTopic: string;
  /** ingest's consumer group. */
  readonly group: string;
  /** The group of the test's reader of the rejected topic. */
  readonly readerGroup: string;
}

export function kafkaIntakeNames(): KafkaIntakeNames {
  return { topic: uniqueName('in'), rejectedTopic: uniqueName('rejected'), group: uniqueName('group'), readerGroup: uniqueName('reader') };
}

/** ingest's environment for consuming `names.topic` with `partitions` partitions (one by default, for predictable offsets). */
export function kafkaIntakeEnv(names: KafkaIntakeNames, partitions = 1): Record<string, string> {
  return {
    INGEST_KAFKA_ENABLED: 'true',
    INGEST_KAFKA_TOPIC: names.topic,
    INGEST_KAFKA_REJECTED_TOPIC: names.rejectedTopic,
    INGEST_KAFKA_GROUP: names.group,
    INGEST_KAFKA_TOPIC_PARTITIONS: String(partitions),
  };
}

/** Reads the rejected topic from its beginning into the array it answers, in arrival order, until the test ends. */
export async function readRejected(kafka: Kafka, own: Owner, names: KafkaIntakeNames): Promise<KafkaMessage[]> {
  const rejected: KafkaMessage[] = [];
  const reader = kafka.consumer({ groupId: names.readerGroup, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  await reader.connect();
  own(() => reader.disconnect());
  await reader.subscribe({ topic: names.rejectedTopic, fromBeginning: true });
  await reader.run({ eachMessage: ({ message }) => Promise.resolve(void rejected.push(message)) });
  return rejected;
}

/** A record's header as a string. */
export const header = (record: KafkaMessage, name: string): string | undefined => record.headers?.[name]?.toString();
