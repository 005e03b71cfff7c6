import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { QueueKeys } from './keys.ts';
import { defineLuaCommands } from './lua-commands.ts';

export interface FrequencyCapsOptions {
  /** Prefix of every key; a cap's window is `${prefix}cap:${keyed hash}`. Default `commstrat:`. */
  readonly prefix?: string;
  /**
   * The key of the hash that names a cap's window, shared by every dispatcher replica
   * (replicas with different secrets count apart). Recipient addresses never appear in
   * Redis key names in clear: an unkeyed hash of a phone number is reversed by trying
   * the few billion numbers there are, a keyed one is not without the secret.
   */
  readonly secret: string;
}

/** One message's check against one cap. */
export interface CapCheck {
  /** The message counted (its id), so counting it again (a retry, a resend) is a no-op. */
  readonly messageId: string;
  readonly tenantId: string;
  /** What the window counts: the channel, category and recipient address of the cap. */
  readonly channel: string;
  readonly category: string;
  readonly address: string;
  readonly max: number;
  readonly windowMs: number;
}

/** What came of one message's checks. */
export type CapAnswer =
  | { readonly admitted: true }
  | {
      readonly admitted: false;
      /** When its window lets one more through, ms (the caller's clock). */
      readonly allowedAt: number;
      /** Index, in the message's checks, of the cap that holds it back longest. */
      readonly blocking: number;
    };

type RedisWithScripts = Redis & {
  commstratFrequencyCaps(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>;
};

/**
 * Frequency caps across dispatcher replicas: a sliding-window log per (tenant, channel,
 * category, window length, recipient address) in Redis, checked and counted for a whole
 * batch in one Lua call. Sliding rather than fixed windows, because "3 a day" then holds
 * for every 24 hours, not 3 before midnight and 3 after; it costs one sorted-set entry
 * (about 60 bytes) per message counted, at most `max` per recipient and cap, dropped as
 * they leave the window. Owns no connection.
 */
export class FrequencyCaps {
  readonly prefix: string;
  private readonly keys: QueueKeys;
  private readonly secret: string;
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, options: FrequencyCapsOptions) {
    this.keys = new QueueKeys(options.prefix);
    this.prefix = this.keys.prefix;
    this.secret = options.secret;
    defineLuaCommands(redis, { commstratFrequencyCaps: { file: 'frequency-caps.lua' } });
    this.redis = redis as RedisWithScripts;
  }

  /** The Redis key of a cap's window for one recipient: a keyed hash, no address in clear. */
  windowKey(check: Omit<CapCheck, 'messageId' | 'max'>): string {
    const digest = createHmac('sha256', this.secret)
      .update([check.tenantId, check.channel, check.category, String(check.windowMs), check.address].join('\u0000'))
      .digest('base64url')
      .slice(0, 22); // 132 bits: no two windows meet by chance
    return this.keys.frequencyCap(digest);
  }

  /**
   * Checks each message's caps at `now` (ms) and counts the admitted ones, atomically
   * across replicas: a message is admitted when all of its caps have room, and then
   * counted in all of them. Messages are taken in order, so the earlier of two to one
   * recipient wins the last place. Answers parallel to `messages`.
   */
  async admit(messages: readonly (readonly CapCheck[])[], now: number): Promise<CapAnswer[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [now];
    messages.forEach((checks, index) => {
      for (const check of checks) {
        keys.push(this.windowKey(check));
        args.push(index, check.max, check.windowMs, check.messageId);
      }
    });
    if (keys.length === 0) return messages.map(() => ({ admitted: true }));
    const flat = await this.redis.commstratFrequencyCaps(keys.length, ...keys, ...args);
    // The script answers for the messages with checks, in order.
    let next = 0;
    return messages.map((checks): CapAnswer => {
      if (checks.length === 0) return { admitted: true };
      const allowedAt = Number(flat[next * 2]);
      const blocking = Number(flat[next * 2 + 1]);
      next += 1;
      return blocking === 0 ? { admitted: true } : { admitted: false, allowedAt, blocking: blocking - 1 };
    });
  }
}
