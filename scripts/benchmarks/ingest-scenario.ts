// One ingest scenario: a fresh ingest process with its own Redis prefix, MongoDB database
// (and Kafka topic), no dispatcher (lanes only fill), load from autocannon or a kafkajs
// producer, CPU metered over the measured phase, then cross-checks of what was accepted
// against ingest's own counter, the lanes and the journal.
import { join } from 'node:path';
import { LaneStatistics } from '@commstrat/queue';
import { MongoClient } from 'mongodb';
import type { BenchRun } from './bench-run.ts';
import { monotonicMicros, summariseProfile, type ProfileSummary } from './cpu-profile.ts';
import { CpuMeter, type CpuReport } from './cpu-usage.ts';
import { startIngestProcess } from './ingest-process.ts';
import { runKafkaLoad } from './kafka-load.ts';
import { batchEnvelope, smsMessage } from './payloads.ts';
import { progress, sleep } from './progress.ts';
import { runRestLoad, type MeasureHooks } from './rest-load.ts';

export type ScenarioSpec =
  | {
      readonly name: string;
      readonly kind: 'rest';
      readonly messagesPerRequest: number;
      readonly connections: number;
    }
  | {
      readonly name: string;
      readonly kind: 'kafka';
      readonly messagesPerRecord: number;
      readonly partitions: number;
      readonly windowRecords: number;
      readonly chunkRecords: number;
    };

export interface ScenarioSettings {
  readonly root: string;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Where ingest logs and CPU profiles go. */
  readonly outputDir: string;
  readonly profile: boolean;
  /** Stack processes to meter besides ingest and this one. */
  readonly stackPids: Readonly<Record<string, number | undefined>>;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly load: string;
  readonly messages: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly latencyMeaning: string;
  readonly failures: Readonly<Record<string, number>>;
  readonly cpu: CpuReport | undefined;
  /** After the run: ingest's accepted counter, lane entries and journaled messages (warm-up included). */
  readonly checks: {
    readonly acceptedCounter: number;
    readonly laneEntries: number;
    readonly journalMessages: number;
  };
  readonly extra: Readonly<Record<string, unknown>>;
  readonly profile?: { readonly file: string; readonly summary: ProfileSummary };
}

export async function runScenario(
  run: BenchRun,
  spec: ScenarioSpec,
  settings: ScenarioSettings,
): Promise<ScenarioResult> {
  const prefix = run.redisPrefix(spec.name);
  const database = run.mongoDatabase(spec.name);
  const kafka = spec.kind === 'kafka' ? run.kafkaNames(spec.name) : undefined;
  if (spec.kind === 'kafka' && kafka !== undefined) {
    const admin = run.kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: kafka.topic, numPartitions: spec.partitions }],
      waitForLeaders: true,
    });
    await admin.disconnect();
  }
  const ingest = await startIngestProcess({
    root: settings.root,
    logFile: join(settings.outputDir, `ingest-${run.id}-${spec.name}.log`),
    profileDir: settings.profile ? join(settings.outputDir, 'profiles', run.id) : undefined,
    env: {
      ...run.stack.env,
      COMMSTRAT_REDIS_PREFIX: prefix,
      COMMSTRAT_MONGO_URL: database.url,
      COMMSTRAT_POSTGRES_URL: run.postgresUrl,
      COMMSTRAT_LOG_LEVEL: 'warn',
      // No dispatcher drains the lanes, so the admission cap must never trip.
      INGEST_LANE_CAP: '1000000000',
      INGEST_TENANT_RATE_PER_SECOND: '100000000',
      INGEST_KAFKA_ENABLED: kafka === undefined ? 'false' : 'true',
      ...(kafka === undefined
        ? {}
        : {
            INGEST_KAFKA_TOPIC: kafka.topic,
            INGEST_KAFKA_REJECTED_TOPIC: kafka.rejectedTopic,
            INGEST_KAFKA_GROUP: kafka.group,
          }),
    },
  });
  let meter: CpuMeter | undefined;
  let cpu: CpuReport | undefined;
  const window = { from: 0, to: 0 };
  const measure: MeasureHooks = {
    start: () => {
      window.from = monotonicMicros();
      meter = new CpuMeter({ ingest: ingest.pid, ...settings.stackPids });
    },
    end: () => {
      window.to = monotonicMicros();
      cpu = meter?.read();
    },
  };
  try {
    const common = {
      label: spec.name,
      warmupSeconds: settings.warmupSeconds,
      durationSeconds: settings.durationSeconds,
      measure,
    };
    let outcome: Omit<ScenarioResult, 'cpu' | 'checks' | 'profile'>;
    if (spec.kind === 'rest') {
      const single = spec.messagesPerRequest === 1;
      const result = await runRestLoad({
        ...common,
        url: ingest.url,
        path: single ? '/v1/messages' : '/v1/messages/batch',
        body: JSON.stringify(single ? smsMessage(1) : batchEnvelope(spec.messagesPerRequest)),
        apiKey: run.tenant.apiKey,
        messagesPerRequest: spec.messagesPerRequest,
        connections: spec.connections,
      });
      outcome = {
        scenario: spec.name,
        load: `autocannon, ${spec.connections} connections, ${spec.messagesPerRequest} message(s) per request`,
        messages: result.messages,
        seconds: result.seconds,
        messagesPerSecond: result.messagesPerSecond,
        latencyMs: result.latencyMs,
        failures: result.failures,
        latencyMeaning: 'HTTP request latency (send to response), per request',
        extra: { requests: result.requests, perSecond: result.perSecond },
      };
    } else {
      const values = Array.from({ length: 1000 }, (_, i) =>
        Buffer.from(
          JSON.stringify(
            spec.messagesPerRecord === 1 ? smsMessage(i) : batchEnvelope(spec.messagesPerRecord, i),
          ),
        ),
      );
      const result = await runKafkaLoad({
        ...common,
        kafka: run.kafka,
        topic: kafka?.topic ?? '',
        groupId: kafka?.group ?? '',
        partitions: spec.partitions,
        apiKey: run.tenant.apiKey,
        values,
        messagesPerRecord: spec.messagesPerRecord,
        windowRecords: spec.windowRecords,
        chunkRecords: spec.chunkRecords,
        drainTimeoutSeconds: 120,
      });
      outcome = {
        scenario: spec.name,
        load:
          `kafkajs producer, ${spec.messagesPerRecord} message(s) per record, ${spec.partitions} partitions, ` +
          `at most ${spec.windowRecords} records produced and not committed, ${spec.chunkRecords} per produce request`,
        messages: result.messages,
        seconds: result.seconds,
        messagesPerSecond: result.messagesPerSecond,
        latencyMs: result.latencyMs,
        latencyMeaning:
          'produce request sent → ingest group offset committed past the record (journaled + enqueued), per record',
        failures: result.drained
          ? {}
          : { 'not committed within 120 s after the run': result.producedRecords },
        extra: {
          records: result.records,
          producedRecords: result.producedRecords,
          meanBacklogRecords: Math.round(result.meanBacklogRecords),
          perSecond: result.perSecond,
        },
      };
    }
    const checks = await crossCheck(run, ingest.url, prefix, database.url);
    const profileFile = await ingest.stop();
    const profile =
      profileFile === undefined
        ? undefined
        : { file: profileFile, summary: summariseProfile(profileFile, window) };
    return {
      ...outcome,
      cpu,
      checks,
      ...(profile === undefined ? {} : { profile }),
    };
  } finally {
    await ingest.stop();
    progress(`${spec.name}: cleaning up`);
    await run.deleteRedisKeys(prefix);
    await run.dropMongo(database.url);
  }
}

/**
 * What ingest accepted by its own counter, against the lanes and the journal. The load
 * generator stops before ingest has answered everything it holds, so this first waits
 * (at most 30 s) until the counter and the lanes stop moving.
 */
async function crossCheck(
  run: BenchRun,
  ingestUrl: string,
  prefix: string,
  mongoUrl: string,
): Promise<ScenarioResult['checks']> {
  const lanes = new LaneStatistics(run.redis, { prefix });
  const read = async () => {
    const metrics = await fetch(`${ingestUrl}/metrics`).then((r) => r.text());
    const acceptedCounter = metrics
      .split('\n')
      .filter((line) => line.startsWith('commstrat_messages_accepted_total{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    const laneEntries = Object.values(await lanes.depths()).reduce((sum, n) => sum + n, 0);
    return { acceptedCounter, laneEntries };
  };
  let last = await read();
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    await sleep(1000);
    const now = await read();
    const settled =
      now.acceptedCounter === last.acceptedCounter && now.laneEntries === last.laneEntries;
    last = now;
    if (settled) break;
  }
  const mongo = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5000 });
  try {
    await mongo.connect();
    const journalMessages = await mongo.db().collection('messages').countDocuments();
    return { ...last, journalMessages };
  } finally {
    await mongo.close();
  }
}
