import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DependencyUnavailableError, NotFoundError } from '@commstrat/core';
import { MongoNetworkTimeoutError } from 'mongodb';
import { fromRedis, journalUnavailable } from './console-scope.ts';

const passed = (error: unknown): unknown => {
  let seen: unknown;
  journalUnavailable(error, {} as never, {} as never, (next?: unknown) => (seen = next));
  return seen;
};

test('a journal read that times out is 503 dependency_unavailable, not 500; any other error passes unchanged', () => {
  const mapped = passed(new MongoNetworkTimeoutError('connection 7 to 127.0.0.1:37017 timed out'));
  assert.ok(mapped instanceof DependencyUnavailableError);
  assert.equal(mapped.httpStatus, 503);
  const other = new NotFoundError('message');
  assert.equal(passed(other), other);
});

test('a Redis read that fails is 503 dependency_unavailable', async () => {
  await assert.rejects(
    fromRedis(() => Promise.reject(new Error('Connection is closed.'))),
    (error: unknown) => error instanceof DependencyUnavailableError && error.message === 'queue state (Redis) is unavailable',
  );
});
