import { PRIORITIES, type Priority } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { decodeStreamEntry, encodeDeadLetter, encodeEntry } from './entry-codec.ts';
import { execOrThrow } from './exec-pipeline.ts';
import { QueueKeys } from './keys.ts';
import { DEFAULT_GROUP, type DeadLetterInput, type DelayedMessage, type LaneEntry, type LaneQueueOptions } from './lane-options.ts';
import { readLaneProgress, trimThreshold } from './lane-progress.ts';
import { defineLuaCommands } from './lua-commands.ts';

type RedisWithScripts = Redis & {
  commstratPromoteDue(...args: (string | number)[]): Promise<number>;
  commstratMarkSending(...args: (string | number)[]): Promise<number[]>;
};

/**
 * The dispatchers' side of the lanes: claims through the consumer group, the sending
 * markers, settling what a claim came to (deferrals, dead letters, acks), and the
 * housekeeping every replica shares (promoting due delayed entries, reclaiming the
 * entries of dead replicas, trimming handled ones). Owns no connection.
 */
export class LaneReader {
  readonly keys: QueueKeys;
  readonly group: string;
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, options: LaneQueueOptions = {}) {
    this.keys = new QueueKeys(options.prefix);
    this.group = options.group ?? DEFAULT_GROUP;
    defineLuaCommands(redis, {
      commstratPromoteDue: { file: 'promote-due.lua', numberOfKeys: 3 + PRIORITIES.length },
      commstratMarkSending: { file: 'mark-sending.lua', numberOfKeys: 2 },
    });
    this.redis = redis as RedisWithScripts;
  }

  /** Creates the consumer group on every lane (and the streams), if missing. */
  async ensureGroup(): Promise<void> {
    for (const lane of PRIORITIES) {
      try {
        await this.redis.xgroup('CREATE', this.keys.lane(lane), this.group, '0', 'MKSTREAM');
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
      }
    }
  }

  /**
   * Marks claimed messages as being sent, in one atomic step, and returns the ids the
   * tenant cancelled first: those must not be sent. This marker, not a journal update, is
   * what a cancel races against, so claiming costs no write to MongoDB. Markers are hash
   * fields, not keys with a lifetime: a third of the Redis work per message. The ack (or
   * a deferral) removes them; an entry that vanishes from its stream without an ack
   * (deleted by hand) leaves its field behind, visible with HLEN.
   */
  async markSending(messageIds: readonly string[], now: number = Date.now()): Promise<Set<string>> {
    if (messageIds.length === 0) return new Set();
    const cancelled = await this.redis.commstratMarkSending(this.keys.cancelled, this.keys.sending, now, ...messageIds);
    return new Set(cancelled.map((position) => messageIds[position - 1] ?? ''));
  }

  /**
   * Everything a dispatcher does once the outcomes of some entries are journaled, in one
   * MULTI (atomic, one round trip): parks `deferred` messages in the delayed set,
   * appends `deadLetters` to the dead-letter stream, acknowledges `acks` (trimHandled
   * removes them from their streams later, in bulk), clears the sending markers of the
   * messages acked or deferred (a deferred one is cancellable again) and the cancel
   * markers of `dropped` (cancelled messages skipped without sending). Atomic, so a
   * cancel lands either before (the message is still being sent: 409) or after (its
   * cancel marker stays until the message is claimed again), never in between to be
   * wiped by the ack.
   */
  async settle(outcome: {
    readonly deferred?: readonly DelayedMessage[];
    readonly deadLetters?: readonly DeadLetterInput[];
    readonly acks?: readonly LaneEntry[];
    readonly dropped?: readonly string[];
  }): Promise<void> {
    const { deferred = [], deadLetters = [], acks = [], dropped = [] } = outcome;
    if (deferred.length + deadLetters.length + acks.length + dropped.length === 0) return;
    const multi = this.redis.multi();
    if (deferred.length > 0) multi.zadd(this.keys.delayed, ...deferred.flatMap(({ message, dueAt }) => [dueAt, encodeEntry(message)]));
    for (const letter of deadLetters) multi.xadd(this.keys.deadLetters, '*', ...encodeDeadLetter(letter));
    for (const lane of PRIORITIES) {
      const ids = acks.filter((entry) => entry.lane === lane).map((entry) => entry.entryId);
      if (ids.length === 0) continue;
      multi.xack(this.keys.lane(lane), this.group, ...ids);
    }
    const droppedIds = new Set(dropped);
    const sending = [
      ...new Set([
        ...deferred.map(({ message }) => message.id),
        ...acks.map((entry) => entry.message.id).filter((id) => !droppedIds.has(id)),
      ]),
    ];
    if (sending.length > 0) multi.hdel(this.keys.sending, ...sending);
    if (dropped.length > 0) multi.hdel(this.keys.cancelled, ...dropped);
    await execOrThrow(multi);
  }

  /** Moves up to `limit` due delayed entries to their lanes; returns how many moved. */
  async promoteDue(now: number = Date.now(), limit = 1000): Promise<number> {
    const { keys } = this;
    return this.redis.commstratPromoteDue(keys.delayed, keys.legacyDelayed, keys.legacyDelayedPayloads, ...keys.lanes, now, limit);
  }

  /**
   * Claims up to `count` new entries per lane (all lanes, or those named) for
   * `consumer`, waiting up to `blockMs` when they are all empty. Entries come back
   * highest priority first. The wait holds the connection: use one for nothing else.
   */
  async claim(consumer: string, count: number, blockMs: number, lanes: readonly Priority[] = PRIORITIES): Promise<LaneEntry[]> {
    const reply = (await this.redis.xreadgroup(
      'GROUP',
      this.group,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...lanes.map((lane) => this.keys.lane(lane)),
      ...lanes.map(() => '>'),
    )) as [string, [string, string[]][]][] | null;
    if (reply === null) return [];
    const entries: LaneEntry[] = [];
    for (const lane of lanes) {
      const stream = reply.find(([key]) => key === this.keys.lane(lane));
      for (const [entryId, fields] of stream?.[1] ?? []) entries.push(toEntry(lane, entryId, fields));
    }
    return entries;
  }

  /**
   * Claims new entries lane by lane, `counts[lane]` at most from each, without waiting,
   * in one round trip. The dispatcher decides the counts (weighted lane selection).
   */
  async claimLanes(consumer: string, counts: Partial<Record<Priority, number>>): Promise<LaneEntry[]> {
    const lanes = PRIORITIES.filter((lane) => (counts[lane] ?? 0) > 0);
    if (lanes.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const lane of lanes) {
      pipeline.xreadgroup('GROUP', this.group, consumer, 'COUNT', counts[lane] ?? 0, 'STREAMS', this.keys.lane(lane), '>');
    }
    const replies = (await execOrThrow(pipeline)) as ([string, [string, string[]][]][] | null)[];
    const entries: LaneEntry[] = [];
    lanes.forEach((lane, i) => {
      for (const [entryId, fields] of replies[i]?.[0]?.[1] ?? []) entries.push(toEntry(lane, entryId, fields));
    });
    return entries;
  }

  /**
   * Removes handled entries from the front of each lane, in two round trips: every entry
   * older than the oldest one still pending (or, none pending, up to the last delivered)
   * is acknowledged. Acks leave entries in the stream because deleting them one by one
   * (XDEL) was the costliest lane operation per message; a trim frees whole stream nodes.
   * Safe with many replicas trimming at once. Returns the entries removed.
   */
  async trimHandled(): Promise<number> {
    const progress = await readLaneProgress(this.redis, this.keys.lanes, this.group);
    const pipeline = this.redis.pipeline();
    let trims = 0;
    PRIORITIES.forEach((lane, i) => {
      const lane_ = progress[i];
      const threshold = lane_ === undefined ? undefined : trimThreshold(lane_);
      if (threshold === undefined) return;
      pipeline.xtrim(this.keys.lane(lane), 'MINID', threshold);
      trims += 1;
    });
    if (trims === 0) return 0;
    return (await execOrThrow(pipeline)).reduce<number>((sum, removed) => sum + Number(removed), 0);
  }

  /**
   * Takes over up to `count` entries that another consumer claimed but has not acked for
   * at least `minIdleMs` (it crashed or hangs), highest priority lane first, and hands
   * them to `consumer`. Each taken entry's idle time restarts, so a second reclaimer does
   * not take it again before another `minIdleMs`. Costs one XAUTOCLAIM per lane, more
   * when a lane has many pending entries (XAUTOCLAIM scans at most 10 × COUNT of them
   * per call); dispatchers run it every few seconds, not per batch.
   *
   * Entries deleted from the stream while pending (trimmed, or deleted by hand) come back
   * as ids only. Redis 7 already drops them from the pending list; we XACK them too (one
   * extra round trip, only when there are any) so that nothing depends on that detail.
   * Requires Redis >= 7.0: 6.2 answers a deleted entry with a bare nil, so it cannot be acked.
   */
  async reclaim(consumer: string, minIdleMs: number, count: number): Promise<LaneEntry[]> {
    const entries: LaneEntry[] = [];
    if (count <= 0) return entries;
    for (const lane of PRIORITIES) {
      let cursor = '0-0';
      do {
        const [next, claimed, deleted = []] = (await this.redis.xautoclaim(
          this.keys.lane(lane),
          this.group,
          consumer,
          minIdleMs,
          cursor,
          'COUNT',
          count - entries.length,
        )) as [string, ([string, string[]] | null)[], string[]?];
        for (const entry of claimed) if (entry !== null) entries.push(toEntry(lane, entry[0], entry[1]));
        if (deleted.length > 0) await this.redis.xack(this.keys.lane(lane), this.group, ...deleted);
        cursor = next;
      } while (cursor !== '0-0' && entries.length < count);
      if (entries.length >= count) break;
    }
    return entries;
  }
}

function toEntry(lane: Priority, entryId: string, fields: readonly string[]): LaneEntry {
  return { lane, entryId, message: decodeStreamEntry(fields) };
}
