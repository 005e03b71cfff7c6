import type { Receipt } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { QueueKeys } from './keys.ts';

/** A receipt that named no message yet, with the provider it came from. */
export interface ParkedReceipt {
  readonly tenant: string;
  readonly provider: string;
  readonly receipt: Receipt;
  /** When it arrived, ms. */
  readonly at: number;
}

/**
 * Receipts that arrived before their message's `sent` was journaled (a fast provider
 * reports while the batch's outcome is still being written), kept in one Redis sorted set
 * by arrival time until the journal knows the message, shared by every ingest replica.
 */
export class ParkedReceipts {
  private readonly redis: Redis;
  private readonly key: string;

  constructor(redis: Redis, options: { prefix?: string } = {}) {
    this.redis = redis;
    this.key = new QueueKeys(options.prefix).parkedReceipts;
  }

  async park(receipts: readonly ParkedReceipt[]): Promise<void> {
    if (receipts.length === 0) return;
    await this.redis.zadd(this.key, ...receipts.flatMap((parked) => [parked.at, JSON.stringify(parked)]));
  }

  /** The oldest parked receipts, at most `limit`. */
  async oldest(limit: number): Promise<ParkedReceipt[]> {
    const members = await this.redis.zrange(this.key, 0, limit - 1);
    return members.map((member) => JSON.parse(member) as ParkedReceipt);
  }

  async remove(receipts: readonly ParkedReceipt[]): Promise<void> {
    if (receipts.length === 0) return;
    await this.redis.zrem(this.key, ...receipts.map((parked) => JSON.stringify(parked)));
  }

  async count(): Promise<number> {
    return this.redis.zcard(this.key);
  }
}
