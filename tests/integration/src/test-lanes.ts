// The lanes as tests use them: the three roles production has (LaneWriter for ingest,
// LaneReader for dispatchers, LaneStatistics for gauges and inspect) on one connection,
// plus what only tests do — append entries without a batch guard, ack by hand, count the
// delayed set and the dead letters — written with the queue's own codec and keys.
import type { Priority, QueuedMessage } from '@commstrat/core';
import {
  LaneReader,
  LaneStatistics,
  LaneWriter,
  QueueKeys,
  encodeDeadLetter,
  encodeEntry,
  type DeadLetterInput,
  type DelayedMessage,
  type LaneEntry,
  type LaneQueueOptions,
} from '@commstrat/queue';
import type { Redis } from 'ioredis';

export class TestLanes {
  readonly keys: QueueKeys;
  readonly writer: LaneWriter;
  readonly reader: LaneReader;
  readonly statistics: LaneStatistics;
  private readonly redis: Redis;

  constructor(redis: Redis, options: LaneQueueOptions = {}) {
    this.redis = redis;
    this.keys = new QueueKeys(options.prefix);
    this.writer = new LaneWriter(redis, options);
    this.reader = new LaneReader(redis, options);
    this.statistics = new LaneStatistics(redis, options);
  }

  laneKey(lane: Priority): string {
    return this.keys.lane(lane);
  }

  // What production does, by role.
  ensureGroup = () => this.reader.ensureGroup();
  claim = (...args: Parameters<LaneReader['claim']>) => this.reader.claim(...args);
  markSending = (...args: Parameters<LaneReader['markSending']>) => this.reader.markSending(...args);
  settle = (...args: Parameters<LaneReader['settle']>) => this.reader.settle(...args);
  promoteDue = (...args: Parameters<LaneReader['promoteDue']>) => this.reader.promoteDue(...args);
  reclaim = (...args: Parameters<LaneReader['reclaim']>) => this.reader.reclaim(...args);
  trimHandled = () => this.reader.trimHandled();
  cancel = (...args: Parameters<LaneWriter['cancel']>) => this.writer.cancel(...args);
  defer = (entries: readonly DelayedMessage[]) => this.writer.defer(entries);
  depths = () => this.statistics.depths();
  laneLag = () => this.statistics.laneLag();

  /** Appends messages to their lanes without a batch guard, in one round trip. */
  async enqueue(messages: readonly QueuedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const message of messages) pipeline.xadd(this.keys.lane(message.priority), '*', 'm', encodeEntry(message));
    await pipeline.exec();
  }

  /** Acknowledges entries (and clears their sending markers), as a dispatcher's settle does. */
  async ack(entries: readonly LaneEntry[]): Promise<void> {
    await this.reader.settle({ acks: entries });
  }

  /** Appends dead letters as a dispatcher does. */
  async deadLetter(letters: readonly DeadLetterInput[]): Promise<void> {
    for (const letter of letters) await this.redis.xadd(this.keys.deadLetters, '*', ...encodeDeadLetter(letter));
  }

  async deadLetterCount(): Promise<number> {
    return this.redis.xlen(this.keys.deadLetters);
  }

  /** Entries in the delayed set (both layouts). */
  async delayedCount(): Promise<number> {
    return (await this.redis.zcard(this.keys.delayed)) + (await this.redis.zcard(this.keys.legacyDelayed));
  }

  /** Entries claimed and not yet acknowledged, per lane. */
  async pendingCount(): Promise<Record<Priority, number>> {
    return (await this.statistics.laneLag()).pending;
  }

  /** The age of each lane's oldest entry not yet handled, ms. */
  async oldestEntryAgeMs(): Promise<Record<Priority, number>> {
    return (await this.statistics.laneLag()).ageMs;
  }
}
