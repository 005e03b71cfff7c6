// Redis bytes per queued message: messages enqueued as ingest enqueues them
// (`LaneQueue.enqueueRequest`, one call per request of 1 000) into a prefix of the run,
// then `used_memory` after − before and `MEMORY USAGE` of each key, per message. Once for
// messages due now (the lane streams), once for scheduled ones (the delayed set: a zset
// of ids by due time plus a hash of payloads).
import {
  acceptMessage,
  newId,
  PRIORITIES,
  toQueuedMessage,
  validateMessageRequest,
  type Priority,
} from '@commstrat/core';
import { LaneQueue } from '@commstrat/queue';
import type { Redis } from 'ioredis';
import type { BenchRun } from './bench-run.ts';
import { smsMessage } from './payloads.ts';
import { formatCount, progress, sleep } from './progress.ts';

/** Shares of the lanes, as a tenant mixing OTPs, notifications and promotions would fill them. */
const LANE_MIX: readonly [Priority, number][] = [
  ['critical', 0.02],
  ['high', 0.3],
  ['normal', 0.6],
  ['bulk', 1],
];

export interface KeyBytes {
  readonly key: string;
  readonly type: string;
  readonly entries: number;
  readonly bytes: number;
}

export interface RedisBytesResult {
  readonly case: 'lanes' | 'delayed';
  readonly messages: number;
  /** (used_memory after − before) / messages: includes other users' changes meanwhile. */
  readonly usedMemoryPerMessage: number;
  /** Sum of MEMORY USAGE (SAMPLES 0: every element counted) of the case's keys / messages. */
  readonly keyBytesPerMessage: number;
  readonly keys: readonly KeyBytes[];
  /** Mean length of a lane entry's JSON payload (what the Lua step stores), bytes. */
  readonly payloadBytes: number;
  /** The enqueue guard keys of the requests (`enqueued:<request>`), per message. */
  readonly guardBytesPerMessage: number;
  readonly streamNodeMaxBytes: string | undefined;
  readonly streamNodeMaxEntries: string | undefined;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

async function memoryUsage(redis: Redis, key: string): Promise<number> {
  return Number((await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
}

async function keyBytes(redis: Redis, key: string): Promise<KeyBytes | undefined> {
  const type = await redis.type(key);
  if (type === 'none') return undefined;
  const entries =
    type === 'stream' ? await redis.xlen(key) : type === 'zset' ? await redis.zcard(key) : type === 'hash' ? await redis.hlen(key) : 1;
  return { key, type, entries, bytes: await memoryUsage(redis, key) };
}

async function config(redis: Redis, name: string): Promise<string | undefined> {
  const answer = (await redis.config('GET', name)) as string[];
  return answer[1];
}

export async function measureRedisBytes(
  run: BenchRun,
  kind: 'lanes' | 'delayed',
  messages: number,
  perRequest: number,
): Promise<RedisBytesResult> {
  const prefix = run.redisPrefix(`journal-${kind}`);
  const lanes = new LaneQueue(run.redis, { prefix });
  // Give the allocator a moment, so `before` is not mid-change from the last step.
  await sleep(200);
  const before = await usedMemory(run.redis);
  let payloadBytes = 0;
  const requestIds: string[] = [];
  for (let offset = 0; offset < messages; offset += perRequest) {
    const requestId = newId();
    requestIds.push(requestId);
    const now = new Date();
    const entries = [];
    for (let i = offset; i < Math.min(messages, offset + perRequest); i += 1) {
      const random = ((i * 2_654_435_761) >>> 0) / 0x1_0000_0000;
      const priority = LANE_MIX.find(([, upTo]) => random < upTo)?.[0] ?? 'bulk';
      const sendAt = kind === 'delayed' ? new Date(now.getTime() + 3_600_000 + (i % 86_400) * 1000) : undefined;
      const item = { ...smsMessage(i), priority, ...(sendAt === undefined ? {} : { send_at: sendAt.toISOString() }) };
      const message = acceptMessage(validateMessageRequest(item, now), { id: newId(), tenantId: run.tenant.id, requestId, now });
      const queued = toQueuedMessage(message);
      payloadBytes += Buffer.byteLength(JSON.stringify(queued));
      entries.push({ message: queued, ...(sendAt === undefined ? {} : { dueAt: sendAt.getTime() }) });
    }
    if (!(await lanes.enqueueRequest(requestId, entries))) throw new Error(`request ${requestId} was enqueued twice`);
  }
  const after = await usedMemory(run.redis);
  const keyNames =
    kind === 'lanes' ? PRIORITIES.map((lane) => lanes.laneKey(lane)) : [`${prefix}delayed`, `${prefix}delayed:payload`];
  const keys = (await Promise.all(keyNames.map((key) => keyBytes(run.redis, key)))).filter((k) => k !== undefined);
  const entries = keys.reduce((sum, k) => sum + (k.type === 'zset' ? 0 : k.entries), 0);
  if (entries !== messages) throw new Error(`${kind}: ${String(entries)} entries in Redis for ${String(messages)} messages enqueued`);
  // One guard per request; sampled from the first (they are alike).
  const guardBytes = requestIds.length === 0 ? 0 : await memoryUsage(run.redis, `${prefix}enqueued:${requestIds[0] ?? ''}`);
  const result: RedisBytesResult = {
    case: kind,
    messages,
    usedMemoryPerMessage: (after - before) / messages,
    keyBytesPerMessage: keys.reduce((sum, k) => sum + k.bytes, 0) / messages,
    keys,
    payloadBytes: payloadBytes / messages,
    guardBytesPerMessage: (guardBytes * requestIds.length) / messages,
    streamNodeMaxBytes: await config(run.redis, 'stream-node-max-bytes'),
    streamNodeMaxEntries: await config(run.redis, 'stream-node-max-entries'),
  };
  progress(
    `redis ${kind}: ${formatCount(result.keyBytesPerMessage)} B per message in its keys, ` +
      `${formatCount(result.usedMemoryPerMessage)} B of used_memory, payload ${formatCount(result.payloadBytes)} B`,
  );
  // Free the memory now rather than at the end of the run: the Redis is shared.
  await run.deleteRedisKeys(prefix);
  return result;
}
