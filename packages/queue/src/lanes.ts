import { readFileSync } from 'node:fs';
import { PRIORITIES, type Priority, type QueuedMessage } from '@commstrat/core';
import type { Redis } from 'ioredis';

const promoteDueScript = readFileSync(new URL('./lua/promote-due.lua', import.meta.url), 'utf8');

export interface LaneQueueOptions {
  /** Prefix of every key, so tests and tenants of one Redis stay apart. Default `commstrat:`. */
  readonly prefix?: string;
  /** Consumer group shared by all dispatcher replicas. Default `dispatchers`. */
  readonly group?: string;
}

/** One claimed lane entry: ack it by `lane` and `entryId` once its outcome is recorded. */
export interface LaneEntry {
  readonly lane: Priority;
  readonly entryId: string;
  readonly message: QueuedMessage;
}

type RedisWithScripts = Redis & {
  commstratPromoteDue(...args: (string | number)[]): Promise<number>;
};

/**
 * The priority lanes (one Redis stream each, read through one consumer group) and the
 * delayed set for messages that must wait (send_at, retries). Owns no connection: the
 * caller passes one and closes it.
 */
export class LaneQueue {
  readonly prefix: string;
  readonly group: string;
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, options: LaneQueueOptions = {}) {
    this.prefix = options.prefix ?? 'commstrat:';
    this.group = options.group ?? 'dispatchers';
    if (!('commstratPromoteDue' in redis)) {
      redis.defineCommand('commstratPromoteDue', {
        numberOfKeys: 2 + PRIORITIES.length,
        lua: promoteDueScript,
      });
    }
    this.redis = redis as RedisWithScripts;
  }

  laneKey(lane: Priority): string {
    return `${this.prefix}lane:${lane}`;
  }

  private get delayedKey(): string {
    return `${this.prefix}delayed`;
  }

  private get delayedPayloadKey(): string {
    return `${this.prefix}delayed:payload`;
  }

  /** Creates the consumer group on every lane (and the streams), if missing. */
  async ensureGroup(): Promise<void> {
    for (const lane of PRIORITIES) {
      try {
        await this.redis.xgroup('CREATE', this.laneKey(lane), this.group, '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
      }
    }
  }

  /** Appends messages to their lanes in one round trip. */
  async enqueue(messages: readonly QueuedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const message of messages) {
      pipeline.xadd(this.laneKey(message.priority), '*', 'm', JSON.stringify(message));
    }
    await execOrThrow(pipeline);
  }

  /** Parks messages until `dueAt` (ms since epoch); the promoter moves them to their lane. */
  async defer(entries: readonly { message: QueuedMessage; dueAt: number }[]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { message, dueAt } of entries) {
      const laneIndex = PRIORITIES.indexOf(message.priority) + 1;
      pipeline.hset(this.delayedPayloadKey, message.id, `${laneIndex}|${JSON.stringify(message)}`);
      pipeline.zadd(this.delayedKey, dueAt, message.id);
    }
    await execOrThrow(pipeline);
  }

  /** Moves up to `limit` due delayed entries to their lanes; returns how many moved. */
  async promoteDue(now: number = Date.now(), limit = 1000): Promise<number> {
    return this.redis.commstratPromoteDue(
      this.delayedKey,
      this.delayedPayloadKey,
      ...PRIORITIES.map((lane) => this.laneKey(lane)),
      now,
      limit,
    );
  }

  /**
   * Claims up to `count` new entries per lane for `consumer`, waiting up to `blockMs`
   * when all lanes are empty. Entries come back highest priority first.
   */
  async claim(consumer: string, count: number, blockMs: number): Promise<LaneEntry[]> {
    const reply = (await this.redis.xreadgroup(
      'GROUP',
      this.group,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...PRIORITIES.map((lane) => this.laneKey(lane)),
      ...PRIORITIES.map(() => '>'),
    )) as [string, [string, string[]][]][] | null;
    if (reply === null) return [];
    const entries: LaneEntry[] = [];
    for (const lane of PRIORITIES) {
      const stream = reply.find(([key]) => key === this.laneKey(lane));
      for (const [entryId, fields] of stream?.[1] ?? []) {
        entries.push({ lane, entryId, message: JSON.parse(fieldValue(fields, 'm')) as QueuedMessage });
      }
    }
    return entries;
  }

  /**
   * Acknowledges handled entries and deletes them from their stream, in one round trip.
   * Deleting keeps XLEN equal to the backlog, which admission control and metrics read.
   */
  async ack(entries: readonly LaneEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const lane of PRIORITIES) {
      const ids = entries.filter((entry) => entry.lane === lane).map((entry) => entry.entryId);
      if (ids.length === 0) continue;
      pipeline.xack(this.laneKey(lane), this.group, ...ids);
      pipeline.xdel(this.laneKey(lane), ...ids);
    }
    await execOrThrow(pipeline);
  }

  /** Entries in each lane stream that are not yet acknowledged (backlog + pending). */
  async depths(): Promise<Record<Priority, number>> {
    const pipeline = this.redis.pipeline();
    for (const lane of PRIORITIES) pipeline.xlen(this.laneKey(lane));
    const results = await execOrThrow(pipeline);
    return Object.fromEntries(PRIORITIES.map((lane, i) => [lane, Number(results[i])])) as Record<
      Priority,
      number
    >;
  }

  /** Parks messages that exhausted every attempt in the dead-letter stream, with the reason. */
  async deadLetter(entries: readonly { message: QueuedMessage; reason: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const { message, reason } of entries) {
      pipeline.xadd(`${this.prefix}dlq`, '*', 'm', JSON.stringify(message), 'reason', reason);
    }
    await execOrThrow(pipeline);
  }

  /** Entries in the dead-letter stream. */
  async deadLetterCount(): Promise<number> {
    return this.redis.xlen(`${this.prefix}dlq`);
  }

  /** Messages waiting in the delayed set. */
  async delayedCount(): Promise<number> {
    return this.redis.zcard(this.delayedKey);
  }
}

function fieldValue(fields: readonly string[], name: string): string {
  const index = fields.indexOf(name);
  const value = index >= 0 ? fields[index + 1] : undefined;
  if (value === undefined) throw new Error(`lane entry has no field "${name}"`);
  return value;
}

async function execOrThrow(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
