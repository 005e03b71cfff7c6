import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommstratError } from '@commstrat/core';
import type { KafkaMessage } from 'kafkajs';
import { everyItemRejected, headerCount, headerText, parseRecordValue, recordBatchId, rejectedRecord } from './kafka-records.ts';

const limits = { maxBytes: 1024, maxDepth: 8, maxBatchMessages: 2 };
const parse = (value: string | null) => parseRecordValue(value === null ? null : Buffer.from(value), limits);
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    if (error instanceof CommstratError) return `${error.code} ${error.problems[0]?.path ?? ''}`.trim();
    throw error;
  }
  return 'no error';
};

test('a record value is one message unless it has a messages property', () => {
  const message = { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' } };
  assert.deepEqual(parse(JSON.stringify(message)), { items: [message], atomic: true, body: message });
  const envelope = { messages: [message, message], atomic: true };
  assert.deepEqual(parse(JSON.stringify(envelope)), { items: [message, message], atomic: true, body: envelope });
  assert.equal(parse(JSON.stringify({ messages: [message] })).atomic, false);
});

test('a record value that is not a message or a valid envelope gets the error REST would answer', () => {
  assert.equal(codeOf(() => parse(null)), 'malformed_json');
  assert.equal(codeOf(() => parse('{"channel":')), 'malformed_json');
  assert.equal(codeOf(() => parse('[1]')), 'validation_failed');
  assert.equal(codeOf(() => parse('"text"')), 'validation_failed');
  assert.equal(codeOf(() => parse(JSON.stringify({ messages: [] }))), 'validation_failed /messages');
  assert.equal(codeOf(() => parse(JSON.stringify({ messages: {} }))), 'validation_failed /messages');
  assert.equal(codeOf(() => parse(JSON.stringify({ messages: [{}], atomic: 'yes' }))), 'validation_failed /atomic');
  assert.equal(codeOf(() => parse(JSON.stringify({ messages: [{}], extra: 1 }))), 'validation_failed /extra');
  assert.equal(codeOf(() => parse(JSON.stringify({ messages: [{}, {}, {}] }))), 'batch_too_large /messages');
  assert.equal(codeOf(() => parse(`"${'x'.repeat(2000)}"`)), 'payload_too_large');
  assert.equal(codeOf(() => parse(`${'['.repeat(9)}${']'.repeat(9)}`)), 'nesting_too_deep');
  const badText = Buffer.concat([Buffer.from('{"content":{"text":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
  assert.equal(codeOf(() => parseRecordValue(badText, limits)), 'invalid_encoding');
});

test('the batch id of a record is its place in the log', () => {
  assert.equal(recordBatchId({ topic: 'commstrat.messages', partition: 3, offset: '42' }), 'kafka:commstrat.messages:3:42');
});

test('headers are read case-insensitively, first value of a repeated header', () => {
  assert.equal(headerText({ 'X-Api-Key': Buffer.from('k1') }, 'x-api-key'), 'k1');
  assert.equal(headerText({ 'x-api-key': ['k1', 'k2'] }, 'x-api-key'), 'k1');
  assert.equal(headerText({}, 'x-api-key'), undefined);
  assert.equal(headerText(undefined, 'x-api-key'), undefined);
});

const original: KafkaMessage = {
  key: Buffer.from('k'),
  value: Buffer.from('{"messages":[{"a":1}]}'),
  headers: { 'X-Api-Key': Buffer.from('secret'), 'trace-id': Buffer.from('t1') },
  timestamp: '0',
  attributes: 0,
  offset: '7',
};
const source = { topic: 'in', partition: 1, offset: '7' };

test('a rejected record keeps the original key, value and headers, minus the API key, plus why and where from', () => {
  const record = rejectedRecord(original, source, { code: 'malformed_json', message: 'request body is not valid JSON' });
  assert.equal(record.key, original.key);
  assert.equal(record.value, original.value);
  assert.deepEqual(record.headers, {
    'trace-id': Buffer.from('t1'),
    'x-error-code': 'malformed_json',
    'x-error-path': '',
    'x-error-message': 'request body is not valid JSON',
    'x-source-topic': 'in',
    'x-source-partition': '1',
    'x-source-offset': '7',
  });
});

test('a rejected batch item carries its own JSON, its index and its first field path', () => {
  const error = { code: 'invalid_phone_number' as const, message: 'bad', problems: [{ path: '/recipient/phone', message: 'bad' }] };
  const record = rejectedRecord(original, source, error, { tenantId: 'acme', item: { index: 0, value: { a: 1 } } });
  assert.equal(record.value, '{"a":1}');
  assert.equal(record.headers?.['x-item-index'], '0');
  assert.equal(record.headers?.['x-error-path'], '/recipient/phone');
  assert.equal(record.headers?.['x-tenant-id'], 'acme');
});

test('a batch with no valid item is rejected with paths into /messages', () => {
  const error = everyItemRejected([
    { index: 0, error: { code: 'invalid_phone_number', message: 'phone', problems: [{ path: '/recipient/phone', message: 'phone' }] } },
    { index: 2, error: { code: 'validation_failed', message: 'whole item' } },
  ]);
  assert.equal(error.code, 'batch_rejected');
  assert.deepEqual(error.problems, [
    { path: '/messages/0/recipient/phone', message: 'phone' },
    { path: '/messages/2', message: 'whole item' },
  ]);
});

test('a header is counted over every value and every spelling of its name', () => {
  assert.equal(headerCount(undefined, 'x-api-key'), 0);
  assert.equal(headerCount({ 'x-api-key': 'a' }, 'x-api-key'), 1);
  assert.equal(headerCount({ 'x-api-key': ['a', 'b'] }, 'x-api-key'), 2);
  assert.equal(headerCount({ 'x-api-key': 'a', 'X-Api-Key': Buffer.from('a') }, 'x-api-key'), 2);
});
