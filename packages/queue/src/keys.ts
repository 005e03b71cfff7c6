import { DEFAULT_REDIS_PREFIX, PRIORITIES, type Priority } from '@commstrat/core';

/**
 * Every Redis key the service uses, by name, under one prefix (COMMSTRAT_REDIS_PREFIX,
 * default `commstrat:`): the one place a key name is spelled. docs/architecture.md
 * (Storage, Redis) has the table of what each holds; the formats of what the lanes, the
 * delayed set and the dead-letter stream hold are entry-codec.ts's.
 */
export class QueueKeys {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_REDIS_PREFIX) {
    this.prefix = prefix;
  }

  /** A priority lane: a stream read by the consumer group `dispatchers`. */
  lane(priority: Priority): string {
    return `${this.prefix}lane:${priority}`;
  }

  /** Every lane, highest priority first (the order the Lua scripts take them in). */
  get lanes(): string[] {
    return PRIORITIES.map((priority) => this.lane(priority));
  }

  /** The delayed set: a sorted set of encoded entries (entry-codec.ts) by due time, ms. */
  get delayed(): string {
    return `${this.prefix}delayed:v2`;
  }

  /**
   * The delayed set of 0.1: message ids by due time, their payloads in `legacyDelayedPayloads`.
   * Nothing writes it any more; the promoter drains it (and `advanceTimer` still moves
   * what is in it), so entries parked before an upgrade still come due.
   */
  get legacyDelayed(): string {
    return `${this.prefix}delayed`;
  }

  /** The payloads of `legacyDelayed`: message id → `<lane index>|<message JSON>`. */
  get legacyDelayedPayloads(): string {
    return `${this.prefix}delayed:payload`;
  }

  /** The dead-letter stream. */
  get deadLetters(): string {
    return `${this.prefix}dlq`;
  }

  /** The enqueue guard of one ingest batch (15 min). */
  enqueueGuard(batchId: string): string {
    return `${this.prefix}enqueued:${batchId}`;
  }

  /** Hash of the ids of messages a dispatcher is sending (value: when it claimed them, ms). */
  get sending(): string {
    return `${this.prefix}sending`;
  }

  /** Hash of the ids of cancelled messages not yet dropped by a dispatcher (value: when, ms). */
  get cancelled(): string {
    return `${this.prefix}cancelled`;
  }

  /** An idempotency key of a tenant, by the digest of the producer's key. */
  idempotency(tenantId: string, digest: string): string {
    return `${this.prefix}idem:${encodeURIComponent(tenantId)}:${digest}`;
  }

  /** A token bucket: `<tenant>/<provider>`, `tenant:<tenant>` or `callbacks:<tenant>`. */
  rateBucket(bucket: string): string {
    return `${this.prefix}ratelimit:${bucket}`;
  }

  /** What every token bucket's key starts with. */
  get rateBuckets(): string {
    return `${this.prefix}ratelimit:`;
  }

  /** One frequency-cap window of one recipient, by its keyed hash. */
  frequencyCap(digest: string): string {
    return `${this.prefix}cap:${digest}`;
  }

  /** A signature seen before within its window (receipt replay guard). */
  seen(scope: string, digest: string): string {
    return `${this.prefix}seen:${scope}:${digest}`;
  }

  /** A dispatcher replica's heartbeat. */
  replica(consumer: string): string {
    return `${this.prefix}replica:${consumer}`;
  }

  /** What every replica heartbeat's key starts with. */
  get replicas(): string {
    return `${this.prefix}replica:`;
  }

  /** Receipts that named no message yet, by arrival time. */
  get parkedReceipts(): string {
    return `${this.prefix}receipts:parked`;
  }
}
