import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBatchEnvelope } from './batch-envelope.ts';
import { BatchTooLargeError, ValidationError } from './errors.ts';

const problemsOf = (body: unknown): string[] => {
  try {
    parseBatchEnvelope(body, 3);
  } catch (error) {
    if (error instanceof ValidationError) return error.problems.map((p) => `${p.path}: ${p.message}`).sort();
    throw error;
  }
  return [];
};

test('an envelope gives its messages as sent and whether it is atomic', () => {
  const messages = [{ a: 1 }, 'not checked here'];
  assert.deepEqual(parseBatchEnvelope({ messages }, 3), { messages, atomic: false });
  assert.deepEqual(parseBatchEnvelope({ messages, atomic: true }, 3), { messages, atomic: true });
});

test('every bad field of an envelope is named', () => {
  assert.deepEqual(problemsOf({ message: [] }), ['/message: is not an allowed property', '/messages: is required']);
  assert.deepEqual(problemsOf({ messages: [] }), ['/messages: must NOT have fewer than 1 items']);
  assert.deepEqual(problemsOf({ messages: {}, atomic: 'yes' }), ['/atomic: must be boolean', '/messages: must be array']);
  assert.deepEqual(problemsOf([1]), [': must be object']);
});

test('more messages than allowed is its own error', () => {
  assert.throws(() => parseBatchEnvelope({ messages: [1, 2, 3, 4] }, 3), BatchTooLargeError);
});
