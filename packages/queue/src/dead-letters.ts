import type { QueuedMessage } from '@commstrat/core';
import type { Redis } from 'ioredis';

/** One entry of the dead-letter stream, as `commstrat replay dlq` reads it. */
export interface DeadLetterEntry {
  readonly entryId: string;
  /** When it was dead-lettered: the entry id's millisecond part (Redis's clock). */
  readonly at: Date;
  /** Undefined when the entry's `m` field is missing or not JSON (written by hand): skipped, not fatal. */
  readonly message: QueuedMessage | undefined;
  readonly reason: string;
  /** Absent on entries written before dead letters carried a code. */
  readonly code: string | undefined;
  readonly provider: string | undefined;
}

/** A page of the stream and the id to pass as `after` for the next one (null: the end). */
export interface DeadLetterPage {
  readonly entries: DeadLetterEntry[];
  readonly nextAfter: string | null;
}

/**
 * Reads and removes entries of the dead-letter stream (`<prefix>dlq`, written by the
 * dispatcher through LaneQueue.settle). Owns no connection.
 */
export class DeadLetterStream {
  readonly key: string;
  private readonly redis: Redis;

  constructor(redis: Redis, options: { readonly prefix?: string } = {}) {
    this.redis = redis;
    this.key = `${options.prefix ?? 'commstrat:'}dlq`;
  }

  /**
   * Up to `count` entries in stream order, dead-lettered within [since, until), after the
   * entry `after`: one XRANGE, served by the stream's own id order (ids are times).
   */
  async page(range: { since?: Date | undefined; until?: Date | undefined; after?: string | null }, count: number): Promise<DeadLetterPage> {
    const start = range.after ? `(${range.after}` : range.since === undefined ? '-' : `${range.since.getTime()}-0`;
    // `until` is exclusive: the last id of the millisecond before it.
    const end = range.until === undefined ? '+' : `${range.until.getTime() - 1}-18446744073709551615`;
    const reply = (await this.redis.xrange(this.key, start, end, 'COUNT', count)) as [string, string[]][];
    const entries = reply.map(([entryId, fields]) => toDeadLetter(entryId, fields));
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

function toDeadLetter(entryId: string, fields: readonly string[]): DeadLetterEntry {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i] ?? '', fields[i + 1] ?? '');
  let message: QueuedMessage | undefined;
  try {
    message = JSON.parse(values.get('m') ?? '') as QueuedMessage;
  } catch {
    message = undefined;
  }
  if (typeof message?.id !== 'string' || typeof message.tenant_id !== 'string') message = undefined;
  return {
    entryId,
    at: new Date(Number(entryId.slice(0, entryId.indexOf('-')))),
    message,
    reason: values.get('reason') ?? '',
    code: values.get('code'),
    provider: values.get('provider'),
  };
}
