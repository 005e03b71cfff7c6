import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptMessage } from './accept-message.ts';
import { validateMessageRequest } from './validate-message.ts';

const now = new Date('2026-06-01T12:00:00Z');
const context = { id: '01J0000000000000000000000A', tenantId: 't1', batchId: 'r1', now };
const request = (extra: object) =>
  validateMessageRequest(
    { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'hi' }, ...extra },
    now,
  );

test('a message without send_at is queued, with accepted and queued on its timeline', () => {
  const message = acceptMessage(request({}), context);
  assert.equal(message.status, 'queued');
  assert.deepEqual(
    message.timeline.map((e) => e.status),
    ['accepted', 'queued'],
  );
});

test('a future send_at makes the message scheduled', () => {
  assert.equal(acceptMessage(request({ send_at: '2026-06-01T13:00:00Z' }), context).status, 'scheduled');
  assert.equal(acceptMessage(request({ send_at: '2026-06-01T11:00:00Z' }), context).status, 'queued');
});

test('ttl becomes expires_at counted from acceptance', () => {
  const message = acceptMessage(request({ ttl: 90 }), context);
  assert.equal(message.expires_at?.toISOString(), '2026-06-01T12:01:30.000Z');
});

test('an SMS records its encoding and part count; an e-mail does not', () => {
  const sms = (text: string) => acceptMessage(request({ content: { text } }), context).sms;
  assert.deepEqual(sms('Код: 1234'), { encoding: 'ucs-2', units: 9, parts: 1 });
  assert.deepEqual(sms('a'.repeat(161)), { encoding: 'gsm-7', units: 161, parts: 2 });
  const email = validateMessageRequest(
    { channel: 'email', recipient: { email: 'a@example.com' }, content: { subject: 'Hi', text: 'hello' } },
    now,
  );
  assert.equal(acceptMessage(email, context).sms, undefined);
});
