import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { QueueKeys } from './keys.ts';

/**
 * Remembers signed requests (by a digest of their signature) for their replay window,
 * across every replica: the first sighting wins, a second within the window is a replay.
 * One `SET NX EX` per request. The signature must come in its one spelling (the receipt
 * check refuses any other, e.g. a timestamp with leading zeros): a guard that remembers
 * text is only as good as the rule that one signature has one text.
 */
export class ReplayGuard {
  private readonly redis: Redis;
  private readonly keys: QueueKeys;

  constructor(redis: Redis, options: { prefix?: string } = {}) {
    this.redis = redis;
    this.keys = new QueueKeys(options.prefix);
  }

  /** True the first time `signature` is seen under `scope` within `ttlSeconds`. */
  async firstSighting(scope: string, signature: string, ttlSeconds: number): Promise<boolean> {
    const digest = createHash('sha256').update(signature).digest('base64url');
    const reply = await this.redis.set(this.keys.seen(scope, digest), '1', 'EX', ttlSeconds, 'NX');
    return reply === 'OK';
  }
}
