import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DependencyUnavailableError, NotFoundError } from '@commstrat/core';
import { MongoInvalidArgumentError, MongoNetworkTimeoutError, MongoServerError, MongoServerSelectionError } from 'mongodb';
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

test('a journal read that fails whatever the retry (a bad value, an argument the driver refuses) is not called unavailable', () => {
  for (const refused of [new MongoServerError({ code: 2, errmsg: 'BadValue: $in needs an array' }), new MongoInvalidArgumentError('Argument "filter" must be an object')]) {
    assert.equal(passed(refused), refused, refused.message);
  }
  for (const transient of [new MongoServerSelectionError('no primary', { type: 'Unknown', servers: new Map() } as never), new MongoServerError({ code: 91, errmsg: 'ShutdownInProgress' })]) {
    assert.ok(passed(transient) instanceof DependencyUnavailableError, transient.message);
  }
});

test('a Redis read that fails is 503 dependency_unavailable', async () => {
  await assert.rejects(
    fromRedis(() => Promise.reject(new Error('Connection is closed.'))),
    (error: unknown) => error instanceof DependencyUnavailableError && error.message === 'queue state (Redis) is unavailable',
  );
});
