import assert from 'node:assert/strict';
import { test } from 'node:test';
import { structuredDiff } from './structured-diff.ts';

test('equal documents have no changes, whatever their key order', () => {
  assert.deepEqual(structuredDiff({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }), []);
});

test('a changed, added or removed field is one change at its JSON pointer', () => {
  const before = { name: 'otp', steps: [{ ttl_seconds: 300, route: { providers: ['a', 'b'] } }], tags: ['x'] };
  const after = { name: 'otp', steps: [{ ttl_seconds: 600, route: { providers: ['a'] } }], 'a/b~c': true };
  assert.deepEqual(structuredDiff(before, after), [
    { path: '/steps/0/ttl_seconds', before: 300, after: 600 },
    { path: '/steps/0/route/providers/1', before: 'b' },
    { path: '/a~1b~0c', after: true },
    { path: '/tags', before: ['x'] },
  ]);
});

test('a value that changes kind is replaced as a whole', () => {
  assert.deepEqual(structuredDiff({ a: [1] }, { a: { 0: 1 } }), [{ path: '/a', before: [1], after: { 0: 1 } }]);
  assert.deepEqual(structuredDiff({ a: null }, { a: 0 }), [{ path: '/a', before: null, after: 0 }]);
});
