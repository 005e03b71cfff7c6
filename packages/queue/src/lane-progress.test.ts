import assert from 'node:assert/strict';
import { test } from 'node:test';
import { laneDepth, nextEntryId, trimThreshold, type LaneProgress } from './lane-progress.ts';

const progress = (fields: Partial<LaneProgress>): LaneProgress => ({
  length: 10,
  pending: 0,
  undelivered: 0,
  lastDeliveredId: '0-0',
  oldestPendingId: null,
  ...fields,
});

test('the next entry id counts the sequence up, past what a double holds', () => {
  assert.equal(nextEntryId('1764590000000-0'), '1764590000000-1');
  assert.equal(nextEntryId('1764590000000-18446744073709551614'), '1764590000000-18446744073709551615');
});

test('handled entries are trimmed below the oldest pending one, else up to the last delivered', () => {
  assert.equal(trimThreshold(progress({ pending: 2, oldestPendingId: '5-3', lastDeliveredId: '9-0' })), '5-3');
  assert.equal(trimThreshold(progress({ lastDeliveredId: '9-0' })), '9-1');
  assert.equal(trimThreshold(progress({ lastDeliveredId: '0-0' })), undefined, 'nothing delivered yet');
  assert.equal(trimThreshold(progress({ lastDeliveredId: null })), undefined, 'no group');
});

test('depth is what waits plus what is claimed; without the group count, the stream length', () => {
  assert.equal(laneDepth(progress({ length: 500, undelivered: 7, pending: 3 })), 10);
  assert.equal(laneDepth(progress({ length: 500, undelivered: null, pending: 3 })), 500);
});
