import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstIdAt, newId } from './ids.ts';

test('ids are ULIDs that sort by creation, random where the time is the same', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => newId(1_800_000_000_000 + Math.floor(i / 100)));
  for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.deepEqual([...ids].sort(), ids, 'in order, also within one millisecond');
  assert.equal(new Set(ids).size, ids.length);
  // The random part of each new millisecond: every one of the 32 symbols shows up.
  const firstOfEachMs = ids.filter((_, i) => i % 100 === 0).map((id) => id.slice(10));
  assert.equal(new Set(firstOfEachMs.join('')).size, 32);
});

test('an id made at a time sorts between the first ids of that millisecond and the next', () => {
  // Later than any id made before in this process: the factory never goes back in time.
  const at = 1_900_000_000_000;
  const id = newId(at + 500);
  assert.ok(firstIdAt(new Date(at)) <= id);
  assert.ok(firstIdAt(new Date(at + 500)) <= id);
  assert.ok(id < firstIdAt(new Date(at + 501)));
});
