import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '@commstrat/core';
import { parseProviderDefinition } from './definition-schema.ts';
import { checkBasicAuth, checkTwilioSignature, mapProviderReceipts, parseReceiptBody, twilioSignature } from './receipt-mapping.ts';
import { shippedDefinitions } from './shipped.ts';

function mappingOf(name: string) {
  const mapping = shippedDefinitions().get(name)?.receipts;
  assert.ok(mapping, `${name} has a receipt mapping`);
  return mapping;
}

test('a Twilio status callback maps delivered and undelivered/failed with the error code; intermediate ones are ignored', () => {
  const twilio = mappingOf('twilio-sms');
  const read = (form: string) => mapProviderReceipts(twilio, parseReceiptBody(twilio, form));
  assert.deepEqual(read('MessageSid=SM1&MessageStatus=delivered&AccountSid=AC1'), {
    receipts: [{ provider_message_id: 'SM1', status: 'delivered' }],
    ignored: [],
  });
  assert.deepEqual(read('MessageSid=SM2&MessageStatus=undelivered&ErrorCode=30003').receipts, [
    { provider_message_id: 'SM2', status: 'undelivered', error: '30003' },
  ]);
  assert.deepEqual(read('MessageSid=SM3&MessageStatus=failed').receipts, [
    { provider_message_id: 'SM3', status: 'undelivered', error: 'failed' },
  ]);
  assert.deepEqual(read('MessageSid=SM4&MessageStatus=sent'), {
    receipts: [],
    ignored: [{ provider_message_id: 'SM4', status: 'sent' }],
  });
  assert.throws(
    () => read('MessageStatus=delivered'),
    (error: unknown) => error instanceof ValidationError && error.problems[0]?.path === '/0',
  );
});

test('Sinch recipient reports, one or a list per request, map to "<batch id>:<recipient digits>"', () => {
  const sinch = mappingOf('sinch-sms');
  const report = (recipient: string, status: string, code: number) => ({
    type: 'recipient_delivery_report_sms',
    batch_id: '01FC66621XXXXX119Z8PMV1QPQ',
    recipient,
    code,
    status,
    at: '2026-12-02T04:00:00.123Z',
  });
  const one = mapProviderReceipts(sinch, parseReceiptBody(sinch, JSON.stringify(report('+4915112345678', 'Delivered', 0))));
  assert.deepEqual(one.receipts, [
    { provider_message_id: '01FC66621XXXXX119Z8PMV1QPQ:4915112345678', status: 'delivered', at: '2026-12-02T04:00:00.123Z' },
  ]);
  const list = mapProviderReceipts(sinch, [report('79161234567', 'Failed', 402), report('79161234568', 'Dispatched', 401)]);
  assert.deepEqual(list.receipts, [
    { provider_message_id: '01FC66621XXXXX119Z8PMV1QPQ:79161234567', status: 'undelivered', error: '402', at: '2026-12-02T04:00:00.123Z' },
  ]);
  assert.deepEqual(list.ignored, [{ provider_message_id: '01FC66621XXXXX119Z8PMV1QPQ:79161234568', status: 'Dispatched' }]);
  // A report without its recipient has no id: "<batch id>:" is refused, not matched.
  assert.throws(() => mapProviderReceipts(sinch, { batch_id: 'b', status: 'Delivered' }), ValidationError);
  assert.throws(() => parseReceiptBody(sinch, '{not json'), ValidationError);
});

test('the Twilio signature follows Twilio’s documented algorithm (its published test vector)', () => {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const fields = { CallSid: 'CA1234567890ABCDE', Caller: '+12349013030', Digits: '1234', From: '+12349013030', To: '+18005551212' };
  assert.equal(twilioSignature('12345', url, fields), '0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  assert.equal(checkTwilioSignature('12345', url, fields, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), undefined);
  assert.equal(checkTwilioSignature('12345', url, { ...fields, Digits: '1235' }, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mismatch');
  assert.equal(checkTwilioSignature('other', url, fields, '0/KCTR6DLpKmkAf8muzZqo1nDgQ='), 'mismatch');
  assert.equal(checkTwilioSignature('12345', url, fields, undefined), 'missing');
});

test('basic auth on a callback is checked against the provisioned user and password', () => {
  const header = `Basic ${Buffer.from('sinch:s3cret').toString('base64')}`;
  assert.equal(checkBasicAuth('sinch', 's3cret', header), undefined);
  assert.equal(checkBasicAuth('sinch', 'other', header), 'mismatch');
  assert.equal(checkBasicAuth('sinch', 's3cret', 'Bearer x'), 'mismatch');
  assert.equal(checkBasicAuth('sinch', 's3cret', undefined), 'missing');
});

test('a broken receipt mapping is refused with the path of every problem', () => {
  const base = `
name: ok
channel: sms
follows: a test
send: { method: POST, path: /send, max_batch_size: 1, body: {} }
response: { items: "$", provider_message_id: "$.id", accepted: { path: "$.ok", in: [true] } }
errors: []
`;
  const paths = (receipts: string) => {
    try {
      parseProviderDefinition(`${base}receipts: ${receipts}\n`);
    } catch (error) {
      assert.ok(error instanceof ValidationError, String(error));
      return [...new Set(error.problems.map((p) => p.path))].sort();
    }
    assert.fail('expected the definition to be refused');
  };
  assert.deepEqual(
    paths('{ format: xml, items: reports, provider_message_id: id, status: "$.s", statuses: { ok: read }, auth: { type: none }, extra: 1 }'),
    ['/receipts/auth/type', '/receipts/extra', '/receipts/format', '/receipts/items', '/receipts/provider_message_id', '/receipts/statuses/ok'],
  );
  assert.deepEqual(
    paths('{ format: json, items: "$[?(@.x)]", provider_message_id: "$.id", status: "$.s", statuses: { ok: delivered }, auth: { type: twilio_signature } }'),
    ['/receipts/auth/secret', '/receipts/auth/url', '/receipts/format', '/receipts/items'],
  );
  assert.deepEqual(
    paths('{ format: json, items: "$", provider_message_id: "$.id", status: "$.s", statuses: { ok: delivered }, auth: { type: basic, username: u } }'),
    ['/receipts/auth/password'],
  );
});

test('Infobip delivery reports come as a list per request: each maps by messageId, PENDING ignored', () => {
  const infobip = mappingOf('infobip-sms');
  const report = (messageId: string, groupName: string, name: string, error = 'NO_ERROR') => ({
    bulkId: 'BULK-1',
    messageId,
    to: '41793026727',
    doneAt: '2019-11-09T16:00:00.000+0000',
    status: { groupId: 3, groupName, id: 5, name },
    error: { groupId: 0, groupName: 'OK', id: 0, name: error, permanent: false },
  });
  const body = JSON.stringify({
    results: [
      report('m1', 'DELIVERED', 'DELIVERED_TO_HANDSET'),
      report('m2', 'UNDELIVERABLE', 'UNDELIVERABLE_NOT_DELIVERED', 'EC_ABSENT_SUBSCRIBER'),
      report('m3', 'PENDING', 'PENDING_ENROUTE'),
    ],
  });
  assert.deepEqual(mapProviderReceipts(infobip, parseReceiptBody(infobip, body)), {
    receipts: [
      { provider_message_id: 'm1', status: 'delivered', at: '2019-11-09T16:00:00.000Z' },
      { provider_message_id: 'm2', status: 'undelivered', error: 'UNDELIVERABLE_NOT_DELIVERED: EC_ABSENT_SUBSCRIBER', at: '2019-11-09T16:00:00.000Z' },
    ],
    ignored: [{ provider_message_id: 'm3', status: 'PENDING' }],
  });
});
