import { createHash } from 'node:crypto';
import { ConfigError } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { QueueKeys } from './keys.ts';
import { execOrThrow } from './exec-pipeline.ts';
import { defineLuaCommands } from './lua-commands.ts';


/** Stored value of a key that is reserved but not completed; a completed one is `d<value>`. */
const IN_PROGRESS = 'p';
const DONE = 'd';

export interface IdempotencyStoreOptions {
  /** Prefix of every key. Default `commstrat:`. */
  readonly prefix?: string;
  /** How long a completed key answers duplicates, in seconds. Default 86 400 (24 h). */
  readonly windowSeconds?: number;
  /**
   * How long a reservation holds without `complete` or `release`, in seconds: it frees
   * keys of a process that died mid-request. It must exceed the slowest acceptance
   * (journal write + enqueue), or a retry arriving after it is accepted a second time.
   * Default 30.
   */
  readonly reservationSeconds?: number;
}

/** One idempotency key of one tenant. */
export interface IdempotencyKeyRef {
  readonly tenantId: string;
  readonly key: string;
}

/** What `reserve` found: accept the request (`new`), answer with `value`, or refuse for now. */
export type IdempotencyReservation =
  | { readonly status: 'new' }
  | { readonly status: 'done'; readonly value: string }
  | { readonly status: 'in_progress' };

type RedisWithScripts = Redis & {
  commstratReserveKeys(keyCount: number, ...keysThenTtl: (string | number)[]): Promise<string[]>;
  commstratReleaseKeys(keyCount: number, ...keys: string[]): Promise<number>;
};

/**
 * Idempotency keys: `(tenant, key)` → the response first given for it, kept for a window.
 * Two-phase so that concurrent duplicates cannot both be accepted: `reserve` claims the
 * key (SET NX, short TTL) before the request is journaled, then `complete` stores the
 * response for the window, or `release` frees the key when acceptance failed.
 *
 * Redis key: `${prefix}idem:${encodeURIComponent(tenantId)}:${128-bit SHA-256 of key}`.
 * The escaped tenant id cannot contain `:`, so tenants never share a key; the hash gives
 * any client-chosen key a fixed size. Memory per completed key: the key (~45 bytes +
 * prefix + tenant id), the value, and Redis bookkeeping (dict entry, object headers,
 * expiry entry): ~200 bytes with a ULID tenant and a one-id JSON value (MEMORY USAGE
 * says 168, plus the expiry), so a million keys a day with the 24 h window hold ~200 MB.
 *
 * Each method is one round trip whatever the number of keys; the batch scripts touch many
 * keys, which a single Redis (or one cluster slot) allows. Owns no connection.
 */
export class IdempotencyStore {
  readonly prefix: string;
  private readonly keys: QueueKeys;
  readonly windowSeconds: number;
  readonly reservationSeconds: number;
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, options: IdempotencyStoreOptions = {}) {
    this.keys = new QueueKeys(options.prefix);
    this.prefix = this.keys.prefix;
    this.windowSeconds = checkSeconds('windowSeconds', options.windowSeconds ?? 86_400);
    this.reservationSeconds = checkSeconds('reservationSeconds', options.reservationSeconds ?? 30);
    defineLuaCommands(redis, {
      commstratReserveKeys: { file: 'reserve-keys.lua' },
      commstratReleaseKeys: { file: 'release-keys.lua' },
    });
    this.redis = redis as RedisWithScripts;
  }

  /** The Redis key of one tenant's idempotency key. */
  redisKey(tenantId: string, key: string): string {
    const digest = createHash('sha256').update(key).digest().subarray(0, 16).toString('base64url');
    return this.keys.idempotency(tenantId, digest);
  }

  /**
   * Reserves the key if nobody holds it. The reservation lasts `reservationSeconds`, or
   * the window if that is shorter.
   * @param windowSeconds default the store's `windowSeconds`
   */
  async reserve(tenantId: string, key: string, windowSeconds?: number): Promise<IdempotencyReservation> {
    const [reservation] = await this.reserveMany([{ tenantId, key }], windowSeconds);
    if (reservation === undefined) throw new Error('reserve got no reply for its key');
    return reservation;
  }

  /** `reserve` for many keys, answers in the same order, one round trip. */
  async reserveMany(keys: readonly IdempotencyKeyRef[], windowSeconds?: number): Promise<IdempotencyReservation[]> {
    if (keys.length === 0) return [];
    const window = windowSeconds === undefined ? this.windowSeconds : checkSeconds('windowSeconds', windowSeconds);
    const ttlMs = toMs(Math.min(this.reservationSeconds, window));
    const replies = await this.redis.commstratReserveKeys(
      keys.length,
      ...keys.map(({ tenantId, key }) => this.redisKey(tenantId, key)),
      ttlMs,
    );
    return replies.map(toReservation);
  }

  /**
   * Stores the response of an accepted request for the window, replacing the reservation.
   * Stored even if the reservation had lapsed: the request was accepted, so duplicates
   * must get its answer.
   * @param value what duplicates get back, e.g. the JSON of the message ids
   * @param windowSeconds default the store's `windowSeconds`
   */
  async complete(tenantId: string, key: string, value: string, windowSeconds?: number): Promise<void> {
    await this.completeMany([{ tenantId, key, value }], windowSeconds);
  }

  /** `complete` for many keys, one round trip (pipelined SETs). */
  async completeMany(
    entries: readonly (IdempotencyKeyRef & { readonly value: string })[],
    windowSeconds?: number,
  ): Promise<void> {
    if (entries.length === 0) return;
    const windowMs = toMs(windowSeconds === undefined ? this.windowSeconds : checkSeconds('windowSeconds', windowSeconds));
    const pipeline = this.redis.pipeline();
    for (const { tenantId, key, value } of entries) {
      pipeline.set(this.redisKey(tenantId, key), `${DONE}${value}`, 'PX', windowMs);
    }
    await execOrThrow(pipeline);
  }

  /** Drops a reservation whose request was not accepted, so a retry can be. Keeps a completed key. */
  async release(tenantId: string, key: string): Promise<void> {
    await this.releaseMany([{ tenantId, key }]);
  }

  /** `release` for many keys, one round trip. */
  async releaseMany(keys: readonly IdempotencyKeyRef[]): Promise<void> {
    if (keys.length === 0) return;
    await this.redis.commstratReleaseKeys(keys.length, ...keys.map(({ tenantId, key }) => this.redisKey(tenantId, key)));
  }
}

function toReservation(reply: string): IdempotencyReservation {
  if (reply === 'n') return { status: 'new' };
  if (reply.startsWith(DONE)) return { status: 'done', value: reply.slice(DONE.length) };
  if (reply === IN_PROGRESS) return { status: 'in_progress' };
  throw new Error(`idempotency key holds an unknown value ${JSON.stringify(reply.slice(0, 20))}`);
}

function checkSeconds(path: string, seconds: number): number {
  if (!(Number.isFinite(seconds) && seconds > 0)) {
    throw new ConfigError([{ path, message: `must be a number of seconds > 0, got ${seconds}` }]);
  }
  return seconds;
}

function toMs(seconds: number): number {
  return Math.ceil(seconds * 1000);
}
