import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderRejectedError, ProviderUnavailableError, signReceiptBody } from '@commstrat/core';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { DeclarativeHttpAdapter, shippedDefinitions } from '@commstrat/providers';
import { allowing, eventually, queuedMessage } from './harness.ts';
import { RECEIPT_SECRET, definitionDeployment, exchangesOf } from './definition-deployments.ts';
import {
  setSandboxBehaviour,
  startDeployment,
  startSandbox,
  type RunningSandbox,
} from './services.ts';

function infobip(sandbox: RunningSandbox, apiKey = sandbox.token): DeclarativeHttpAdapter {
  const definition = shippedDefinitions().get('infobip-sms');
  assert.ok(definition);
  const adapter = new DeclarativeHttpAdapter({
    id: 'acme/infobip',
    definition,
    baseUrl: sandbox.url,
    egress: allowing(sandbox.url),
    credentials: { api_key: apiKey, sender: 'Acme' },
    timeoutMs: 3000,
  });
  test.after(() => adapter.close());
  return adapter;
}

test('the Infobip definition sends a batch in one request and maps each destination result back', async () => {
  const sandbox = await startSandbox();
  const good = [queuedMessage('normal', 'first'), queuedMessage('normal', 'Привет')];
  const bad = { ...queuedMessage('normal', 'to nowhere'), recipient: { phone: '+0000' } };
  const result = await infobip(sandbox).send([good[0]!, bad, good[1]!]);
  assert.equal(result.error, undefined);
  assert.deepEqual(result.outcomes, [
    { messageId: good[0]!.id, outcome: 'accepted', providerMessageId: good[0]!.id },
    { messageId: bad.id, outcome: 'rejected', reason: 'REJECTED_DESTINATION' },
    { messageId: good[1]!.id, outcome: 'accepted', providerMessageId: good[1]!.id },
  ]);
  const request = JSON.parse(result.exchange.request);
  assert.deepEqual(request.messages[0], {
    from: 'Acme',
    destinations: [{ to: '79161234567', messageId: good[0]!.id }],
    text: 'first',
  });
  const stored = sandbox.received.list({ clientRef: good[1]!.id, to: undefined });
  assert.deepEqual(
    stored.map((m) => [m.to, m.text, m.sender]),
    [['+79161234567', 'Привет', 'Acme']],
  );
  assert.equal(
    new Set(sandbox.received.latest(10).map((m) => m.request_seq)).size,
    1,
    'one request',
  );
});

test('Infobip error answers are classified by the definition: 401 permanent, 5xx and 429 retryable', async () => {
  const sandbox = await startSandbox();
  const unauthorized = await infobip(sandbox, 'wrong-key').send([queuedMessage('normal')]);
  assert.ok(unauthorized.error instanceof ProviderRejectedError, String(unauthorized.error));
  assert.match(unauthorized.exchange.response, /"messageId":"UNAUTHORIZED"/);

  await setSandboxBehaviour(sandbox, { error_rate: 1 });
  const down = await infobip(sandbox).send([queuedMessage('normal')]);
  assert.ok(down.error instanceof ProviderUnavailableError, String(down.error));
  assert.equal(down.exchange.httpStatus, 500);

  await setSandboxBehaviour(sandbox, { error_rate: 0, rate_per_second: 1 });
  const limited = await infobip(sandbox).send([queuedMessage('normal'), queuedMessage('normal')]);
  assert.ok(limited.error instanceof ProviderUnavailableError, String(limited.error));
  assert.equal(limited.error.retryAfterSeconds, 1);
});

test('an Infobip provider added while the service runs needs no code and no restart; its message ends sent with Infobip’s id', async () => {
  const deployment = await startDeployment();
  // The tenant's routing is cached by ingest and dispatcher from this first message on.
  const warm = await deployment.api('POST', '/v1/messages', {
    channel: 'sms',
    recipient: { phone: '+79161234567' },
    content: { text: 'warm' },
  });
  assert.equal(warm.status, 202);
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'infobip',
    kind: 'infobip-sms',
    endpoint: deployment.sandbox.url,
    credentials: { api_key: deployment.sandbox.token, sender: 'Acme' },
    ratePerSecond: 100,
    concurrency: 2,
    maxBatchSize: 100,
    lingerMs: 20,
    timeoutMs: 5000,
  });
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'infobip-otp',
    channel: 'sms',
    steps: [{ route: { mode: 'failover', providers: ['infobip'] }, ttl_seconds: 600 }],
  });
  // A name not looked up before is read fresh; a cached miss or a cached provider list
  // would hold for up to the caches' 10 s. Either way no process restarts.
  const body = await eventually(
    'the new strategy seen by ingest',
    async () => {
      const answer = await deployment.api('POST', '/v1/messages', {
        strategy: 'infobip-otp',
        recipient: { phone: '+4915112345678' },
        content: { text: 'Your code is 777' },
      });
      if (answer.status === 202) return answer.body as { id: string };
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      return undefined;
    },
    20_000,
    500,
  );
  const view = await eventually('the message sent through Infobip', async () => {
    const current = await deployment.api('GET', `/v1/messages/${body.id}`);
    return current.body.status === 'sent' ? current.body : undefined;
  });
  const sent = view.timeline.find((e: { status: string }) => e.status === 'sent');
  assert.equal(sent.provider, 'infobip');
  assert.equal(sent.provider_message_id, body.id);
  assert.deepEqual(
    deployment.sandbox.received.list({ clientRef: body.id, to: undefined }).map((m) => m.text),
    ['Your code is 777'],
  );
});

/** A tenant sending through infobip-sms, each message naming the receipt URL as its notifyUrl. */
function infobipDeployment(receipts?: { status: 'delivered' | 'undelivered' | 'none'; error?: string }) {
  return definitionDeployment({
    kind: 'infobip-sms',
    id: 'infobip',
    credentials: (receiptUrl, sandbox) => ({ api_key: sandbox.token, sender: 'Acme', notify_url: receiptUrl, receipt_secret: RECEIPT_SECRET }),
    ...(receipts === undefined ? {} : { receipts }),
  });
}

test('Infobip: delivery reports in Infobip’s {"results": [...]} format end messages delivered, sent to each message’s notifyUrl', async () => {
  const { deployment, receiptUrl, send, sendBatch, until } = await infobipDeployment({ status: 'delivered' });
  const ids = [await send('single'), ...(await sendBatch(['one', 'two']))];
  const views = await Promise.all(ids.map((id) => until(id, 'delivered')));
  for (const view of views) assert.equal(view.provider_message_id, view.id, 'Infobip echoes our messageId');
  const [exchange] = await exchangesOf(deployment, ids[0]!);
  assert.equal(JSON.parse(exchange?.request ?? '{}').messages[0].notifyUrl, receiptUrl);
  const delivered = views[0].timeline.find((e: { status: string }) => e.status === 'delivered');
  assert.ok(delivered, JSON.stringify(views[0].timeline));
});

test('Infobip: an UNDELIVERABLE report ends the message failed with "<status.name>: <error.name>"', async () => {
  const { send, until } = await infobipDeployment({ status: 'undelivered', error: 'EC_UNKNOWN_SUBSCRIBER' });
  const failed = await until(await send('never arrives'), 'failed');
  assert.match(failed.timeline.at(-1).reason, /^undelivered: UNDELIVERABLE_NOT_DELIVERED: EC_UNKNOWN_SUBSCRIBER/);
});

test('Infobip: a report unsigned or signed with a wrong secret is refused; a signed list applies, PENDING ignored', async () => {
  const { receiptUrl, send, until } = await infobipDeployment();
  const [first, second, third] = [await send('one'), await send('two', '+4915112345699'), await send('three', '+4915112345698')];
  await Promise.all([until(first, 'sent'), until(second, 'sent'), until(third, 'sent')]);
  const report = (messageId: string, groupName: string, name: string, error = 'NO_ERROR') => ({
    bulkId: 'bulk-1',
    messageId,
    to: '4915112345678',
    status: { groupId: 0, groupName, id: 0, name },
    error: { groupId: 0, groupName: 'OK', id: 0, name: error, permanent: false },
    doneAt: '2026-12-02T05:00:00.000+0000',
    smsCount: 1,
  });
  const body = JSON.stringify({
    results: [
      report(first, 'DELIVERED', 'DELIVERED_TO_HANDSET'),
      report(second, 'REJECTED', 'REJECTED_NETWORK', 'EC_ABSENT_SUBSCRIBER'),
      report(third, 'PENDING', 'PENDING_ENROUTE'),
    ],
  });
  const post = (headers: Record<string, string>) =>
    fetch(receiptUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  assert.equal((await post({})).status, 401);
  assert.equal((await post({ 'x-commstrat-signature': signReceiptBody('wrong-secret', body, new Date()) })).status, 401);
  assert.equal((await until(first, 'sent')).status, 'sent', 'a refused report changes nothing');
  const good = await post({ 'x-commstrat-signature': signReceiptBody(RECEIPT_SECRET, body, new Date()) });
  assert.equal(good.status, 200);
  assert.deepEqual(await good.json(), { received: 3, applied: 2, duplicate: 0, late: 0, unknown: 0, ignored: 1 });
  const delivered = await until(first, 'delivered');
  assert.equal(delivered.timeline.find((e: { status: string }) => e.status === 'delivered').at, '2026-12-02T05:00:00.000Z');
  const failed = await until(second, 'failed');
  assert.match(failed.timeline.at(-1).reason, /^undelivered: REJECTED_NETWORK: EC_ABSENT_SUBSCRIBER/);
  assert.equal((await until(third, 'sent')).status, 'sent');
});
