import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommstratError } from './errors.ts';
import { nestingDepth, parseJsonInput } from './json-input.ts';

const limits = { maxBytes: 1_000_000, maxDepth: 8 };
const bytes = (text: string) => Buffer.from(text, 'utf8');
const failure = (input: Uint8Array, options = limits): { code: string; message: string; path?: string } => {
  try {
    parseJsonInput(input, options);
  } catch (error) {
    assert.ok(error instanceof CommstratError, `expected a CommstratError, got ${String(error)}`);
    assert.equal(error.retryable, false, 'bad input is never worth retrying');
    return { code: error.code, message: error.message, ...(error.problems[0] ? { path: error.problems[0].path } : {}) };
  }
  assert.fail('expected the input to be refused');
};

test('good JSON parses to its value, UTF-8 text intact', () => {
  assert.deepEqual(parseJsonInput(bytes('{"text":"Привет, 世界 😀","n":[1,{"a":[]}]}'), limits), {
    text: 'Привет, 世界 😀',
    n: [1, { a: [] }],
  });
  assert.deepEqual(parseJsonInput(bytes('"\\ud83d\\ude00"'), limits), '😀', 'an escaped surrogate pair is fine');
});

test('nesting deeper than the limit is refused before parsing, however deep', () => {
  const deep = (levels: number) => `${'{"a":['.repeat(levels)}1${']}'.repeat(levels)}`;
  assert.equal(nestingDepth(bytes(deep(4))), 8);
  assert.doesNotThrow(() => parseJsonInput(bytes(deep(4)), limits));
  assert.equal(failure(bytes(deep(5))).code, 'nesting_too_deep');
  // Far past what anything recursive survives: still a clean 4xx, no stack overflow.
  assert.equal(failure(bytes(deep(200_000)), { maxBytes: 10_000_000, maxDepth: 32 }).code, 'nesting_too_deep');
  assert.equal(failure(bytes('['.repeat(100_000)), { maxBytes: 10_000_000, maxDepth: 32 }).code, 'nesting_too_deep');
});

test('brackets and quotes inside strings do not count as nesting', () => {
  assert.equal(nestingDepth(bytes('{"t":"[[[[{{{{\\"[[[["}')), 1);
  assert.equal(nestingDepth(bytes('["\\\\",["x"]]')), 2, 'an escaped backslash ends before the quote');
});

test('invalid UTF-8 bytes are refused with the offset of the first one, not replaced', () => {
  const prefix = bytes('{"content":{"text":"ab');
  const invalid = Buffer.concat([prefix, Buffer.from([0xff, 0xfe]), bytes('"}}')]);
  const { code, message } = failure(invalid);
  assert.equal(code, 'invalid_encoding');
  assert.match(message, new RegExp(`offset ${prefix.length}\\)`));
  // An overlong encoding of "/" and a UTF-8-encoded surrogate are not valid UTF-8 either.
  assert.equal(failure(Buffer.concat([bytes('"'), Buffer.from([0xc0, 0xaf]), bytes('"')])).code, 'invalid_encoding');
  assert.equal(failure(Buffer.concat([bytes('"'), Buffer.from([0xed, 0xa0, 0x80]), bytes('"')])).code, 'invalid_encoding');
  // Latin-1 text sent as if it were UTF-8.
  assert.equal(failure(Buffer.from('{"text":"café"}', 'latin1')).code, 'invalid_encoding');
});

test('a lone surrogate escape is refused with the path of its string', () => {
  assert.deepEqual(failure(bytes('{"content":{"text":"x\\ud800y"}}')).path, '/content/text');
  assert.deepEqual(failure(bytes('{"tags":["ok","\\udc00"]}')).path, '/tags/1');
  assert.equal(failure(bytes('{"\\ud800":1}')).code, 'invalid_encoding');
  assert.doesNotThrow(() => parseJsonInput(bytes('{"text":"\\\\ud800"}'), limits), 'an escaped backslash, not a surrogate');
});

test('size and syntax errors keep their own codes', () => {
  assert.equal(failure(bytes(`"${'x'.repeat(100)}"`), { maxBytes: 50, maxDepth: 8 }).code, 'payload_too_large');
  assert.equal(failure(bytes('{"channel":')).code, 'malformed_json');
  assert.equal(failure(bytes('')).code, 'malformed_json');
});
