import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callbackPayloads, nextCallbackAttempt, DEFAULT_CALLBACK_RETRY_POLICY } from './status-callbacks.ts';

const at = new Date('2026-01-01T10:00:00Z');
const message = {
  id: 'm1',
  tenant_id: 'acme',
  batch_id: 'r1',
  timeline: [
    { status: 'accepted' as const, at },
    { status: 'queued' as const, at },
    { status: 'sending' as const, at, provider: 'acme/sms' },
    { status: 'sent' as const, at, provider: 'acme/sms', step: 0 },
    { status: 'next_step' as const, at, reason: 'no receipt within 60 s', step: 1 },
  ],
};

test('every status change but sending is a callback, with a stable event id and the previous reported status', () => {
  const payloads = callbackPayloads(message, 0);
  assert.deepEqual(payloads.map((p) => [p.event_id, p.status, p.previous_status]), [
    ['m1:0', 'accepted', null],
    ['m1:1', 'queued', 'accepted'],
    ['m1:3', 'sent', 'queued'],
    ['m1:4', 'next_step', 'sent'],
  ]);
  assert.equal(payloads[2]?.provider, 'acme/sms');
  assert.equal(payloads[3]?.step, 1);
  assert.equal(payloads[3]?.reason, 'no receipt within 60 s');
  assert.equal(payloads[0]?.at, '2026-01-01T10:00:00.000Z');
  assert.equal(payloads[0]?.batch_id, 'r1');
  assert.equal(payloads[0]?.request_id, 'r1', 'the deprecated alias, until 0.3');
});

test('a relay resuming half-way makes the same callbacks as one that did not stop', () => {
  assert.deepEqual(callbackPayloads(message, 3), callbackPayloads(message, 0).slice(2));
  assert.deepEqual(callbackPayloads(message, 5), []);
});

test('failed callbacks back off exponentially and are abandoned after the last attempt or the maximum age', () => {
  const policy = { ...DEFAULT_CALLBACK_RETRY_POLICY, baseDelayMs: 1000, maxDelayMs: 8000, maxAttempts: 6, maxAgeMs: 60_000 };
  const top = () => 0.999999;
  const delays = [1, 2, 3, 4, 5].map((attempt) => (nextCallbackAttempt(attempt, at, at, policy, 0, top)?.getTime() ?? 0) - at.getTime());
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000]);
  assert.equal(nextCallbackAttempt(6, at, at, policy, 0, top), null);
  const late = new Date(at.getTime() + 59_000);
  assert.equal(nextCallbackAttempt(2, at, late, policy, 0, top), null);
  // The receiver's Retry-After counts.
  assert.equal(nextCallbackAttempt(1, at, at, policy, 30_000, top)?.getTime(), at.getTime() + 30_000);
});
