import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSON, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { journalFailure } from './journal-failure.ts';

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
