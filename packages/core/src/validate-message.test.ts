import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAjv } from './ajv.ts';
import { ValidationError } from './errors.ts';
import { documentedMessageRequestSchema } from './message-schema.ts';
import { validateMessageRequest } from './validate-message.ts';

const now = new Date('2026-06-01T12:00:00Z');
const valid = () => ({
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text: 'Your code is 1234' },
  priority: 'high',
});

function problemsOf(input: unknown): { code: string; paths: string[] } {
  try {
    validateMessageRequest(input, now);
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected ValidationError, got ${String(error)}`);
    return { code: error.code, paths: error.problems.map((p) => p.path) };
  }
  assert.fail('expected the message to be rejected');
}

test('a valid SMS message passes and gets the default priority when it has none', () => {
  const { priority: _unused, ...withoutPriority } = valid();
  const message = validateMessageRequest(withoutPriority, now);
  assert.equal(message.priority, 'normal');
  assert.equal('priority' in withoutPriority, false, 'the item given stays as sent');
  assert.equal(validateMessageRequest(valid(), now).priority, 'high');
});

test('a missing recipient and content are reported with their JSON pointers', () => {
  assert.deepEqual(problemsOf({ channel: 'sms' }), {
    code: 'validation_failed',
    paths: ['/recipient', '/content'],
  });
});

test('an unknown property is named by its path', () => {
  const { paths } = problemsOf({ ...valid(), recipient: { phone: '+79161234567', fax: '1' } });
  assert.deepEqual(paths, ['/recipient/fax']);
});

test('an unknown priority is rejected at /priority', () => {
  assert.deepEqual(problemsOf({ ...valid(), priority: 'urgent' }).paths, ['/priority']);
});

test('a message with neither channel nor strategy is rejected at /channel', () => {
  const { channel: _unused, ...rest } = valid();
  assert.deepEqual(problemsOf(rest).paths, ['/channel']);
});

test('a phone number that is not a real number gets invalid_phone_number', () => {
  assert.deepEqual(problemsOf({ ...valid(), recipient: { phone: '+7000' } }), {
    code: 'invalid_phone_number',
    paths: ['/recipient/phone'],
  });
});

test('an SMS without a phone number is rejected at /recipient/phone', () => {
  assert.deepEqual(problemsOf({ ...valid(), recipient: { email: 'a@example.com' } }).paths, [
    '/recipient/phone',
  ]);
});

test('expires_at in the past is rejected', () => {
  assert.deepEqual(problemsOf({ ...valid(), expires_at: '2026-06-01T11:59:59Z' }).paths, ['/expires_at']);
});

test('expires_at at or before send_at is rejected at /expires_at: the message could only expire', () => {
  const sendAt = '2026-06-02T09:00:00Z';
  assert.deepEqual(problemsOf({ ...valid(), send_at: sendAt, expires_at: '2026-06-02T08:00:00Z' }).paths, ['/expires_at']);
  assert.deepEqual(problemsOf({ ...valid(), send_at: sendAt, expires_at: sendAt }).paths, ['/expires_at']);
  // The same instant written in another offset is still not later.
  assert.deepEqual(problemsOf({ ...valid(), send_at: sendAt, expires_at: '2026-06-02T12:00:00+03:00' }).paths, ['/expires_at']);
  assert.doesNotThrow(() => validateMessageRequest({ ...valid(), send_at: sendAt, expires_at: '2026-06-02T09:00:01Z' }, now));
});

test('a ttl that runs out before send_at is rejected at /ttl', () => {
  // now is 12:00; send_at one hour later.
  assert.deepEqual(problemsOf({ ...valid(), send_at: '2026-06-01T13:00:00Z', ttl: 3600 }).paths, ['/ttl']);
  assert.doesNotThrow(() => validateMessageRequest({ ...valid(), send_at: '2026-06-01T13:00:00Z', ttl: 3601 }, now));
});

test('a time zone that does not exist is rejected at /recipient/time_zone; a real one passes', () => {
  for (const zone of ['Mars/Olympus_Mons', 'Europe/Berlinn', 'UTC+25', '../../etc/passwd']) {
    assert.deepEqual(problemsOf({ ...valid(), recipient: { phone: '+79161234567', time_zone: zone } }).paths, ['/recipient/time_zone'], zone);
  }
  for (const zone of ['Europe/Berlin', 'America/Argentina/Buenos_Aires', 'UTC']) {
    assert.doesNotThrow(() => validateMessageRequest({ ...valid(), recipient: { phone: '+79161234567', time_zone: zone } }, now), zone);
  }
});

test('a body that is not an object is rejected at the root', () => {
  assert.deepEqual(problemsOf([1, 2]).paths, ['']);
});

test('the documented message schema and the validation agree on every rule the document states', () => {
  const documented = createAjv({ strict: false, useDefaults: false }).compile(documentedMessageRequestSchema());
  const cases: [string, object, boolean][] = [
    ['a valid SMS', valid(), true],
    ['an SMS without a phone', { ...valid(), recipient: { email: 'a@example.com' } }, false],
    ['an e-mail without an address', { ...valid(), channel: 'email' }, false],
    ['an e-mail with an address', { ...valid(), channel: 'email', recipient: { email: 'a@example.com' }, content: { subject: 's', text: 't' } }, true],
    ['expires_at and ttl together', { ...valid(), expires_at: '2030-01-01T00:00:00Z', ttl: 60 }, false],
    ['a phone not in E.164 form', { ...valid(), recipient: { phone: '0079161234567' } }, false],
    ['a strategy name no strategy can have', { ...valid(), strategy: 'a\u0000b' }, false],
    ['a strategy name a strategy can have', { ...valid(), strategy: 'otp-v2.eu_1' }, true],
    ['an e-mail without a subject', { ...valid(), channel: 'email', recipient: { email: 'a@example.com' } }, false],
    ['an e-mail with only an HTML body', { channel: 'email', recipient: { email: 'a@example.com' }, content: { subject: 's', html: '<p>x</p>' } }, true],
    ['an SMS with an HTML body', { ...valid(), content: { text: 't', html: '<p>x</p>' } }, false],
    ['a push without a device token', { ...valid(), channel: 'push' }, false],
    ['a push with a device token', { ...valid(), channel: 'push', recipient: { push_token: 'fcm-token' } }, true],
    ['a messenger message without a chat id', { ...valid(), channel: 'messenger' }, false],
    ['a messenger message with a chat id', { ...valid(), channel: 'messenger', recipient: { chat_id: '123456789' } }, true],
    ['an e-mail with an attachment', { channel: 'email', recipient: { email: 'a@example.com' }, content: { subject: 's', text: 't', attachments: [{ url: 'https://example.com/a.pdf' }] } }, false],
  ];
  for (const [what, input, expected] of cases) {
    let accepted = true;
    try {
      validateMessageRequest(input, now);
    } catch (error) {
      assert.ok(error instanceof ValidationError, String(error));
      accepted = false;
    }
    assert.equal(accepted, expected, `${what}: the validation`);
    assert.equal(documented(input), expected, `${what}: the document`);
  }
});

const email = (content: object) => ({ channel: 'email', recipient: { email: 'ann@example.com' }, content });

test('an e-mail needs an address, a subject and a text or HTML body', () => {
  const message = validateMessageRequest(email({ subject: 'Receipt', html: '<p>Thanks</p>' }), now);
  assert.equal(message.content.html, '<p>Thanks</p>');
  assert.deepEqual(problemsOf(email({ text: 'no subject' })).paths, ['/content/subject']);
  assert.deepEqual(problemsOf(email({ subject: 'no body' })).paths, ['/content/text']);
  assert.deepEqual(problemsOf({ ...email({ subject: 's', text: 't' }), recipient: { phone: '+79161234567' } }).paths, [
    '/recipient/email',
  ]);
});

test('a push needs a device token and a messenger message a chat id', () => {
  assert.deepEqual(problemsOf({ ...valid(), channel: 'push' }).paths, ['/recipient/push_token']);
  assert.deepEqual(problemsOf({ ...valid(), channel: 'messenger', recipient: { push_token: 't' } }).paths, ['/recipient/chat_id']);
});

test('an HTML body on another channel is refused at /content/html', () => {
  assert.deepEqual(problemsOf({ ...valid(), content: { text: 'hi', html: '<b>hi</b>' } }).paths, ['/content/html']);
});

test('attachments by URL are refused with their own code at /content/attachments', () => {
  const withAttachment = email({ subject: 's', text: 't', attachments: [{ url: 'https://example.com/a.pdf' }] });
  assert.deepEqual(problemsOf(withAttachment), { code: 'attachments_not_supported', paths: ['/content/attachments'] });
  // A malformed attachment is a schema problem first, with the path of the bad field.
  assert.deepEqual(problemsOf(email({ subject: 's', text: 't', attachments: [{ name: 'a.pdf' }] })).paths.sort(), [
    '/content/attachments/0/name',
    '/content/attachments/0/url',
  ]);
});

test('a category is kept when it is a short lower-case name and refused, naming /category, otherwise', () => {
  assert.equal(validateMessageRequest({ ...valid(), category: 'marketing' }, now).category, 'marketing');
  for (const category of ['Marketing', '', 'x'.repeat(41), '1st', 'a b']) {
    assert.deepEqual(problemsOf({ ...valid(), category }), { code: 'validation_failed', paths: ['/category'] }, category);
  }
  assert.throws(
    () => validateMessageRequest({ ...valid(), category: 'Promo!' }, now),
    (error) => error instanceof ValidationError && /lower-case letters/.test(error.problems[0]?.message ?? ''),
  );
});

test('content_by_channel entries are held to their channel\'s content rules, each problem at its path', () => {
  const base = { strategy: 'otp', recipient: { phone: '+79161234567', email: 'a@example.com' }, content: { text: 'code 1' } };
  assert.equal(validateMessageRequest({ ...base, content_by_channel: { sms: { text: 'short' } } }).content_by_channel?.sms?.text, 'short');
  assert.throws(
    () => validateMessageRequest({ ...base, content_by_channel: { email: { html: '<p>x</p>' }, sms: { text: 'x', html: '<p>x</p>' } } }),
    (error: unknown) =>
      error instanceof ValidationError &&
      JSON.stringify(error.problems.map((p) => p.path)) ===
        JSON.stringify(['/content_by_channel/email/subject', '/content_by_channel/sms/html']),
  );
  assert.throws(
    () => validateMessageRequest({ ...base, content_by_channel: { email: { subject: 's', text: 't', attachments: [{ url: 'https://x.example/a.pdf' }] } } }),
    (error: unknown) => error instanceof ValidationError && error.code === 'attachments_not_supported',
  );
  assert.throws(
    () => validateMessageRequest({ ...base, content_by_channel: { fax: { text: 'x' } } }),
    (error: unknown) => error instanceof ValidationError && error.problems.some((p) => p.path.startsWith('/content_by_channel')),
  );
});

test('a callback_url must be an http(s) URL; anything else is refused at /callback_url', () => {
  for (const url of ['ftp://example.com/cb', 'mailto:ops@example.com', 'not a url', 'http://', 'javascript:alert(1)']) {
    assert.deepEqual(problemsOf({ ...valid(), callback_url: url }).paths.slice(0, 1), ['/callback_url'], url);
  }
  for (const url of ['https://example.com/hooks/commstrat', 'http://127.0.0.1:8080/cb?x=1']) {
    assert.equal(validateMessageRequest({ ...valid(), callback_url: url }, now).callback_url, url);
  }
});

test('a recipient locale must be a BCP 47 tag', () => {
  const message = (locale: string) => ({ channel: 'sms', recipient: { phone: '+79161234567', locale }, content: { text: 'hi' } });
  assert.equal(validateMessageRequest(message('ru-RU')).recipient.locale, 'ru-RU');
  assert.throws(
    () => validateMessageRequest(message('ru_RU')),
    (error: unknown) => error instanceof ValidationError && error.problems.some((p) => p.path === '/recipient/locale'),
  );
});
