import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_MOVE_CHAIN, followMoves } from './strategy-moves.ts';

test('a version not moved routes by itself', () => {
  assert.deepEqual(followMoves(undefined, 3), { version: 3, hops: 0, broken: false });
  assert.deepEqual(followMoves(new Map([[1, 2]]), 3), { version: 3, hops: 0, broken: false });
});

test('moves chain to the version the last one names', () => {
  assert.deepEqual(followMoves(new Map([[1, 2], [2, 4]]), 1), { version: 4, hops: 2, broken: false });
});

test('a cycle or a chain past the limit leaves the pinned version', () => {
  assert.deepEqual(followMoves(new Map([[1, 2], [2, 1]]), 1), { version: 1, hops: 0, broken: true });
  const long = new Map(Array.from({ length: MAX_MOVE_CHAIN + 1 }, (_, i) => [i + 1, i + 2] as const));
  assert.equal(followMoves(long, 1).broken, true);
  const longest = new Map(Array.from({ length: MAX_MOVE_CHAIN }, (_, i) => [i + 1, i + 2] as const));
  assert.deepEqual(followMoves(longest, 1), { version: MAX_MOVE_CHAIN + 1, hops: MAX_MOVE_CHAIN, broken: false });
});
