import type { QueuedMessage } from '@commstrat/core';
import type { Redis } from 'ioredis';
import { encodeEntry } from './entry-codec.ts';
import { execOrThrow } from './exec-pipeline.ts';
import { QueueKeys } from './keys.ts';
import type { DelayedMessage, LaneQueueOptions } from './lane-options.ts';
import { defineLuaCommands } from './lua-commands.ts';

type RedisWithScripts = Redis & {
  commstratEnqueueRequest(...args: (string | number)[]): Promise<number>;
  commstratCancelMessage(...args: (string | number)[]): Promise<number>;
  commstratAdvanceTimer(...args: (string | number)[]): Promise<number>;
};

/**
 * What puts messages into the lanes and the delayed set, or takes them back before a
 * dispatcher sends them: ingest (intake, the recovery pass, receipts), and the CLI's
 * replay and re-drive. Owns no connection: the caller passes one and closes it.
 */
export class LaneWriter {
  readonly keys: QueueKeys;
  private readonly redis: RedisWithScripts;

  constructor(redis: Redis, options: LaneQueueOptions = {}) {
    this.keys = new QueueKeys(options.prefix);
    defineLuaCommands(redis, {
      commstratEnqueueRequest: { file: 'enqueue-request.lua', numberOfKeys: 2 + this.keys.lanes.length },
      commstratCancelMessage: { file: 'cancel-message.lua', numberOfKeys: 2 },
      commstratAdvanceTimer: { file: 'advance-timer.lua', numberOfKeys: 2 },
    });
    this.redis = redis as RedisWithScripts;
  }

  /**
   * Appends the messages of one journaled batch to their lanes, or to the delayed set
   * when they carry `dueAt`, in one atomic step guarded by a key per batch: a second
   * call for the same batch enqueues nothing and returns false. The guard lives
   * `guardSeconds` (default 900), about 80 bytes each; the recovery pass must run within
   * that time after a crash to tell "enqueued" from "not enqueued".
   */
  async enqueueBatch(batchId: string, entries: readonly { message: QueuedMessage; dueAt?: number }[], guardSeconds = 900): Promise<boolean> {
    const args: (string | number)[] = [guardSeconds];
    for (const { message, dueAt } of entries) args.push(dueAt ?? '', encodeEntry(message));
    const added = await this.redis.commstratEnqueueRequest(this.keys.enqueueGuard(batchId), this.keys.delayed, ...this.keys.lanes, ...args);
    return added >= 0;
  }

  /** Whether each batch's enqueue guard is still there (it was enqueued), in one round trip. */
  async enqueueGuards(batchIds: readonly string[]): Promise<boolean[]> {
    if (batchIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of batchIds) pipeline.exists(this.keys.enqueueGuard(id));
    return (await execOrThrow(pipeline)).map((found) => Number(found) === 1);
  }

  /**
   * Parks messages until their `dueAt`; the promoter moves them to their lane. Clears
   * their sending markers in the same MULTI, as a dispatcher's deferral does: a message
   * waiting in the delayed set can be cancelled. One round trip.
   */
  async defer(entries: readonly DelayedMessage[]): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    multi.zadd(this.keys.delayed, ...entries.flatMap(({ message, dueAt }) => [dueAt, encodeEntry(message)]));
    multi.hdel(this.keys.sending, ...entries.map(({ message }) => message.id));
    await execOrThrow(multi);
  }

  /**
   * Brings a message's cascade timer forward from `expectedDueAt` (when its step's wait
   * ends after the journaled `sent`) to `dueAt`: a timer a receipt made due now. False
   * when none is there at that time (already promoted, or not yet parked: it then comes
   * due at its own time).
   */
  async advanceTimer(messageId: string, expectedDueAt: number, dueAt: number): Promise<boolean> {
    return (await this.redis.commstratAdvanceTimer(this.keys.delayed, this.keys.legacyDelayed, messageId, expectedDueAt, dueAt)) === 1;
  }

  /**
   * Cancels a message unless a dispatcher marked it as being sent: true when cancelled,
   * false when it is on its way to a provider. A cancelled message that is claimed later
   * is acknowledged and never sent, and its marker removed with the ack.
   */
  async cancel(messageId: string, now: number = Date.now()): Promise<boolean> {
    return (await this.redis.commstratCancelMessage(this.keys.sending, this.keys.cancelled, messageId, now)) === 1;
  }

  /** Cancels messages whatever their state (withdrawn after a failed enqueue), in one round trip. */
  async forceCancel(messageIds: readonly string[], now: number = Date.now()): Promise<void> {
    if (messageIds.length === 0) return;
    await this.redis.hset(this.keys.cancelled, Object.fromEntries(messageIds.map((id) => [id, now])));
  }
}
