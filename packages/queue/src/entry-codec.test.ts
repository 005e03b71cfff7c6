import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QueuedMessage } from '@commstrat/core';
import { EntryFormatError, decodeDeadLetter, decodeEntry, decodeLegacyDelayedPayload, decodeStreamEntry, encodeDeadLetter, encodeEntry, entryMessageId } from './entry-codec.ts';

const otp: QueuedMessage = {
  id: '01M8T6C5AW1E4Y1ZC7PSBK4Y5X',
  tenant_id: 'acme',
  channel: 'sms',
  strategy: undefined,
  priority: 'normal',
  recipient: { phone: '+79161234567' },
  content: { text: 'Your code is 1234. Do not share it with anyone.' },
  expires_at: undefined,
  created_at: '2026-12-02T01:37:15.061Z',
};

const everything: QueuedMessage = {
  ...otp,
  priority: 'critical',
  strategy: 'otp',
  strategy_version: 3,
  category: 'marketing',
  content_by_channel: { email: { subject: 'Code', text: 'Your code' } },
  rendered_steps: [{ step: 1, channel: 'email', content: { subject: 'Code', text: 'Your code is 1234' } }],
  expires_at: '2026-12-02T02:37:15.061Z',
  attempts: 2,
  step: 1,
  receipt_timer: 0,
};

/** What a message read back from Redis must equal: itself as JSON would carry it (undefined fields dropped). */
const asJson = (message: QueuedMessage): unknown => JSON.parse(JSON.stringify(message));

test('an entry reads back as the message it was made of, every field of QueuedMessage included', () => {
  for (const message of [otp, everything]) assert.deepEqual(decodeEntry(encodeEntry(message)), asJson(message));
  assert.equal(entryMessageId(encodeEntry(everything)), everything.id);
});

test('an entry starts with its lane digit and its id, and its body is shorter than the JSON of 0.1', () => {
  const entry = encodeEntry(otp);
  assert.equal(
    entry,
    '3|01M8T6C5AW1E4Y1ZC7PSBK4Y5X|{"t":"acme","c":"sms","r":{"phone":"+79161234567"},"b":{"text":"Your code is 1234. Do not share it with anyone."},"a":"2026-12-02T01:37:15.061Z"}',
  );
  assert.equal(encodeEntry({ ...otp, priority: 'critical' }).charAt(0), '1');
  assert.equal(encodeEntry({ ...otp, priority: 'bulk' }).charAt(0), '4');
  assert.ok(entry.length < JSON.stringify(otp).length - 50, `${entry.length} bytes against ${JSON.stringify(otp).length}`);
});

test('a field the codec has no short key for is kept under its own name', () => {
  const odd = { ...otp, future_field: { x: 1 } } as unknown as QueuedMessage;
  assert.match(encodeEntry(odd), /"future_field":\{"x":1\}/);
  assert.deepEqual(decodeEntry(encodeEntry(odd)), asJson(odd));
});

test('entries written by 0.1 (the message JSON) are read as well: in a lane, a dead letter and the old delayed payload', () => {
  const legacy = JSON.stringify(everything);
  assert.deepEqual(decodeEntry(legacy), asJson(everything));
  assert.deepEqual(decodeStreamEntry(['m', legacy]), asJson(everything));
  assert.deepEqual(decodeLegacyDelayedPayload(`1|${legacy}`), asJson(everything));
  assert.equal(entryMessageId(legacy), everything.id);
  const letter = decodeDeadLetter('1700000000000-0', ['m', legacy, 'reason', 'gave up']);
  assert.deepEqual(letter.message, asJson(everything));
  assert.equal(letter.code, undefined);
});

test('a dead letter carries its reason, code and provider beside the entry', () => {
  const fields = encodeDeadLetter({ message: everything, reason: 'gave up after 3 attempts', code: 'provider_unavailable', provider: 'acme/sms' });
  const letter = decodeDeadLetter('1700000000000-5', fields);
  assert.deepEqual(letter.message, asJson(everything));
  assert.deepEqual([letter.reason, letter.code, letter.provider, letter.at.getTime()], ['gave up after 3 attempts', 'provider_unavailable', 'acme/sms', 1_700_000_000_000]);
  assert.equal(decodeDeadLetter('1-0', ['m', 'not an entry', 'reason', 'x']).message, undefined, 'unreadable: skipped, not fatal');
});

test('a string that is no entry of either format is refused with EntryFormatError', () => {
  for (const text of ['', 'hello', '9|id|{}', '3|id|not json', '3|id|[1]', '{"no":"id"}', '{broken']) {
    assert.throws(() => decodeEntry(text), EntryFormatError, text);
  }
  assert.throws(() => decodeStreamEntry(['x', '1']), EntryFormatError);
});
