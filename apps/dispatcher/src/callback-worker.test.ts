import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CALLBACK_RETRY_POLICY, type CallbackPayload } from '@commstrat/core';
import type { CallbackRecord, CallbackStore } from '@commstrat/journal';
import { callbackMetrics, createRegistry, type Logger } from '@commstrat/observability';
import type { ProviderRateLimiter } from '@commstrat/queue';
import { CallbackWorker } from './callback-worker.ts';

const NOW = Date.UTC(2026, 11, 2, 6, 0, 0);

function record(seq: number, extra: Partial<CallbackRecord> = {}): CallbackRecord {
  return {
    _id: `m1:${seq}`,
    tenant_id: 'acme',
    message_id: 'm1',
    seq,
    payload: {} as CallbackPayload,
    state: 'pending',
    created_at: new Date(NOW),
    next_attempt_at: new Date(NOW),
    attempts: [],
    ...extra,
  };
}

/**
 * The second callback of a message is claimed while the first is in flight. The first
 * wakes the later ones when it is recorded, but not one another replica attempt holds:
 * so the second must look again after a poll, not sleep until the first one's lease
 * (the POST timeout + 10 s) runs out.
 */
test('a callback claimed while the one before it is in flight looks again after a poll, not after that lease', async () => {
  const released: Date[] = [];
  let claims = 0;
  const store = {
    relay: () => Promise.resolve({ messages: 0, callbacks: 0 }),
    claim: () => Promise.resolve(claims++ === 0 ? record(2, { lease: 'mine' }) : null),
    earlierPending: () => Promise.resolve(record(1, { lease: 'other replica', next_attempt_at: new Date(NOW + 15_000) })),
    release: (_record: CallbackRecord, at: Date) => {
      released.push(at);
      return Promise.resolve();
    },
    pendingCount: () => Promise.resolve(0),
  } as unknown as CallbackStore;
  const logger = { warn: () => undefined, info: () => undefined, error: () => undefined } as unknown as Logger;
  const worker = new CallbackWorker({
    store,
    targets: { targetOf: () => Promise.reject(new Error('not reached: the callback waits for the one before it')) },
    rateLimiter: {} as ProviderRateLimiter,
    metrics: callbackMetrics(createRegistry('test'), () => Promise.resolve(0)),
    logger,
    policy: DEFAULT_CALLBACK_RETRY_POLICY,
    timeoutMs: 5000,
    concurrency: 4,
    tenantConcurrency: 4,
    tenantRatePerSecond: 50,
    pollMs: 200,
    http: { post: () => Promise.reject(new Error('not reached')), close: () => undefined },
    clock: () => NOW,
  });
  worker.start();
  while (released.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await worker.stop();
  assert.equal(released[0]?.getTime(), NOW + 200);
});
