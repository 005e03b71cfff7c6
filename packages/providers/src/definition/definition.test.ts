import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@commstrat/core';
import { parseProviderDefinition } from './definition-schema.ts';
import { queryJsonPath } from './json-path.ts';
import { shippedDefinitions } from './shipped.ts';
import { renderTemplate } from './template.ts';

function problemPaths(text: string): string[] {
  try {
    parseProviderDefinition(text);
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    // A oneOf reports each branch that failed; one path per place is what is pinned here.
    return [...new Set(error.problems.map((p) => p.path))].sort();
  }
  assert.fail('expected the definition to be refused');
}

test('the JSONPath subset reads names, quoted names, indexes and wildcards, and nothing else', () => {
  const answer = { messages: [{ id: 'a', status: { 'group name': 'PENDING' } }, { id: 'b' }] };
  assert.deepEqual(queryJsonPath(answer, '$.messages[*].id'), ['a', 'b']);
  assert.deepEqual(queryJsonPath(answer, "$.messages[0].status['group name']"), ['PENDING']);
  assert.deepEqual(queryJsonPath(answer, '$.messages[5].id'), []);
  assert.deepEqual(queryJsonPath(answer, '$.missing.deeper'), []);
  assert.throws(
    () => queryJsonPath(answer, '$.messages[?(@.id == "a")]'),
    /cannot read from offset 10/,
  );
});

test('a template renders whole placeholders with their type, inline ones as text, and $each per item', () => {
  const context = {
    credentials: { sender: 'Acme' },
    messages: [
      { id: 'm1', recipient: { phone: '+79161234567' }, content: { text: 'one' } },
      { id: 'm2', recipient: { phone: '+4915112345678' }, content: {} },
    ],
  };
  const template = {
    messages: {
      $each: 'messages',
      $as: 'm',
      $template: {
        to: '{{ m.recipient.phone | digits }}',
        text: '{{ m.content.text }}',
        ref: 'ref-{{ m.id }}',
      },
    },
    from: '{{ credentials.sender }}',
    count: '{{ messages[1].id }}',
  };
  assert.deepEqual(renderTemplate(template, context), {
    messages: [
      { to: '79161234567', text: 'one', ref: 'ref-m1' },
      { to: '4915112345678', ref: 'ref-m2' },
    ],
    from: 'Acme',
    count: 'm2',
  });
});

test('every shipped definition passes its schema; Infobip sends many messages per request', () => {
  const infobip = shippedDefinitions().get('infobip-sms');
  assert.ok(infobip);
  assert.equal(infobip.channel, 'sms');
  assert.equal(infobip.send.path, '/sms/2/text/advanced');
  assert.equal(infobip.send.max_batch_size, 100);
  const smscru = shippedDefinitions().get('smscru-sms');
  assert.equal(smscru?.send.batch_by, '{{ message.content.text }}', 'one text per SMSC.ru request');
  assert.equal(smscru?.auth?.type, 'body_fields');
  assert.equal(shippedDefinitions().get('telegram-bot')?.send.max_batch_size, 1);
  assert.equal(shippedDefinitions().get('fcm-v1')?.auth?.type, 'oauth2_jwt_bearer');
});

test('an auth section is checked by its own type: missing fields at their path, an unknown type at /auth/type', () => {
  const withAuth = (auth: object) =>
    JSON.stringify({
      name: 'ok',
      channel: 'sms',
      follows: 'a test',
      auth,
      send: { method: 'POST', path: '/send', max_batch_size: 1, body: {} },
      response: { items: '$', provider_message_id: '$.id', accepted: { path: '$.id' } },
      errors: [],
    });
  assert.deepEqual(problemPaths(withAuth({ type: 'oauth2_client_credentials', token_url: 'https://x/token' })), [
    '/auth/client_id',
    '/auth/client_secret',
  ]);
  assert.deepEqual(problemPaths(withAuth({ type: 'hmac', header: 'X-Sig', secret: 's', signed: ['method', 'nonce'], algorithm: 'md5' })), [
    '/auth/algorithm',
    '/auth/signed/1',
  ]);
  assert.deepEqual(problemPaths(withAuth({ type: 'oauth2_jwt_bearer', token_url: 'u', client_email: 'e', private_key: 'k', scope: 's', extra: 1 })), [
    '/auth/extra',
  ]);
  assert.deepEqual(problemPaths(withAuth({ type: 'kerberos' })), ['/auth/type']);
  assert.deepEqual(problemPaths(withAuth({ name: 'Authorization' })), ['/auth/type']);
  assert.doesNotThrow(() => parseProviderDefinition(withAuth({ type: 'bearer', token: '{{ credentials.token }}' })));
});

test('a broken definition is refused with the path of every problem', () => {
  const broken = JSON.stringify({
    name: 'Bad Name',
    channel: 'fax',
    follows: 'nothing',
    auth: { type: 'header' },
    send: { method: 'GET', path: 'no-slash', max_batch_size: 0, body: {} },
    response: {
      items: 'messages',
      provider_message_id: '$.id',
      accepted: { path: '$.ok', in: [] },
    },
    errors: [{ status: 99, class: 'maybe' }],
    extra: true,
  });
  assert.deepEqual(problemPaths(broken), [
    '/auth/name',
    '/auth/value',
    '/channel',
    '/errors/0/class',
    '/errors/0/status',
    '/extra',
    '/name',
    '/response/accepted/in',
    '/response/items',
    '/send/max_batch_size',
    '/send/method',
    '/send/path',
  ]);
  // Past the schema: a JSONPath the subset cannot read, a signed timestamp the provider cannot see.
  const unreadable = `
name: ok
channel: sms
follows: a test
auth: { type: hmac, header: X-Signature, secret: "{{ credentials.secret }}", signed: [method, timestamp] }
send: { method: POST, path: /send, max_batch_size: 10, body: {} }
response: { items: "$.results[?(@.ok)]", provider_message_id: "$.id", accepted: { path: "$.ok", in: [true] } }
errors: []
`;
  assert.deepEqual(problemPaths(unreadable), ['/auth/timestamp_header', '/response/items']);
  assert.deepEqual(problemPaths('{ not: [yaml'), ['']);
});
