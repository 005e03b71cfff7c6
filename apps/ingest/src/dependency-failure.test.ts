import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSON, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import postgres from 'postgres';
import { journalFailure, routingFailure } from './dependency-failure.ts';

function serializerError(value: unknown): unknown {
  try {
    BSON.serialize(value as BSON.Document);
  } catch (error) {
    return error;
  }
  assert.fail('expected the serializer to refuse the value');
}

test('a value the serializer overflows on is the input fault: 422, not retryable', () => {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 0; i < 5000; i += 1) node = node['a'] = {};
  const failure = journalFailure(serializerError(root));
  assert.equal(failure.code, 'input_not_storable');
  assert.equal(failure.httpStatus, 422);
  assert.equal(failure.retryable, false);
});

test('a document the server refuses for its size is the input fault', () => {
  const tooLarge = new MongoServerError({ code: 10334, errmsg: 'BSONObjectTooLarge' });
  assert.equal(journalFailure(tooLarge).code, 'input_not_storable');
});

test('network, server selection and unknown server errors mean the journal is unavailable: retryable', () => {
  for (const cause of [
    new MongoNetworkError('connection reset'),
    new MongoServerSelectionError('no primary', { type: 'Unknown', servers: new Map() } as never),
    new MongoServerError({ code: 91, errmsg: 'ShutdownInProgress' }),
    new Error('something else'),
  ]) {
    const failure = journalFailure(cause);
    assert.equal(failure.code, 'dependency_unavailable', String(cause));
    assert.equal(failure.retryable, true);
  }
});

test('a strategy name PostgreSQL cannot take (class 22 data exception) is 422 at /strategy; other errors are 503', () => {
  // postgres.js builds its error from the server's fields; these are what PostgreSQL sends for a NUL byte.
  const nul = new postgres.PostgresError({ code: '22021', message: 'invalid byte sequence for encoding "UTF8": 0x00' } as never);
  const refused = routingFailure(nul);
  assert.equal(refused.code, 'validation_failed');
  assert.deepEqual(refused.problems.map((p) => p.path), ['/strategy']);
  const down = routingFailure(new postgres.PostgresError({ code: '57P01', message: 'terminating connection' } as never));
  assert.equal(down.code, 'dependency_unavailable');
  assert.equal(routingFailure(new Error('ECONNREFUSED')).code, 'dependency_unavailable');
});
