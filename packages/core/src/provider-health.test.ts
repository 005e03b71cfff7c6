import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  countsInWindow,
  deliveryBucketMs,
  isLateDelivery,
  lateDeliveryWeight,
  lateShare,
  nextDeliveryWeight,
  providerHealthWeight,
} from './provider-health.ts';

const MINUTE = 60_000;

test('a delivery is late from 5 minutes after the send by default, or from the configured time', () => {
  assert.equal(isLateDelivery(0, 5 * MINUTE - 1), false);
  assert.equal(isLateDelivery(0, 5 * MINUTE), true);
  assert.equal(isLateDelivery(0, 1500, { lateAfterMs: 1000 }), true);
});

test('up to 15 % late keeps the full weight; beyond, the weight falls to its floor at twice that', () => {
  assert.equal(lateDeliveryWeight(0), 1);
  assert.equal(lateDeliveryWeight(0.15), 1);
  assert.ok(Math.abs(lateDeliveryWeight(0.225) - 0.55) < 1e-9);
  assert.ok(Math.abs(lateDeliveryWeight(0.3) - 0.1) < 1e-9);
  assert.equal(lateDeliveryWeight(0.9), 0.1);
  // Both numbers are settings.
  assert.equal(lateDeliveryWeight(0.3, { maxLateShare: 0.3 }), 1);
  assert.equal(lateDeliveryWeight(1, { minWeight: 0.25 }), 0.25);
  assert.equal(lateDeliveryWeight(undefined), 1, 'too few receipts say nothing');
});

test('the late share counts the buckets of the window only, and needs enough receipts', () => {
  const now = 100 * MINUTE;
  const buckets = new Map([
    [now - 20 * MINUTE, { delivered: 100, late: 100 }], // out of the 15-minute window
    [now - 10 * MINUTE, { delivered: 60, late: 15 }],
    [now - MINUTE, { delivered: 40, late: 15 }],
  ]);
  const counts = countsInWindow(buckets, now, 15 * MINUTE);
  assert.deepEqual(counts, { delivered: 100, late: 30 });
  assert.equal(lateShare(counts), 0.3);
  assert.equal(lateShare({ delivered: 19, late: 19 }), undefined);
  assert.equal(lateShare({ delivered: 19, late: 19 }, { minReceipts: 5 }), 1);
  assert.equal(deliveryBucketMs(15 * MINUTE), 30_000);
  assert.equal(deliveryBucketMs(6000), 1000);
});

test('a slow provider loses its weight at once and gets it back gradually over the recovery time', () => {
  const slow = { delivered: 100, late: 50 };
  const fast = { delivered: 100, late: 0 };
  const down = nextDeliveryWeight({ weight: 1, at: 0 }, slow, 1000);
  assert.ok(Math.abs(down.weight - 0.1) < 1e-9, 'falls at once');
  // On time again: a tenth of the way per tenth of the recovery time, never past its target.
  const half = nextDeliveryWeight(down, fast, 1000 + 5 * MINUTE);
  assert.ok(Math.abs(half.weight - 0.55) < 1e-9, `half-way: ${half.weight}`);
  const steps = [1, 2, 3].map((i) => nextDeliveryWeight(down, fast, 1000 + i * MINUTE).weight);
  assert.ok(steps[0]! < steps[1]! && steps[1]! < steps[2]!, `climbs: ${steps.join(', ')}`);
  assert.equal(nextDeliveryWeight(half, fast, 1000 + 10 * MINUTE).weight, 1);
  // Still late for a fifth: the weight climbs only to what that share allows.
  const someLate = { delivered: 100, late: 20 };
  assert.ok(Math.abs(nextDeliveryWeight(down, someLate, 1000 + 60 * MINUTE).weight - lateDeliveryWeight(0.2)) < 1e-9);
  // Without a state (a new replica, an expired key): what the share calls for.
  assert.equal(nextDeliveryWeight(undefined, fast, 0).weight, 1);
});

test('health falls with the error ratio and ramps up after the circuit closed again', () => {
  assert.equal(providerHealthWeight({ circuit: 'open', errorRatio: 0 }), 0);
  assert.equal(providerHealthWeight({ circuit: 'closed', errorRatio: 0.25 }), 0.5);
  assert.ok(Math.abs(providerHealthWeight({ circuit: 'closed', errorRatio: 0, closedForMs: 30_000 }) - 0.55) < 1e-9);
});
