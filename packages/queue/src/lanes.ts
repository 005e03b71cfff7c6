import { ConfigError, PRIORITIES, type Priority, type QueuedMessage } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { execOrThrow } from './exec-pipeline.ts';
import { laneDepth, readLaneProgress, trimThreshold, type LaneProgress } from './lane-progress.ts';
import { defineLuaCommands } from './lua-commands.ts';


export interface LaneQueueOptions {
  /** Prefix of every key, so tests and tenants of one Redis stay apart. Default `commstrat:`. */
  readonly prefix?: string;
  /** Consumer group shared by all dispatcher replicas. Default `dispatchers`. */
  readonly group?: string;
}

/** A message that exhausted its attempts, as the dead-letter stream keeps it. */
export interface DeadLetterInput {
  readonly message: QueuedMessage;
  /** Why it was given up, in words (the journal's `failed` reason). */
  readonly reason: string;
  /** The error code of the last failure (packages/core ERROR_CODES). */
  readonly code?: string;
  /** The provider it last failed at, `<tenant>/<provider>`; absent when none was available. */
  readonly provider?: string;
}

/** One claimed lane entry: ack it by `lane` and `entryId` once its outcome is recorded. */
export interface LaneEntry {
  readonly lane: Priority;
  readonly entryId: string;
  readonly message: QueuedMessage;
}

type RedisWithScripts = Redis & {
  commstratPromoteDue(...args: (string | number)[]): Promise<number>;
  commstratEnqueueRequest(...args: (string | number)[]): Promise<number>;
  commstratMarkSending(...args: (string | number)[]): Promise<number[]>;
  commstratCancelMessage(...args: (string | number)[]): Promise<number>;
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
    defineLuaCommands(redis, {
      commstratEnqueueRequest: { file: 'enqueue-request.lua', numberOfKeys: 3 + PRIORITIES.length },
      commstratPromoteDue: { file: 'promote-due.lua', numberOfKeys: 2 + PRIORITIES.length },
      commstratMarkSending: { file: 'mark-sending.lua', numberOfKeys: 2 },
      commstratCancelMessage: { file: 'cancel-message.lua', numberOfKeys: 2 },
    });
    this.redis = redis as RedisWithScripts;
  }

  laneKey(lane: Priority): string {
    return `${this.prefix}lane:${lane}`;
  }

  get delayedKey(): string {
    return `${this.prefix}delayed`;
  }

  get delayedPayloadKey(): string {
    return `${this.prefix}delayed:payload`;
  }

  get deadLetterKey(): string {
    return `${this.prefix}dlq`;
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

  /** Hash of the ids of messages a dispatcher is sending (value: when it claimed them, ms). */
  private get sendingKey(): string {
    return `${this.prefix}sending`;
  }

  /** Hash of the ids of cancelled messages not yet dropped by a dispatcher (value: when, ms). */
  private get cancelledKey(): string {
    return `${this.prefix}cancelled`;
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
    const cancelled = await this.redis.commstratMarkSending(this.cancelledKey, this.sendingKey, now, ...messageIds);
    return new Set(cancelled.map((position) => messageIds[position - 1] ?? ''));
  }

  /**
   * Cancels a message unless a dispatcher marked it as being sent: true when cancelled,
   * false when it is on its way to a provider. A cancelled message that is claimed later
   * is acknowledged and never sent, and its marker removed with the ack.
   */
  async cancel(messageId: string, now: number = Date.now()): Promise<boolean> {
    return (await this.redis.commstratCancelMessage(this.sendingKey, this.cancelledKey, messageId, now)) === 1;
  }

  /** Cancels messages whatever their state (withdrawn after a failed enqueue), in one round trip. */
  async forceCancel(messageIds: readonly string[], now: number = Date.now()): Promise<void> {
    if (messageIds.length === 0) return;
    await this.redis.hset(this.cancelledKey, Object.fromEntries(messageIds.map((id) => [id, now])));
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

  /**
   * Appends the messages of one journaled request to their lanes, or to the delayed set
   * when they carry `dueAt`, in one atomic step guarded by a key per request: a second
   * call for the same request enqueues nothing and returns false. The guard lives
   * `guardSeconds` (default 900), about 80 bytes each; the recovery pass must run within
   * that time after a crash to tell "enqueued" from "not enqueued".
   */
  async enqueueRequest(
    requestId: string,
    entries: readonly { message: QueuedMessage; dueAt?: number }[],
    guardSeconds = 900,
  ): Promise<boolean> {
    const args: (string | number)[] = [guardSeconds];
    for (const { message, dueAt } of entries) {
      args.push(laneIndex(message.priority), dueAt ?? '', message.id, JSON.stringify(message));
    }
    const added = await this.redis.commstratEnqueueRequest(
      `${this.prefix}enqueued:${requestId}`,
      this.delayedKey,
      this.delayedPayloadKey,
      ...PRIORITIES.map((lane) => this.laneKey(lane)),
      ...args,
    );
    return added >= 0;
  }

  /** Whether each request's enqueue guard is still there (it was enqueued), in one round trip. */
  async enqueueGuards(requestIds: readonly string[]): Promise<boolean[]> {
    if (requestIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of requestIds) pipeline.exists(`${this.prefix}enqueued:${id}`);
    return (await execOrThrow(pipeline)).map((found) => Number(found) === 1);
  }

  /** Parks messages until `dueAt` (ms since epoch); the promoter moves them to their lane. */
  async defer(entries: readonly { message: QueuedMessage; dueAt: number }[]): Promise<void> {
    await this.settle({ deferred: entries });
  }

  /**
   * Everything a dispatcher does once the outcomes of some entries are journaled, in one
   * MULTI (atomic, one round trip): parks `deferred` messages in the delayed set,
   * appends `deadLetters` to the dead-letter stream, acknowledges `acks` (trimHandled
   * removes them from their streams later, in bulk), clears the sending markers of the
   * messages acked or deferred (a deferred one is cancellable again) and the cancel markers of `dropped` (cancelled
   * messages skipped without sending). Atomic, so a cancel lands either before (the
   * message is still being sent: 409) or after (its cancel marker stays until the
   * message is claimed again), never in between to be wiped by the ack.
   */
  async settle(outcome: {
    readonly deferred?: readonly { message: QueuedMessage; dueAt: number }[];
    readonly deadLetters?: readonly DeadLetterInput[];
    readonly acks?: readonly LaneEntry[];
    readonly dropped?: readonly string[];
  }): Promise<void> {
    const { deferred = [], deadLetters = [], acks = [], dropped = [] } = outcome;
    if (deferred.length + deadLetters.length + acks.length + dropped.length === 0) return;
    const multi = this.redis.multi();
    if (deferred.length > 0) {
      multi.hset(
        this.delayedPayloadKey,
        Object.fromEntries(deferred.map(({ message }) => [message.id, `${laneIndex(message.priority)}|${JSON.stringify(message)}`])),
      );
      multi.zadd(this.delayedKey, ...deferred.flatMap(({ message, dueAt }) => [dueAt, message.id]));
    }
    for (const { message, reason, code, provider } of deadLetters) {
      // `code` and `provider` are what `commstrat replay dlq` filters on; entries written
      // before they existed carry only `m` and `reason`.
      const fields = ['m', JSON.stringify(message), 'reason', reason];
      if (code !== undefined) fields.push('code', code);
      if (provider !== undefined) fields.push('provider', provider);
      multi.xadd(this.deadLetterKey, '*', ...fields);
    }
    for (const lane of PRIORITIES) {
      const ids = acks.filter((entry) => entry.lane === lane).map((entry) => entry.entryId);
      if (ids.length === 0) continue;
      multi.xack(this.laneKey(lane), this.group, ...ids);
    }
    const droppedIds = new Set(dropped);
    const sending = [
      ...new Set([
        ...deferred.map(({ message }) => message.id),
        ...acks.map((entry) => entry.message.id).filter((id) => !droppedIds.has(id)),
      ]),
    ];
    if (sending.length > 0) multi.hdel(this.sendingKey, ...sending);
    if (dropped.length > 0) multi.hdel(this.cancelledKey, ...dropped);
    await execOrThrow(multi);
  }

  /**
   * Brings a message's entry in the delayed set forward to `dueAt` (a cascade timer a
   * receipt made due now); nothing when it has none there (already promoted, or not yet
   * parked: it then comes due at its own time). True when it moved one.
   */
  async advance(messageId: string, dueAt: number): Promise<boolean> {
    return (await this.redis.zadd(this.delayedKey, 'XX', 'CH', dueAt, messageId)) === 1;
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
   * Claims up to `count` new entries per lane (all lanes, or those named) for
   * `consumer`, waiting up to `blockMs` when they are all empty. Entries come back
   * highest priority first. The wait holds the connection: use one for nothing else.
   */
  async claim(
    consumer: string,
    count: number,
    blockMs: number,
    lanes: readonly Priority[] = PRIORITIES,
  ): Promise<LaneEntry[]> {
    const reply = (await this.redis.xreadgroup(
      'GROUP',
      this.group,
      consumer,
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      ...lanes.map((lane) => this.laneKey(lane)),
      ...lanes.map(() => '>'),
    )) as [string, [string, string[]][]][] | null;
    if (reply === null) return [];
    const entries: LaneEntry[] = [];
    for (const lane of lanes) {
      const stream = reply.find(([key]) => key === this.laneKey(lane));
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
      pipeline.xreadgroup('GROUP', this.group, consumer, 'COUNT', counts[lane] ?? 0, 'STREAMS', this.laneKey(lane), '>');
    }
    const replies = (await execOrThrow(pipeline)) as ([string, [string, string[]][]][] | null)[];
    const entries: LaneEntry[] = [];
    lanes.forEach((lane, i) => {
      for (const [entryId, fields] of replies[i]?.[0]?.[1] ?? []) entries.push(toEntry(lane, entryId, fields));
    });
    return entries;
  }

  /**
   * Acknowledges handled entries and clears their sending markers, in one round trip.
   * The caller journals the outcome first, so a cancel that finds no marker afterwards
   * finds the outcome in the journal.
   */
  async ack(entries: readonly LaneEntry[]): Promise<void> {
    await this.settle({ acks: entries });
  }

  /** How far the consumer group got on each lane, in one round trip. */
  private async progress(): Promise<Record<Priority, LaneProgress>> {
    const progress = await readLaneProgress(this.redis, PRIORITIES.map((lane) => this.laneKey(lane)), this.group);
    return byLane((_lane, i) => progress[i] as LaneProgress);
  }

  /**
   * Entries in each lane not yet handled: waiting to be claimed plus claimed and not
   * yet acknowledged (the group's lag + pending; see LaneProgress). One round trip,
   * O(1) per lane for Redis.
   */
  async depths(): Promise<Record<Priority, number>> {
    const progress = await this.progress();
    return byLane((lane) => laneDepth(progress[lane]));
  }

  /**
   * Removes handled entries from the front of each lane, in two round trips: every entry
   * older than the oldest one still pending (or, none pending, up to the last delivered)
   * is acknowledged. Acks leave entries in the stream because deleting them one by one
   * (XDEL) was the costliest lane operation per message; a trim frees whole stream nodes.
   * Safe with many replicas trimming at once. Returns the entries removed.
   */
  async trimHandled(): Promise<number> {
    const progress = await this.progress();
    const pipeline = this.redis.pipeline();
    let trims = 0;
    for (const lane of PRIORITIES) {
      const threshold = trimThreshold(progress[lane]);
      if (threshold === undefined) continue;
      pipeline.xtrim(this.laneKey(lane), 'MINID', threshold);
      trims += 1;
    }
    if (trims === 0) return 0;
    return (await execOrThrow(pipeline)).reduce<number>((sum, removed) => sum + Number(removed), 0);
  }

  /**
   * The lanes whose depth (as `depths()` counts it) is above their cap, highest priority
   * first, in one round trip. (Ingest sheds load on the total of all lanes, from
   * `depths()`; this is for per-lane caps.) The cap is soft: replicas that check at the
   * same moment may each add a batch, so a lane can overshoot by the batches in flight.
   */
  async overCap(caps: Partial<Record<Priority, number>>): Promise<Priority[]> {
    const capped = PRIORITIES.flatMap((lane) => {
      const cap = caps[lane];
      if (cap === undefined) return [];
      if (!Number.isInteger(cap) || cap < 0) {
        throw new ConfigError([{ path: `caps.${lane}`, message: `must be a whole number >= 0, got ${cap}` }]);
      }
      return [{ lane, cap }];
    });
    if (capped.length === 0) return [];
    const depths = await this.depths();
    return capped.filter(({ lane, cap }) => depths[lane] > cap).map(({ lane }) => lane);
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
          this.laneKey(lane),
          this.group,
          consumer,
          minIdleMs,
          cursor,
          'COUNT',
          count - entries.length,
        )) as [string, ([string, string[]] | null)[], string[]?];
        for (const entry of claimed) if (entry !== null) entries.push(toEntry(lane, entry[0], entry[1]));
        if (deleted.length > 0) await this.redis.xack(this.laneKey(lane), this.group, ...deleted);
        cursor = next;
      } while (cursor !== '0-0' && entries.length < count);
      if (entries.length >= count) break;
    }
    return entries;
  }

  /** Entries claimed by some consumer and not yet acked, per lane, in one round trip. */
  async pendingCount(): Promise<Record<Priority, number>> {
    const progress = await this.progress();
    return byLane((lane) => progress[lane].pending);
  }

  /** Lane lag (see `laneLag`) alone. */
  async oldestEntryAgeMs(): Promise<Record<Priority, number>> {
    return (await this.laneLag()).ageMs;
  }

  /**
   * Per lane, how long ago (ms) the oldest entry not yet handled was appended (0 for a
   * lane with nothing to handle), and how many entries are claimed and not yet acked,
   * from one read of the group's progress. The oldest entry is the oldest pending one if
   * any is (delivery is in id order), else the first not yet delivered. Ages are read
   * from the entry id's millisecond part against Redis's own clock (TIME), so a
   * replica's clock skew does not show as lag; two round trips. A delayed or retried
   * message counts from when it (re)entered its lane, not from when it was accepted.
   */
  async laneLag(): Promise<{ ageMs: Record<Priority, number>; pending: Record<Priority, number> }> {
    const [progress, time] = await Promise.all([this.progress(), this.redis.time()]);
    const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const oldest = byLane<string | undefined>((lane) => progress[lane].oldestPendingId ?? undefined);
    const undelivered = PRIORITIES.filter((lane) => oldest[lane] === undefined && laneDepth(progress[lane]) > 0);
    if (undelivered.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const lane of undelivered) {
        const after = progress[lane].lastDeliveredId;
        pipeline.xrange(this.laneKey(lane), after === null ? '-' : `(${after}`, '+', 'COUNT', 1);
      }
      const firsts = (await execOrThrow(pipeline)) as [string, string[]][][];
      undelivered.forEach((lane, i) => (oldest[lane] = firsts[i]?.[0]?.[0]));
    }
    return {
      ageMs: byLane((lane) => {
        const id = oldest[lane];
        return id === undefined ? 0 : Math.max(0, nowMs - entryIdMs(id));
      }),
      pending: byLane((lane) => progress[lane].pending),
    };
  }

  /** Parks messages that exhausted every attempt in the dead-letter stream, with the reason. */
  async deadLetter(entries: readonly DeadLetterInput[]): Promise<void> {
    await this.settle({ deadLetters: entries });
  }

  /** Entries in the dead-letter stream. */
  async deadLetterCount(): Promise<number> {
    return this.redis.xlen(this.deadLetterKey);
  }

  /** Messages waiting in the delayed set. */
  async delayedCount(): Promise<number> {
    return this.redis.zcard(this.delayedKey);
  }
}

/** A lane's number in the delayed set's payloads and the enqueue script: 1 = critical. */
function laneIndex(priority: Priority): number {
  return PRIORITIES.indexOf(priority) + 1;
}

function toEntry(lane: Priority, entryId: string, fields: readonly string[]): LaneEntry {
  return { lane, entryId, message: JSON.parse(fieldValue(fields, 'm')) as QueuedMessage };
}

function fieldValue(fields: readonly string[], name: string): string {
  const index = fields.indexOf(name);
  const value = index >= 0 ? fields[index + 1] : undefined;
  if (value === undefined) throw new Error(`lane entry has no field "${name}"`);
  return value;
}

/** Milliseconds part of a stream entry id (`<ms>-<seq>`): when Redis appended the entry. */
function entryIdMs(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf('-')));
}

function byLane<T>(values: (lane: Priority, index: number) => T): Record<Priority, T> {
  return Object.fromEntries(PRIORITIES.map((lane, i) => [lane, values(lane, i)])) as Record<Priority, T>;
}
