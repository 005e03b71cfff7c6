import type { Redis } from 'ioredis';
import { decodeDeadLetter } from './entry-codec.ts';
import { QueueKeys } from './keys.ts';
import type { DeadLetterEntry } from './lane-options.ts';

export type { DeadLetterEntry } from './lane-options.ts';

/** A page of the stream and the id to pass as `after` for the next one (null: the end). */
export interface DeadLetterPage {
  readonly entries: DeadLetterEntry[];
  readonly nextAfter: string | null;
}

/**
 * Reads and removes entries of the dead-letter stream (`<prefix>dlq`, written by the
 * dispatcher through LaneReader.settle; entries in either format of entry-codec.ts).
 * Owns no connection.
 */
/** Largest part of a stream entry id (`<ms>-<seq>`, each an unsigned 64-bit integer). */
const MAX_ID_PART = 18_446_744_073_709_551_615n;

/** Whether `text` is an entry id Redis takes as an XRANGE bound: a page's `nextAfter` always is. */
export function isStreamEntryId(text: string): boolean {
  const match = /^(\d{1,20})-(\d{1,20})$/.exec(text);
  return match !== null && BigInt(match[1]!) <= MAX_ID_PART && BigInt(match[2]!) <= MAX_ID_PART;
}

export class DeadLetterStream {
  readonly key: string;
  private readonly redis: Redis;

  constructor(redis: Redis, options: { readonly prefix?: string } = {}) {
    this.redis = redis;
    this.key = new QueueKeys(options.prefix).deadLetters;
  }

  /**
   * Up to `count` entries in stream order, dead-lettered within [since, until), after the
   * entry `after`: one XRANGE, served by the stream's own id order (ids are times).
   */
  async page(range: { since?: Date | undefined; until?: Date | undefined; after?: string | null }, count: number): Promise<DeadLetterPage> {
    // Entry ids are milliseconds since the epoch: none is older, and Redis refuses a
    // negative id, so a bound before 1970 is "from the start" or "nothing".
    if (range.until !== undefined && range.until.getTime() <= 0) return { entries: [], nextAfter: null };
    const start = range.after ? `(${range.after}` : range.since === undefined || range.since.getTime() <= 0 ? '-' : `${range.since.getTime()}-0`;
    // `until` is exclusive: the last id of the millisecond before it.
    const end = range.until === undefined ? '+' : `${range.until.getTime() - 1}-18446744073709551615`;
    const reply = (await this.redis.xrange(this.key, start, end, 'COUNT', count)) as [string, string[]][];
    const entries = reply.map(([entryId, fields]) => decodeDeadLetter(entryId, fields));
    return { entries, nextAfter: reply.length < count ? null : (reply.at(-1)?.[0] ?? null) };
  }

  /** Removes entries once replayed; how many were still there. */
  async remove(entryIds: readonly string[]): Promise<number> {
    if (entryIds.length === 0) return 0;
    return this.redis.xdel(this.key, ...entryIds);
  }

  async length(): Promise<number> {
    return this.redis.xlen(this.key);
  }
}
