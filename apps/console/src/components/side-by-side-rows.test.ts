import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sideBySideRows } from './side-by-side-rows.ts';

const text = (...lines: string[]) => `${lines.join('\n')}\n`;

test('unchanged lines sit on both sides with their own line numbers', () => {
  const rows = sideBySideRows(text('a', 'b'), text('a', 'b'));
  assert.deepEqual(rows.map((r) => [r.kind, r.left, r.right, r.leftNo, r.rightNo]), [
    ['same', 'a', 'a', 1, 1],
    ['same', 'b', 'b', 2, 2],
  ]);
});

test('a replaced run pairs its removed lines with the added ones, the longer side against empty cells', () => {
  const rows = sideBySideRows(text('{', '  "ttl": 300', '}'), text('{', '  "window": 1,', '  "ttl": 900', '}'));
  assert.deepEqual(rows.map((r) => [r.kind, r.left ?? null, r.right ?? null, r.leftNo ?? null, r.rightNo ?? null]), [
    ['same', '{', '{', 1, 1],
    ['changed', '  "ttl": 300', '  "window": 1,', 2, 2],
    ['added', null, '  "ttl": 900', null, 3],
    ['same', '}', '}', 3, 4],
  ]);
});

test('a lone removal or addition is against an empty cell', () => {
  assert.deepEqual(sideBySideRows(text('a', 'b', 'c'), text('a', 'c')).map((r) => r.kind), ['same', 'removed', 'same']);
  assert.deepEqual(sideBySideRows(text('a', 'c'), text('a', 'b', 'c')).map((r) => r.kind), ['same', 'added', 'same']);
});
