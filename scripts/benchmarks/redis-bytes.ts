// Redis bytes per queued message: messages enqueued as ingest enqueues them
// (`LaneWriter.enqueueBatch`, one call per batch of 1 000) into a prefix of the run,
// then `used_memory` after − before and `MEMORY USAGE` of each key, per message. Once for
// messages due now (the lane streams), once for scheduled ones (the delayed set: one
// sorted set of encoded entries), and once for the same scheduled messages in the 0.1
// layout (a zset of ids by due time plus a hash of `<lane>|<message JSON>` payloads,
// written here as 0.1's enqueue script wrote them) as the baseline of the same run.
// Then templated messages in the lanes (a two-step cascade, each step's content rendered
// at intake, templated-payloads.ts), against the same texts rendered by the producer.
import {
  acceptMessage,
  newId,
  PRIORITIES,
  toQueuedMessage,
  validateMessageRequest,
  type Priority,
  type QueuedMessage,
} from '@commstrat/core';
import { LaneWriter, QueueKeys, encodeEntry } from '@commstrat/queue';
import type { Redis } from 'ioredis';
import type { BenchRun } from './bench-run.ts';
import { smsMessage } from './payloads.ts';
import { preRenderedMessage, templatedMessage } from './templated-payloads.ts';
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
  readonly case: 'lanes' | 'delayed' | 'delayed-0.1' | 'lanes-templated' | 'lanes-pre-rendered';
  readonly messages: number;
  /** (used_memory after − before) / messages: includes other users' changes meanwhile. */
  readonly usedMemoryPerMessage: number;
  /** Sum of MEMORY USAGE (SAMPLES 0: every element counted) of the case's keys / messages. */
  readonly keyBytesPerMessage: number;
  readonly keys: readonly KeyBytes[];
  /** Mean length of what is stored per message (the encoded entry; 0.1: the message JSON), bytes. */
  readonly payloadBytes: number;
  /** The enqueue guard keys of the batches (`enqueued:<batch>`), per message; none for 0.1's layout here. */
  readonly guardBytesPerMessage: number;
  readonly streamNodeMaxBytes: string | undefined;
  readonly streamNodeMaxEntries: string | undefined;
}

/** 0.1's delayed layout, as its enqueue script wrote it: id → due in a zset, id → `<lane index>|<JSON>` in a hash. */
async function parkAsBefore(redis: Redis, keys: QueueKeys, entries: readonly { message: QueuedMessage; dueAt?: number }[]): Promise<void> {
  const pipeline = redis.pipeline();
  for (const { message, dueAt } of entries) {
    pipeline.hset(keys.legacyDelayedPayloads, message.id, `${PRIORITIES.indexOf(message.priority) + 1}|${JSON.stringify(message)}`);
    pipeline.zadd(keys.legacyDelayed, dueAt ?? 0, message.id);
  }
  await pipeline.exec();
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
  kind: RedisBytesResult['case'],
  messages: number,
  perRequest: number,
): Promise<RedisBytesResult> {
  const prefix = run.redisPrefix(`journal-${kind}`);
  const lanes = new LaneWriter(run.redis, { prefix });
  const keys = new QueueKeys(prefix);
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
      const delayed = kind === 'delayed' || kind === 'delayed-0.1';
      const sendAt = delayed ? new Date(now.getTime() + 3_600_000 + (i % 86_400) * 1000) : undefined;
      const templated = kind === 'lanes-templated' ? templatedMessage(i) : undefined;
      const body = templated?.request ?? (kind === 'lanes-pre-rendered' ? preRenderedMessage(i) : smsMessage(i));
      const item = { ...body, priority, ...(sendAt === undefined ? {} : { send_at: sendAt.toISOString() }) };
      const message = acceptMessage(validateMessageRequest(item, now), {
        id: newId(),
        tenantId: run.tenant.id,
        batchId: requestId,
        now,
        ...(templated === undefined ? {} : { rendered: templated.rendered }),
      });
      const queued = toQueuedMessage(message);
      payloadBytes += Buffer.byteLength(kind === 'delayed-0.1' ? JSON.stringify(queued) : encodeEntry(queued));
      entries.push({ message: queued, ...(sendAt === undefined ? {} : { dueAt: sendAt.getTime() }) });
    }
    if (kind === 'delayed-0.1') await parkAsBefore(run.redis, keys, entries);
    else if (!(await lanes.enqueueBatch(requestId, entries))) throw new Error(`batch ${requestId} was enqueued twice`);
  }
  const after = await usedMemory(run.redis);
  const keyNames =
    kind === 'delayed' ? [keys.delayed] : kind === 'delayed-0.1' ? [keys.legacyDelayed, keys.legacyDelayedPayloads] : keys.lanes;
  const measured = (await Promise.all(keyNames.map((key) => keyBytes(run.redis, key)))).filter((k) => k !== undefined);
  const entries = measured.reduce((sum, k) => sum + (k.type === 'zset' && kind === 'delayed-0.1' ? 0 : k.entries), 0);
  if (entries !== messages) throw new Error(`${kind}: ${String(entries)} entries in Redis for ${String(messages)} messages enqueued`);
  // One guard per request; sampled from the first (they are alike).
  const guardBytes = requestIds.length === 0 || kind === 'delayed-0.1' ? 0 : await memoryUsage(run.redis, keys.enqueueGuard(requestIds[0] ?? ''));
  const result: RedisBytesResult = {
    case: kind,
    messages,
    usedMemoryPerMessage: (after - before) / messages,
    keyBytesPerMessage: measured.reduce((sum, k) => sum + k.bytes, 0) / messages,
    keys: measured,
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
