import { setTimeout as sleep } from 'node:timers/promises';
import { CommstratError, ConfigError, DependencyUnavailableError, retryDelayMs } from '@commstrat/core';
import type { LogLevel, Logger } from '@commstrat/observability';
import type { SampledDepths } from '@commstrat/queue';
import {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import type { IngestConfig } from './config.ts';
import { LaneBackpressure } from './kafka-backpressure.ts';
import { PartitionPipe } from './kafka-partition-pipe.ts';
import { KafkaRecordHandler, type KafkaRecordHandlerDeps, type KafkaRecordHandlerOptions } from './kafka-record-handler.ts';
import type { RecordSource } from './kafka-records.ts';

/** A member silent this long leaves the group (kafkajs default); readiness uses it too. */
const SESSION_TIMEOUT_MS = 30_000;

export interface KafkaIntakeOptions extends KafkaRecordHandlerOptions {
  /** Bootstrap brokers, `host:port` each. */
  readonly brokers: readonly string[];
  /** Consumer group shared by every ingest replica. */
  readonly groupId: string;
  readonly topic: string;
  readonly rejectedTopic: string;
  /** Partitions of a topic created because it was missing. */
  readonly topicPartitions: number;
  /** Lane entries, all lanes together, above which consumption pauses. */
  readonly laneCap: number;
  /**
   * Records of one partition handled at once: each is a journal write and a lane
   * enqueue, so one at a time runs at one record per journal round trip. Offsets are
   * still resolved and committed in order. Default 16.
   */
  readonly recordsInFlight?: number;
  /**
   * Partitions handled at once (kafkajs `partitionsConsumedConcurrently`). Their records
   * meet in the journal's group commit, so records of several partitions share one
   * journal write instead of each partition waiting for the one before. Default 6.
   */
  readonly partitionsInFlight?: number;
  /** Default `commstrat-ingest`. */
  readonly clientId?: string;
  /** How often the lane depth is read for backpressure, in ms. Default 1000. */
  readonly backpressureCheckMs?: number;
  /** First wait before retrying a record whose dependency failed, in ms; doubles per attempt. Default 250. */
  readonly retryInitialMs?: number;
  /** Longest wait between two attempts, in ms. Default 10 000. */
  readonly retryMaxMs?: number;
}

/** What records are handled with (the producer is the intake's own), and the depths for backpressure. */
export interface KafkaIntakeDeps extends Omit<KafkaRecordHandlerDeps, 'producer'> {
  /** The process's shared sample of the lane depths, for backpressure. */
  readonly depths: Pick<SampledDepths, 'get'>;
}

/** Kafka intake as configured, or undefined when it is off (no brokers, or disabled). */
export function kafkaIntakeFromConfig(config: Readonly<IngestConfig>, deps: KafkaIntakeDeps): KafkaIntake | undefined {
  if (config.kafkaBrokers === undefined || !config.kafkaEnabled) return undefined;
  if (config.kafkaRejectedTopic === config.kafkaTopic) {
    throw new ConfigError([{ path: 'INGEST_KAFKA_REJECTED_TOPIC', message: 'must differ from INGEST_KAFKA_TOPIC' }]);
  }
  return new KafkaIntake(deps, {
    brokers: config.kafkaBrokers.split(','),
    groupId: config.kafkaGroup,
    topic: config.kafkaTopic,
    rejectedTopic: config.kafkaRejectedTopic,
    topicPartitions: config.kafkaTopicPartitions,
    laneCap: config.laneCap,
    maxBodyBytes: config.maxBodyBytes,
    maxBatchMessages: config.maxBatchMessages,
    maxJsonDepth: config.maxJsonDepth,
    recordsInFlight: config.kafkaRecordsInFlight,
    partitionsInFlight: config.kafkaPartitionsInFlight,
  });
}

/**
 * The Kafka door into `Intake`: one consumer in the ingest consumer group, delivering at
 * least once. An offset is committed only when every record up to it is journaled and
 * enqueued, or written to the rejected topic. Records are told apart by what failed:
 *
 * - the record itself (bad JSON or UTF-8, nesting too deep, bad, missing or repeated
 *   API key, invalid message, batch too large, a document the journal refuses for its
 *   content: a non-retryable `CommstratError`) goes to the rejected topic and
 *   consumption moves on, so one poison record never stalls its partition;
 * - anything else (MongoDB, Redis, PostgreSQL or the rejected topic unavailable, or an
 *   unexpected error) is retried in place with capped exponential back-off, heartbeating
 *   meanwhile; nothing after it is processed or committed until it passes. Retrying here
 *   rather than throwing to kafkajs avoids its retry budget ending in a consumer restart
 *   and a group rebalance every time an outage outlasts it. The cost: an unexpected error
 *   that is really a bug stalls the partition (visible as `commstrat_kafka_retries_total`,
 *   consumer lag and error logs) instead of silently moving data aside.
 *
 * A redelivered record is recognised by its batch id (topic, partition, offset) in the
 * journal, so redelivery never accepts a message twice.
 */
export class KafkaIntake {
  private readonly deps: KafkaIntakeDeps;
  private readonly options: KafkaIntakeOptions;
  private readonly logger: Logger;
  private readonly admin: Admin;
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly backpressure: LaneBackpressure;
  private readonly records: KafkaRecordHandler;
  private readonly stopping = new AbortController();
  /** The records under way per partition of the topic, and what to commit (see PartitionPipe). */
  private readonly pipes = new Map<number, PartitionPipe>();
  /** Partitions with a lag series, so a rebalance can drop the ones this replica lost. */
  private readonly lagSeries = new Set<number>();
  /** Set when the consumer crashed and kafkajs will not restart it. */
  private crash: Error | undefined;
  /** When the consumer last proved itself a live group member (joined or heartbeated), ms. */
  private lastHeartbeatAt = 0;
  private stopped: Promise<void> | undefined;

  constructor(deps: KafkaIntakeDeps, options: KafkaIntakeOptions) {
    this.deps = deps;
    this.options = options;
    this.logger = deps.logger.child({ component: 'kafka-intake', kafka_topic: options.topic });
    const kafka = new Kafka({
      clientId: options.clientId ?? 'commstrat-ingest',
      brokers: [...options.brokers],
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator(deps.logger),
    });
    this.admin = kafka.admin();
    this.producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    // A fetch waits on the broker for at most a second when there is nothing to read
    // (kafkajs default 5 s): stopping waits for that fetch, and it costs one idle request
    // a second per broker.
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: SESSION_TIMEOUT_MS,
      maxWaitTimeInMs: 1000,
    });
    this.records = new KafkaRecordHandler({ ...deps, producer: this.producer, logger: this.logger }, options);
    const topics = [{ topic: options.topic }];
    this.backpressure = new LaneBackpressure(
      {
        depths: () => deps.depths.get(),
        pause: () => this.consumer.pause(topics),
        resume: () => this.consumer.resume(topics),
        metrics: deps.metrics,
        logger: this.logger,
      },
      { cap: options.laneCap, ...(options.backpressureCheckMs === undefined ? {} : { checkIntervalMs: options.backpressureCheckMs }) },
    );
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => this.onCrash(payload.error, payload.restart));
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => this.onGroupJoin(payload.memberAssignment));
    this.consumer.on(this.consumer.events.HEARTBEAT, () => {
      this.lastHeartbeatAt = Date.now();
    });
  }

  /**
   * Creates the topics if missing, joins the group and starts consuming; resolves once
   * the group is joined. Throws DependencyUnavailableError when Kafka does not answer.
   */
  async start(): Promise<void> {
    try {
      await this.admin.connect();
      await this.ensureTopics();
      await this.admin.disconnect();
      await this.producer.connect();
      await this.consumer.connect();
      // A group without committed offsets (a first start, a renamed group) starts at the
      // beginning: records sent before ingest first ran are not skipped, and those it
      // already accepted are recognised in the journal.
      await this.consumer.subscribe({ topics: [this.options.topic], fromBeginning: true });
      await this.consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.options.partitionsInFlight ?? 6,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (cause) {
      await this.disconnect();
      throw new DependencyUnavailableError(`Kafka (${this.options.brokers.join(',')})`, cause);
    }
    this.backpressure.start();
    this.logger.info('Kafka intake consuming', {
      kafka_group: this.options.groupId,
      kafka_rejected_topic: this.options.rejectedTopic,
    });
  }

  /**
   * Readiness: the consumer has not crashed for good and has heartbeated to its group
   * within a session timeout (it heartbeats every 3 s, also while paused or retrying).
   * Read from consumer events, so a probe costs no request to Kafka.
   */
  ready(): Promise<void> {
    if (this.crash !== undefined) {
      return Promise.reject(new Error(`Kafka consumer crashed and stopped: ${this.crash.message}`));
    }
    if (this.lastHeartbeatAt === 0) return Promise.reject(new Error('Kafka consumer has not joined its group yet'));
    const silentMs = Date.now() - this.lastHeartbeatAt;
    if (silentMs > SESSION_TIMEOUT_MS) {
      return Promise.reject(new Error(`Kafka consumer has not heartbeated to its group for ${Math.round(silentMs / 1000)} s`));
    }
    return Promise.resolve();
  }

  /**
   * Lets the records under way finish (those waiting for a dependency give up) and commits
   * what they handled, while still a group member; then leaves the group and disconnects.
   * Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping.abort();
      await this.backpressure.stop();
      await Promise.all([...this.pipes.values()].map((pipe) => pipe.settle()));
      await this.disconnect();
      this.logger.info('Kafka intake stopped');
    })();
    return this.stopped;
  }

  private async disconnect(): Promise<void> {
    // The consumer first: its batch in flight may still write to the rejected topic.
    await this.consumer.disconnect().catch((error: unknown) => {
      this.logger.warn('Kafka consumer did not disconnect cleanly', { error: String(error) });
    });
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect()]);
  }

  private async ensureTopics(): Promise<void> {
    const created = await this.admin.createTopics({
      topics: [this.options.topic, this.options.rejectedTopic].map((topic) => ({
        topic,
        numPartitions: this.options.topicPartitions,
      })),
      waitForLeaders: true,
    });
    if (created) this.logger.info('created Kafka topics', { kafka_rejected_topic: this.options.rejectedTopic });
  }

  /**
   * Starts a partition's records in its pipe and resolves each offset with kafkajs at
   * once, so kafkajs fetches on while the records are journaled; the pipe commits, in log
   * order, what is handled (see PartitionPipe). No record starts more than
   * `recordsInFlight` after the first unhandled one, and none while one waits for a
   * dependency: the batch waits for room, and kafkajs fetches no more of the partition
   * meanwhile. Records left unresolved (backpressure paused, intake stopping, a stale
   * batch) are fetched again from the last resolved offset.
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const pipe = this.pipeOf(batch.partition);
    const first = batch.messages[0];
    if (first !== undefined) pipe.fetched(batch.highWatermark, first.offset);
    const heartbeat = () => payload.heartbeat();
    const goOn = () => payload.isRunning() && !payload.isStale() && !this.stopping.signal.aborted && !this.backpressure.paused;
    for (const record of batch.messages) {
      if (!goOn()) break;
      if (!pipe.seen(record.offset)) {
        if (!pipe.hasRoom()) {
          await pipe.room();
          // A rebalance meanwhile throws here, and kafkajs rejoins.
          await heartbeat();
          if (!goOn()) break;
        }
        const source = { topic: batch.topic, partition: batch.partition, offset: record.offset };
        pipe.start(record.offset, () => this.untilHandled(record, source, pipe, heartbeat));
      }
      payload.resolveOffset(record.offset);
    }
  }

  /** The pipe of a partition this replica consumes, made on its first batch. */
  private pipeOf(partition: number): PartitionPipe {
    let pipe = this.pipes.get(partition);
    if (pipe === undefined) {
      pipe = new PartitionPipe({
        limit: this.options.recordsInFlight ?? 16,
        commit: (offset) => this.consumer.commitOffsets([{ topic: this.options.topic, partition, offset }]),
        onError: (error, during) => {
          const fields = { kafka_partition: partition, error: error instanceof Error ? error.message : String(error) };
          if (during === 'commit') this.logger.warn('Kafka offset not committed yet; the next handled record commits it', fields);
          else this.logger.error('Kafka record handler failed unexpectedly; its offset stays uncommitted', fields);
        },
        onLag: (lag) => this.setLag(partition, lag),
      });
      this.pipes.set(partition, pipe);
    }
    return pipe;
  }

  /**
   * Handles one record, retrying while a dependency is down (also while backpressure
   * pauses the topic: its offset is resolved, so it is not fetched again). False only when
   * intake stops before the record is handled: it stays uncommitted and is redelivered.
   */
  private async untilHandled(record: KafkaMessage, source: RecordSource, pipe: PartitionPipe, heartbeat: () => Promise<void>): Promise<boolean> {
    let failing = false;
    try {
      for (let attempt = 1; ; attempt += 1) {
        try {
          await this.records.handle(record, source);
          return true;
        } catch (error) {
          if (!failing) pipe.failing += 1;
          failing = true;
          const delayMs = this.retryDelayMs(attempt);
          const known = error instanceof CommstratError;
          this.deps.metrics.kafkaRetried(known ? error.code : 'internal');
          this.logger[known ? 'warn' : 'error']('Kafka record not accepted yet; retrying, offset not committed', {
            kafka_partition: source.partition,
            kafka_offset: source.offset,
            attempt,
            retry_in_ms: delayMs,
            error: known ? error.message : error instanceof Error ? error.stack : String(error),
            cause: known ? String(error.cause) : undefined,
          });
          if (!(await this.wait(delayMs, heartbeat))) return false;
        }
      }
    } finally {
      // However it ends (accepted or given up), it waits no longer.
      if (failing) pipe.failing -= 1;
    }
  }

  /**
   * Sleeps, heartbeating so the group keeps the partition (a heartbeat refused by a
   * rebalance is kafkajs's to handle: the record goes on waiting). False once intake stops.
   */
  private async wait(ms: number, heartbeat: () => Promise<void>): Promise<boolean> {
    const until = Date.now() + ms;
    while (!this.stopping.signal.aborted) {
      const left = until - Date.now();
      if (left <= 0) return true;
      try {
        await sleep(Math.min(left, 1000), undefined, { signal: this.stopping.signal });
      } catch {
        return false;
      }
      await heartbeat().catch(() => undefined);
    }
    return false;
  }

  /** Capped exponential back-off with jitter (core's, as for provider retries), so replicas do not retry in step. */
  private retryDelayMs(attempt: number): number {
    const policy = {
      baseDelayMs: this.options.retryInitialMs ?? 250,
      maxDelayMs: this.options.retryMaxMs ?? 10_000,
      maxAttempts: Number.POSITIVE_INFINITY,
    };
    return retryDelayMs(attempt, policy);
  }

  private setLag(partition: number, lag: number): void {
    this.lagSeries.add(partition);
    this.deps.metrics.kafkaLag(this.options.topic, partition, lag);
  }

  private onGroupJoin(assignment: Readonly<Record<string, readonly number[]>>): void {
    this.lastHeartbeatAt = Date.now();
    const assigned = new Set(assignment[this.options.topic] ?? []);
    for (const [partition, pipe] of this.pipes) {
      if (assigned.has(partition)) continue;
      pipe.revoke();
      this.pipes.delete(partition);
    }
    for (const partition of this.lagSeries) {
      if (assigned.has(partition)) continue;
      this.deps.metrics.kafkaLag(this.options.topic, partition, undefined);
      this.lagSeries.delete(partition);
    }
    // kafkajs forgets pauses when it restarts a crashed consumer.
    this.backpressure.reapply();
    this.logger.info('Kafka partitions assigned', { kafka_partitions: [...assigned].sort((a, b) => a - b) });
  }

  private onCrash(error: Error, restart: boolean): void {
    if (restart) {
      this.logger.warn('Kafka consumer crashed; kafkajs restarts it', { error: error.message });
      return;
    }
    this.crash = error;
    this.logger.error('Kafka consumer crashed and will not restart: Kafka intake is down, readiness fails', {
      error: error.stack ?? error.message,
    });
  }
}

/** Routes kafkajs's own log lines into our logger, tagged `component: kafkajs`. */
function kafkaLogCreator(logger: Logger): () => (entry: LogEntry) => void {
  const child = logger.child({ component: 'kafkajs' });
  const levels: Partial<Record<logLevel, LogLevel>> = {
    [logLevel.ERROR]: 'error',
    [logLevel.WARN]: 'warn',
    [logLevel.INFO]: 'info',
  };
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = log as Record<string, unknown>;
      child.log(levels[level] ?? 'debug', String(message), { kafka_namespace: namespace, ...fields });
    };
}
