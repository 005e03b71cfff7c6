import { PRIORITIES, type Priority, type QueuedMessage } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { DeadLetterStream } from './dead-letters.ts';
import { decodeEntry, decodeLegacyDelayedPayload } from './entry-codec.ts';
import { execOrThrow } from './exec-pipeline.ts';
import type { LaneStatistics } from './lane-statistics.ts';
import { escapeGlob, scanKeys } from './replica-heartbeats.ts';

/** One consumer of a lane's group: entries it holds unacknowledged, and how long it has been idle. */
export interface ConsumerReport {
  readonly name: string;
  readonly pending: number;
  readonly idleMs: number;
}

export interface LaneReport {
  readonly lane: Priority;
  /** Entries not yet handled (waiting + claimed). */
  readonly depth: number;
  /** Age of the oldest entry not yet handled, ms (0: nothing to handle). */
  readonly lagMs: number;
  readonly pending: number;
  readonly consumers: readonly ConsumerReport[];
}

/** When delayed messages fall due, relative to now. */
export const DUE_BUCKETS = ['overdue', '1m', '10m', '1h', 'later'] as const;
export type DueBucket = (typeof DUE_BUCKETS)[number];

export interface DelayedReport {
  readonly total: number;
  /** Exact counts per bucket (ZCOUNT): overdue = due already, 1m = within a minute, ... */
  readonly due: Record<DueBucket, number>;
  /**
   * Per bucket, by why the message waits, read from the payloads of the first
   * `sampled` entries (the soonest due): `retry` (an attempt failed), `scheduled`
   * (send_at or a send window). The payload says nothing finer.
   */
  readonly byReason: Record<DueBucket, Record<string, number>>;
  readonly sampled: number;
}

export interface TokenBucketReport {
  /** `<tenant>/<provider>`. */
  readonly provider: string;
  /** Tokens left at the last take (the bucket refills continuously from then). */
  readonly tokens: number;
  readonly lastTakeAt: Date;
}

const BUCKET_LIMITS_MS: Readonly<Record<Exclude<DueBucket, 'overdue' | 'later'>, number>> = {
  '1m': 60_000,
  '10m': 600_000,
  '1h': 3_600_000,
};

/**
 * Read-only views of the queue for operators (`commstrat inspect`). Every read is
 * bounded — a page size, a sample cap — so inspecting a busy Redis does not stall it.
 */
export class QueueInspector {
  private readonly redis: Redis;
  private readonly lanes: LaneStatistics;

  constructor(redis: Redis, lanes: LaneStatistics) {
    this.redis = redis;
    this.lanes = lanes;
  }

  /** Depth, lag and pending per lane, and each consumer's pending count and idle time (XINFO CONSUMERS). */
  async laneReports(): Promise<LaneReport[]> {
    const [depths, lag] = await Promise.all([this.lanes.depths(), this.lanes.laneLag()]);
    const pipeline = this.redis.pipeline();
    for (const lane of PRIORITIES) pipeline.xinfo('CONSUMERS', this.lanes.keys.lane(lane), this.lanes.group);
    const replies = await pipeline.exec();
    return PRIORITIES.map((lane, i) => {
      const [error, reply] = replies?.[i] ?? [null, []];
      // A lane whose group does not exist yet has no consumers (NOGROUP / no such key).
      const consumers = error ? [] : ((reply ?? []) as unknown[][]).map(toConsumer);
      return { lane, depth: depths[lane], lagMs: lag.ageMs[lane], pending: lag.pending[lane], consumers };
    });
  }

  /**
   * The delayed set by due time and reason; reads at most `sampleLimit` entries. What
   * is still in the 0.1 delayed set (drained by the promoter) is counted with it.
   */
  async delayed(now: number, sampleLimit = 10_000): Promise<DelayedReport> {
    const { keys } = this.lanes;
    const pipeline = this.redis.pipeline();
    for (const key of [keys.delayed, keys.legacyDelayed]) {
      pipeline.zcard(key);
      pipeline.zcount(key, '-inf', now);
      let from = now;
      for (const limit of Object.values(BUCKET_LIMITS_MS)) {
        pipeline.zcount(key, `(${from}`, now + limit);
        from = now + limit;
      }
      pipeline.zrange(key, 0, sampleLimit - 1, 'WITHSCORES');
    }
    const replies = (await execOrThrow(pipeline)) as (number | string[])[];
    const count = (i: number) => Number(replies[i] ?? 0) + Number(replies[i + 6] ?? 0);
    const [total, overdue, m1, m10, h1] = [count(0), count(1), count(2), count(3), count(4)];
    const due: Record<DueBucket, number> = { overdue, '1m': m1, '10m': m10, '1h': h1, later: total - overdue - m1 - m10 - h1 };
    const byReason = Object.fromEntries(DUE_BUCKETS.map((bucket) => [bucket, {}])) as Record<DueBucket, Record<string, number>>;
    const tally = (score: number, reason: string) => {
      const bucket = dueBucket(score - now);
      byReason[bucket][reason] = (byReason[bucket][reason] ?? 0) + 1;
    };
    let sampled = 0;
    const entries = (replies[5] ?? []) as string[];
    for (let i = 0; i + 1 < entries.length; i += 2) {
      tally(Number(entries[i + 1]), delayReason(() => decodeEntry(entries[i] ?? '')));
      sampled += 1;
    }
    // The 0.1 layout: ids in the set, payloads in a hash.
    const legacy = ((replies[11] ?? []) as string[]).slice(0, 2 * Math.max(0, sampleLimit - sampled));
    const ids = legacy.filter((_member, i) => i % 2 === 0);
    const payloads = ids.length === 0 ? [] : await this.redis.hmget(keys.legacyDelayedPayloads, ...ids);
    ids.forEach((_id, i) => {
      const payload = payloads[i] ?? null;
      tally(Number(legacy[2 * i + 1]), payload === null ? 'missing payload' : delayReason(() => decodeLegacyDelayedPayload(payload)));
    });
    return { total, due, byReason, sampled: sampled + ids.length };
  }

  /** Dead letters counted by error code (`unknown`: written before entries carried one); at most `limit` read. */
  async deadLettersByCode(limit = 100_000): Promise<{ total: number; byCode: Record<string, number>; counted: number }> {
    const stream = new DeadLetterStream(this.redis, { prefix: this.lanes.keys.prefix });
    const byCode: Record<string, number> = {};
    let counted = 0;
    let after: string | null = null;
    do {
      const page = await stream.page({ after }, 1000);
      for (const entry of page.entries) byCode[entry.code ?? 'unknown'] = (byCode[entry.code ?? 'unknown'] ?? 0) + 1;
      counted += page.entries.length;
      after = page.nextAfter;
    } while (after !== null && counted < limit);
    return { total: await stream.length(), byCode, counted };
  }

  /** The per-provider token buckets that exist now (an idle bucket expires once full). */
  async tokenBuckets(): Promise<TokenBucketReport[]> {
    const prefix = this.lanes.keys.rateBuckets;
    const keys = (await scanKeys(this.redis, `${escapeGlob(prefix)}*`)).sort();
    return this.tokenBucketsOf(keys.map((key) => key.slice(prefix.length)));
  }

  /**
   * The token buckets of these providers (`<tenant>/<provider>`), in one pipeline and
   * without a SCAN; a provider whose bucket has expired (idle until full) is left out.
   */
  async tokenBucketsOf(providers: readonly string[]): Promise<TokenBucketReport[]> {
    if (providers.length === 0) return [];
    const prefix = this.lanes.keys.rateBuckets;
    const pipeline = this.redis.pipeline();
    for (const provider of providers) pipeline.hmget(`${prefix}${provider}`, 'tokens', 'at');
    const states = (await execOrThrow(pipeline)) as [string | null, string | null][];
    return providers.flatMap((provider, i) => {
      const [tokens, at] = states[i] ?? [null, null];
      if (tokens === null) return [];
      // `at` is Redis's clock in microseconds (take-tokens.lua).
      return [{ provider, tokens: Number(tokens), lastTakeAt: new Date(Math.floor(Number(at ?? 0) / 1000)) }];
    });
  }
}

function toConsumer(fields: unknown[]): ConsumerReport {
  const value = (name: string) => fields[fields.indexOf(name) + 1];
  return { name: String(value('name')), pending: Number(value('pending')), idleMs: Number(value('idle')) };
}

function dueBucket(inMs: number): DueBucket {
  if (inMs <= 0) return 'overdue';
  if (inMs <= BUCKET_LIMITS_MS['1m']) return '1m';
  if (inMs <= BUCKET_LIMITS_MS['10m']) return '10m';
  if (inMs <= BUCKET_LIMITS_MS['1h']) return '1h';
  return 'later';
}

/** Why a delayed entry waits, by its message: `retry` after a failed attempt, else `scheduled`. */
function delayReason(message: () => QueuedMessage): string {
  try {
    return (message().attempts ?? 0) > 0 ? 'retry' : 'scheduled';
  } catch {
    return 'unreadable payload';
  }
}
