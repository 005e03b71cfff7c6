import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RETRY_POLICY, retryDelayMs } from './retry.ts';

const policy = { baseDelayMs: 1000, maxDelayMs: 10_000, maxAttempts: 5 };

test('retry delay doubles per attempt and stays within half and all of the ceiling', () => {
  assert.equal(retryDelayMs(1, policy, 0, () => 0), 500);
  assert.equal(retryDelayMs(1, policy, 0, () => 1), 1000);
  assert.equal(retryDelayMs(3, policy, 0, () => 1), 4000);
  assert.equal(retryDelayMs(3, policy, 0, () => 0), 2000);
});

test('retry delay never exceeds the policy maximum', () => {
  assert.equal(retryDelayMs(30, policy, 0, () => 1), 10_000);
});

test('retry delay honours a longer Retry-After from the provider', () => {
  assert.equal(retryDelayMs(1, DEFAULT_RETRY_POLICY, 7000, () => 1), 7000);
});
