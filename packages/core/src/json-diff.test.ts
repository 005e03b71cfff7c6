import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonDiff } from './json-diff.ts';

test('equal values have no differences', () => {
  assert.deepEqual(jsonDiff({ a: [1, { b: null }] }, { a: [1, { b: null }] }), []);
});

test('a changed leaf is named by its JSON pointer, with both values', () => {
  const before = { name: 'otp', steps: [{ ttl_seconds: 300, route: { providers: ['a', 'b'] } }] };
  const after = { name: 'otp', steps: [{ ttl_seconds: 600, route: { providers: ['a', 'c'] } }] };
  assert.deepEqual(jsonDiff(before, after), [
    { path: '/steps/0/route/providers/1', before: 'b', after: 'c' },
    { path: '/steps/0/ttl_seconds', before: 300, after: 600 },
  ]);
});

test('added and removed properties and items carry only the side they are on', () => {
  assert.deepEqual(jsonDiff({ a: 1, list: [1, 2] }, { b: 2, list: [1] }), [
    { path: '/a', before: 1 },
    { path: '/b', after: 2 },
    { path: '/list/1', before: 2 },
  ]);
  assert.deepEqual(jsonDiff({ list: [] }, { list: [{ x: 1 }] }), [{ path: '/list/0', after: { x: 1 } }]);
});

test('a change of type is one difference at that place; names are escaped as RFC 6901 says', () => {
  assert.deepEqual(jsonDiff({ 'a/b~c': [1] }, { 'a/b~c': { 0: 1 } }), [{ path: '/a~1b~0c', before: [1], after: { 0: 1 } }]);
  assert.deepEqual(jsonDiff(1, '1'), [{ path: '', before: 1, after: '1' }]);
});
