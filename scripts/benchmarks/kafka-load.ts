// Kafka load: a kafkajs producer writes records (header x-api-key) to the topic ingest
// consumes, keeping at most `windowRecords` produced but not yet committed by ingest's
// consumer group — a closed loop like REST's connections, so the consumer never idles and
// the backlog (and with it the latency) stays bounded. A record counts as accepted when
// the group's committed offset passes it: ingest commits only once a record is journaled
// and enqueued (invariant 1), so "produce → committed" is the produce-to-journaled latency,
// measured from just before the produce request to the first offset poll (every
// `pollMs`) that sees it, so it reads up to `pollMs` high.
import hdr from 'hdr-histogram-js';
import type { Kafka, Message as OutgoingRecord } from 'kafkajs';
import { formatCount, progress, sleep } from './progress.ts';
import type { MeasureHooks } from './rest-load.ts';

export interface KafkaLoadOptions {
  readonly label: string;
  readonly kafka: Kafka;
  readonly topic: string;
  readonly partitions: number;
  readonly groupId: string;
  readonly apiKey: string;
  /** Distinct record values, sent in turn. */
  readonly values: readonly Buffer[];
  readonly messagesPerRecord: number;
  readonly windowRecords: number;
  readonly chunkRecords: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Longest wait after the measured phase for ingest to commit what was produced. */
  readonly drainTimeoutSeconds: number;
  readonly pollMs?: number;
  /** Told when the measured phase starts and ends (to meter CPU over it). */
  readonly measure?: MeasureHooks;
}

export interface KafkaLoadResult {
  readonly records: number;
  readonly messages: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  /** Produce to offset committed, ms, over records produced in the measured phase. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly producedRecords: number;
  /** Mean records produced and not yet committed, sampled in the measured phase. */
  readonly meanBacklogRecords: number;
  /** False when the drain timed out: latency then misses the slowest records. */
  readonly drained: boolean;
  /** Messages committed in each second of the measured phase. */
  readonly perSecond: readonly number[];
}

interface Range {
  readonly start: number;
  readonly end: number;
  readonly sentAt: number;
  readonly measured: boolean;
  covered: number;
}

type Phase = 'warmup' | 'measure' | 'drain';

export async function runKafkaLoad(options: KafkaLoadOptions): Promise<KafkaLoadResult> {
  const pollMs = options.pollMs ?? 50;
  const admin = options.kafka.admin();
  const producer = options.kafka.producer({ allowAutoTopicCreation: false });
  await Promise.all([admin.connect(), producer.connect()]);
  try {
    const ranges = Array.from({ length: options.partitions }, (): Range[] => []);
    const committed = new Array<number>(options.partitions).fill(0);
    const latency = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 600_000,
      numberOfSignificantValueDigits: 3,
    });
    let phase = 'warmup' as Phase;
    let produced = 0;
    let committedTotal = 0;
    let backlogSamples = 0;
    let backlogSum = 0;

    const poll = async (): Promise<number> => {
      const [topic] = await admin.fetchOffsets({
        groupId: options.groupId,
        topics: [options.topic],
      });
      const now = performance.now();
      for (const { partition, offset } of topic?.partitions ?? []) {
        const upTo = Math.max(committed[partition] ?? 0, Number(offset));
        committed[partition] = upTo;
        const queue = ranges[partition] ?? [];
        while (queue.length > 0) {
          const range = queue[0];
          if (range === undefined || range.start >= upTo) break;
          const newly = Math.min(upTo, range.end) - Math.max(range.covered, range.start);
          if (newly > 0 && range.measured)
            latency.recordValueWithCount(Math.max(1, Math.round(now - range.sentAt)), newly);
          range.covered = Math.min(upTo, range.end);
          if (range.covered < range.end) break;
          queue.shift();
        }
      }
      committedTotal = committed.reduce((sum, n) => sum + n, 0);
      if (phase === 'measure') {
        backlogSamples += 1;
        backlogSum += produced - committedTotal;
      }
      return now;
    };

    let polling = true;
    const poller = (async () => {
      while (polling) {
        await poll();
        await sleep(pollMs);
      }
    })();

    const producing = (async () => {
      let sequence = 0;
      while (phase !== 'drain') {
        if (produced - committedTotal + options.chunkRecords > options.windowRecords) {
          await sleep(2);
          continue;
        }
        const counts = new Array<number>(options.partitions).fill(0);
        const records: OutgoingRecord[] = [];
        for (let i = 0; i < options.chunkRecords; i += 1, sequence += 1) {
          const partition = sequence % options.partitions;
          counts[partition] = (counts[partition] ?? 0) + 1;
          records.push({
            partition,
            value: options.values[sequence % options.values.length] ?? null,
            headers: { 'x-api-key': options.apiKey },
          });
        }
        const measured = phase === 'measure';
        const sentAt = performance.now();
        const metadata = await producer.send({ topic: options.topic, messages: records, acks: -1 });
        for (const { partition, baseOffset } of metadata) {
          const start = Number(baseOffset);
          ranges[partition]?.push({
            start,
            end: start + (counts[partition] ?? 0),
            sentAt,
            measured,
            covered: start,
          });
        }
        produced += records.length;
      }
    })();

    const perSecond: number[] = [];
    let seconds = 0;
    let lastCommitted = 0;
    const report = setInterval(() => {
      seconds += 1;
      if (phase === 'measure')
        perSecond.push((committedTotal - lastCommitted) * options.messagesPerRecord);
      lastCommitted = committedTotal;
      if (seconds % 5 === 0) {
        progress(
          `${options.label}: ${phase}, produced ${formatCount(produced)} records, committed ${formatCount(committedTotal)}`,
        );
      }
    }, 1000);
    try {
      await Promise.race([sleep(options.warmupSeconds * 1000), producing]);
      phase = 'measure';
      options.measure?.start();
      const startedAt = await poll();
      const startCommitted = committedTotal;
      await Promise.race([sleep(options.durationSeconds * 1000), producing]);
      const endedAt = await poll();
      options.measure?.end();
      const measuredRecords = committedTotal - startCommitted;
      phase = 'drain';
      await producing;
      const deadline = Date.now() + options.drainTimeoutSeconds * 1000;
      while (committedTotal < produced && Date.now() < deadline) await sleep(pollMs);
      polling = false;
      await poller;
      const seconds = (endedAt - startedAt) / 1000;
      return {
        records: measuredRecords,
        messages: measuredRecords * options.messagesPerRecord,
        seconds,
        messagesPerSecond: (measuredRecords * options.messagesPerRecord) / seconds,
        latencyMs: {
          p50: latency.getValueAtPercentile(50),
          p99: latency.getValueAtPercentile(99),
          max: latency.maxValue,
        },
        producedRecords: produced,
        meanBacklogRecords: backlogSamples === 0 ? 0 : backlogSum / backlogSamples,
        drained: committedTotal >= produced,
        perSecond,
      };
    } finally {
      clearInterval(report);
      phase = 'drain';
      polling = false;
      await Promise.allSettled([producing, poller]);
      latency.destroy();
    }
  } finally {
    await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
  }
}
