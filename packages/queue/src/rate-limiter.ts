import { ConfigError, type FieldProblem } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { QueueKeys } from './keys.ts';
import { defineLuaCommands } from './lua-commands.ts';

/**
 * Share of the per-second rate that the default burst may use. The invariant is "never
 * more than the rate, +5%, in any 1-second window", and a token bucket of capacity C
 * refilled at r per second lets C + r through in a 1-second window (a full bucket, then
 * the refill). So C must stay below 5% of r; the default takes half of that margin and
 * leaves the other half (25 ms of tokens) for what can bunch grants up again before the
 * provider sees them: batch assembly, event-loop pauses, network jitter.
 */
const DEFAULT_BURST_SHARE = 0.025;

export interface ProviderRateLimiterOptions {
  /** Prefix of every key; the bucket is `${prefix}ratelimit:${providerId}`. Default `commstrat:`. */
  readonly prefix?: string;
}

/** What one `take` got. */
export interface TokenGrant {
  /** Tokens granted, 0 to the number requested: send this many messages now. */
  readonly granted: number;
  /** Milliseconds until the next whole token is available; 0 if one is available now. */
  readonly waitMs: number;
}

type RedisWithScripts = Redis & {
  commstratTakeTokens(key: string, rate: number, capacity: number, requested: number): Promise<[number, number]>;
};

/**
 * The default bucket capacity for a provider rate: 2.5% of it, at least 1 token (rates
 * under 40/s). A larger burst would not raise sustained throughput, only the spike after
 * an idle spell, which is what the 1-second-window invariant forbids. With capacity 1 a
 * half-open 1-second window holds at most `ceil(rate)` grants.
 */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(1, Math.floor(ratePerSecond * DEFAULT_BURST_SHARE));
}

/**
 * The per-provider token bucket in Redis that keeps every dispatcher replica together
 * under the provider's configured rate (ARCHITECTURE invariant 5). One Lua call per
 * `take`, one small hash per provider (two fields, ~110 bytes) that expires once the
 * bucket would be full again. Owns no connection.
 *
 * A take grants at most the bucket's whole tokens, so a caller that wants a batch larger
 * than the burst takes several times, waiting `waitMs` in between, and should send what
 * it was granted promptly: tokens held back and sent later in one go recreate the burst
 * the small capacity exists to prevent.
 */
export class ProviderRateLimiter {
  readonly prefix: string;
  private readonly keys: QueueKeys;
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, options: ProviderRateLimiterOptions = {}) {
    this.keys = new QueueKeys(options.prefix);
    this.prefix = this.keys.prefix;
    defineLuaCommands(redis, { commstratTakeTokens: { file: 'take-tokens.lua', numberOfKeys: 1 } });
    this.redis = redis as RedisWithScripts;
  }

  bucketKey(providerId: string): string {
    return this.keys.rateBucket(providerId);
  }

  /**
   * Takes up to `requested` tokens from the provider's bucket, atomically across all
   * replicas. `ratePerSecond` and `burst` come with every call, so a reloaded provider
   * configuration applies from the next take.
   * @param ratePerSecond tokens added per second, > 0 (fractions allowed: 0.5 = one every 2 s)
   * @param burst bucket capacity in tokens, >= 1; default `defaultBurst(ratePerSecond)`
   * @throws ConfigError naming `ratePerSecond` or `burst` when out of range
   * @throws RangeError when `requested` is not a whole number >= 0
   */
  async take(
    providerId: string,
    requested: number,
    ratePerSecond: number,
    burst: number = defaultBurst(ratePerSecond),
  ): Promise<TokenGrant> {
    if (!Number.isInteger(requested) || requested < 0) {
      throw new RangeError(`requested must be a whole number >= 0, got ${requested}`);
    }
    const problems: FieldProblem[] = [];
    if (!(Number.isFinite(ratePerSecond) && ratePerSecond > 0)) {
      problems.push({ path: 'ratePerSecond', message: `must be a number > 0, got ${ratePerSecond}` });
    }
    if (!(Number.isFinite(burst) && burst >= 1)) {
      problems.push({ path: 'burst', message: `must be a number >= 1, got ${burst}` });
    }
    if (problems.length > 0) throw new ConfigError(problems);
    const [granted, waitMs] = await this.redis.commstratTakeTokens(
      this.bucketKey(providerId),
      ratePerSecond,
      burst,
      requested,
    );
    return { granted, waitMs };
  }
}
