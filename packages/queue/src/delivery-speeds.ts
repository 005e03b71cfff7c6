import { deliveryBucketMs, type DeliveryCounts, type DeliveryWeightState } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { defineLuaCommands } from './lua-commands.ts';
import { QueueKeys } from './keys.ts';

type DeliveriesRedis = Redis & {
  recordDeliveries(key: string, ttlMs: number, oldest: number, maxFields: number, ...triples: (string | number)[]): Promise<number>;
};

/** One delivered receipt of a provider: when it came and whether it came late. */
export interface DeliverySample {
  readonly at: number;
  readonly late: boolean;
}

/** What a dispatcher reads of one provider: its bucket counts, and the weight state the dispatchers share. */
export interface ProviderDeliveries {
  readonly buckets: ReadonlyMap<number, DeliveryCounts>;
  readonly state: DeliveryWeightState | undefined;
}

export interface DeliverySpeedsOptions {
  readonly prefix?: string;
  /** The window late shares are taken over, ms (sizes the buckets and how long they are kept). */
  readonly windowMs: number;
}

/**
 * How fast each provider delivers, shared by every replica: ingest counts each delivered
 * receipt (and whether it came late) into its provider's time buckets, one Lua call per
 * provider of a receipt request; every dispatcher reads the buckets of the providers it
 * routes to in one pipeline, and shares the weight it derives (so replicas ramp a
 * recovering provider up together, and a new replica starts where the others are).
 * A provider costs one hash of at most about 80 small fields, and one short string.
 */
export class DeliverySpeeds {
  private readonly redis: DeliveriesRedis;
  private readonly keys: QueueKeys;
  private readonly windowMs: number;
  private readonly bucketMs: number;

  constructor(redis: Redis, options: DeliverySpeedsOptions) {
    defineLuaCommands(redis, { recordDeliveries: { file: 'record-deliveries.lua', numberOfKeys: 1 } });
    this.redis = redis as DeliveriesRedis;
    this.keys = new QueueKeys(options.prefix);
    this.windowMs = options.windowMs;
    this.bucketMs = deliveryBucketMs(options.windowMs);
  }

  /** Counts a provider's delivered receipts into their buckets (one atomic step). */
  async record(provider: string, samples: readonly DeliverySample[], now: number = Date.now()): Promise<void> {
    if (samples.length === 0) return;
    const byBucket = new Map<number, { delivered: number; late: number }>();
    for (const { at, late } of samples) {
      const bucket = at - (at % this.bucketMs);
      const counts = byBucket.get(bucket) ?? { delivered: 0, late: 0 };
      counts.delivered += 1;
      if (late) counts.late += 1;
      byBucket.set(bucket, counts);
    }
    const triples = [...byBucket].flatMap(([bucket, { delivered, late }]) => [bucket, delivered, late]);
    const oldest = now - this.windowMs - this.bucketMs;
    // A window of buckets, two fields each, and a few to spare before the old ones go.
    const maxFields = 2 * (Math.ceil(this.windowMs / this.bucketMs) + 10);
    await this.redis.recordDeliveries(this.keys.deliveries(provider), 2 * this.windowMs, oldest, maxFields, ...triples);
  }

  /** The bucket counts and shared weight state of each provider, in one round trip. */
  async read(providers: readonly string[]): Promise<Map<string, ProviderDeliveries>> {
    const found = new Map<string, ProviderDeliveries>();
    if (providers.length === 0) return found;
    const pipeline = this.redis.pipeline();
    for (const provider of providers) {
      pipeline.hgetall(this.keys.deliveries(provider));
      pipeline.get(this.keys.deliveryWeight(provider));
    }
    const replies = (await pipeline.exec()) ?? [];
    providers.forEach((provider, i) => {
      const [hashError, hash] = replies[2 * i] ?? [null, {}];
      const [stateError, state] = replies[2 * i + 1] ?? [null, null];
      if (hashError !== null) throw hashError;
      if (stateError !== null) throw stateError;
      found.set(provider, { buckets: bucketsOf(hash as Record<string, string>), state: stateOf(state as string | null) });
    });
    return found;
  }

  /** Shares the dispatchers' weight states (kept a window and a half after the last write). */
  async saveStates(states: ReadonlyMap<string, DeliveryWeightState>): Promise<void> {
    if (states.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [provider, { weight, at }] of states) {
      pipeline.set(this.keys.deliveryWeight(provider), `${weight}:${at}`, 'PX', Math.ceil(1.5 * this.windowMs));
    }
    const replies = (await pipeline.exec()) ?? [];
    for (const [error] of replies) if (error !== null) throw error;
  }
}

function bucketsOf(hash: Readonly<Record<string, string>>): Map<number, DeliveryCounts> {
  const buckets = new Map<number, { delivered: number; late: number }>();
  for (const [field, value] of Object.entries(hash)) {
    const match = /^(\d+):([dl])$/.exec(field);
    if (match === null) continue;
    const start = Number(match[1]);
    const counts = buckets.get(start) ?? { delivered: 0, late: 0 };
    if (match[2] === 'd') counts.delivered = Number(value);
    else counts.late = Number(value);
    buckets.set(start, counts);
  }
  return buckets;
}

function stateOf(text: string | null): DeliveryWeightState | undefined {
  const match = text === null ? null : /^([0-9.]+):(\d+)$/.exec(text);
  if (match === null) return undefined;
  const weight = Number(match[1]);
  return weight >= 0 && weight <= 1 ? { weight, at: Number(match[2]) } : undefined;
}
