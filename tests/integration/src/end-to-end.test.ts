import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from './harness.ts';
import { startDeployment } from './services.ts';

const sms = {
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text: 'Your code is 1234' },
  priority: 'high',
};

test('a message posted to ingest reaches the sandbox provider and shows as sent', async () => {
  const deployment = await startDeployment();
  const accepted = await deployment.api('POST', '/v1/messages', sms);
  assert.equal(accepted.status, 202);
  assert.equal(accepted.body.status, 'queued');
  assert.match(accepted.body.id, /^[0-9A-HJKMNP-TV-Z]{26}$/, 'a ULID');

  const sent = await eventually('the message to be sent', async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${accepted.body.id}`);
    return body.status === 'sent' ? body : undefined;
  });
  assert.deepEqual(
    sent.timeline.map((event: { status: string }) => event.status),
    ['accepted', 'queued', 'sending', 'sent'],
  );
  const [received] = deployment.sandbox.received.list({ clientRef: accepted.body.id });
  assert.equal(received?.to, '+79161234567');
  assert.equal(received?.text, 'Your code is 1234');
  assert.equal(sent.timeline.at(-1).provider_message_id, received?.message_id);
  // The message's own document holds what it was routed and sent with.
  assert.equal(sent.provider_message_id, received?.message_id);
  assert.equal(sent.provider, 'sandbox-sms');
  assert.equal(sent.strategy, 'sms-default');
  assert.equal(sent.strategy_version, 1);
  assert.equal((await deployment.journal.findByProviderMessageId(deployment.tenantId, received?.message_id ?? ''))?.id, accepted.body.id);

  // The exchange is journaled as it went over the wire: bodies as text, ids flat.
  const [exchange] = await deployment.journal.findProviderExchanges(accepted.body.id);
  assert.deepEqual(exchange?.message_ids, [accepted.body.id]);
  assert.equal(exchange?.outcome, 'accepted');
  assert.equal(JSON.parse(exchange?.request ?? '{}').messages[0].client_ref, accepted.body.id);
  assert.equal(JSON.parse(exchange?.response ?? '{}').results[0].message_id, received?.message_id);
  assert.deepEqual(exchange?.provider_message_ids, [received?.message_id]);
});

test('a message the provider rejects ends failed with the provider reason', async () => {
  const deployment = await startDeployment();
  // Variables without a template have no text; the sandbox, like a real SMS API, refuses that item.
  const accepted = await deployment.api('POST', '/v1/messages', { ...sms, content: { variables: { code: '1234' } } });
  assert.equal(accepted.status, 202);
  const failed = await eventually('the message to fail', async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${accepted.body.id}`);
    return body.status === 'failed' ? body : undefined;
  });
  assert.match(failed.timeline.at(-1).reason, /empty_text/);
  assert.equal(deployment.sandbox.received.list({ clientRef: accepted.body.id }).length, 0);
});

test('ingest answers specific errors with a stable code and field path', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const noKey = await deployment.api('POST', '/v1/messages', sms, { authorization: '' });
  assert.equal(noKey.status, 401);
  assert.equal(noKey.body.error.code, 'unauthorized');

  const badKey = await deployment.api('POST', '/v1/messages', sms, { authorization: 'Bearer nope' });
  assert.equal(badKey.status, 401);

  const wrongType = await deployment.api('POST', '/v1/messages', JSON.stringify(sms), { 'content-type': 'text/plain' });
  assert.equal(wrongType.status, 415);
  assert.equal(wrongType.body.error.code, 'unsupported_media_type');

  const malformed = await deployment.api('POST', '/v1/messages', '{"channel": "sms",');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.error.code, 'malformed_json');

  const badPhone = await deployment.api('POST', '/v1/messages', { ...sms, recipient: { phone: '+7123' } });
  assert.equal(badPhone.status, 422);
  assert.equal(badPhone.body.error.code, 'invalid_phone_number');
  assert.deepEqual(badPhone.body.error.problems.map((p: { path: string }) => p.path), ['/recipient/phone']);

  const schema = await deployment.api('POST', '/v1/messages', { ...sms, priority: 'asap', extra: 1 });
  assert.equal(schema.status, 422);
  assert.deepEqual(
    schema.body.error.problems.map((p: { path: string }) => p.path).sort(),
    ['/extra', '/priority'],
  );

  const tooLarge = await deployment.api('POST', '/v1/messages', { ...sms, content: { text: 'x'.repeat(11 * 1024 * 1024) } });
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.body.error.code, 'payload_too_large');

  const noStrategy = await deployment.api('POST', '/v1/messages', { ...sms, strategy: 'nope' });
  assert.equal(noStrategy.status, 422);
  assert.deepEqual(noStrategy.body.error.problems, [{ path: '/strategy', message: 'no strategy named "nope"' }]);

  const noRoute = await deployment.api('POST', '/v1/messages', {
    channel: 'email',
    recipient: { email: 'a@example.com' },
    content: { subject: 'hi', text: 'hi' },
  });
  assert.equal(noRoute.status, 422);
  assert.deepEqual(noRoute.body.error.problems.map((p: { path: string }) => p.path), ['/channel']);

  const pastExpiry = await deployment.api('POST', '/v1/messages', { ...sms, expires_at: '2020-01-01T00:00:00Z' });
  assert.equal(pastExpiry.status, 422);
  assert.deepEqual(pastExpiry.body.error.problems.map((p: { path: string }) => p.path), ['/expires_at']);

  const unknown = await deployment.api('GET', '/v1/messages/01M8FJJBEY8YMD6ZQ85TW5Z8T5');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'not_found');
});

test("a tenant cannot read another tenant's message", async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const accepted = await deployment.api('POST', '/v1/messages', sms);
  assert.equal(accepted.status, 202);
  assert.equal((await deployment.api('GET', `/v1/messages/${accepted.body.id}`)).status, 200);
  const other = await deployment.addTenant('globex');
  const seenByOther = await other('GET', `/v1/messages/${accepted.body.id}`);
  assert.equal(seenByOther.status, 404);
  assert.equal(seenByOther.body.error.code, 'not_found');
});
