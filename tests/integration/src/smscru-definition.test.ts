import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderRejectedError, ProviderUnavailableError, signReceiptBody, type QueuedMessage } from '@commstrat/core';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { DeclarativeHttpAdapter, ProviderMisconfiguredError, shippedDefinitions } from '@commstrat/providers';
import { allowing, eventually, queuedMessage } from './harness.ts';
import { RECEIPT_SECRET, definitionDeployment } from './definition-deployments.ts';
import { setSandboxBehaviour, startDeployment, startSandbox, type RunningSandbox } from './services.ts';

const LOGIN = 'commstrat';

function smscru(sandbox: RunningSandbox, password = sandbox.token): DeclarativeHttpAdapter {
  const definition = shippedDefinitions().get('smscru-sms');
  assert.ok(definition);
  const adapter = new DeclarativeHttpAdapter({
    id: 'acme/smscru',
    definition,
    baseUrl: sandbox.url,
    egress: allowing(sandbox.url),
    credentials: { login: LOGIN, password, sender: 'Acme' },
    timeoutMs: 3000,
  });
  test.after(() => adapter.close());
  return adapter;
}

async function forceError(sandbox: RunningSandbox, code: number | null): Promise<void> {
  const response = await fetch(`${sandbox.url}/_sandbox/smscru`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ force_error: code }),
  });
  assert.equal(response.status, 200, await response.text());
}

const to = (message: QueuedMessage, phone: string): QueuedMessage => ({ ...message, recipient: { phone } });

test('SMSC.ru: several phones with the same text go in one send.php request; each message gets id:phone', async () => {
  const sandbox = await startSandbox();
  const messages = [
    to(queuedMessage('normal', 'Код 1234'), '+79161234567'),
    to(queuedMessage('normal', 'Код 1234'), '+4915112345678'),
    to(queuedMessage('normal', 'Код 1234'), '+79031234567'),
  ];
  const result = await smscru(sandbox).send(messages);
  assert.equal(result.error, undefined, String(result.error));
  const id = JSON.parse(result.exchange.response).id as number;
  assert.deepEqual(result.outcomes, [
    { messageId: messages[0]!.id, outcome: 'accepted', providerMessageId: `${id}:79161234567` },
    { messageId: messages[1]!.id, outcome: 'accepted', providerMessageId: `${id}:4915112345678` },
    { messageId: messages[2]!.id, outcome: 'accepted', providerMessageId: `${id}:79031234567` },
  ]);
  const sent = new URLSearchParams(result.exchange.request);
  assert.equal(sent.get('phones'), '+79161234567,+4915112345678,+79031234567');
  assert.equal(sent.get('mes'), 'Код 1234');
  assert.equal(sent.get('fmt'), '3');
  // The login and password went on the wire but are not in the journaled request.
  assert.equal(sent.get('psw'), '[redacted]');
  assert.equal(sent.get('login'), '[redacted]');
  assert.doesNotMatch(result.exchange.request, new RegExp(sandbox.token));
  const received = sandbox.received.latest(10);
  assert.deepEqual(received.map((m) => m.to).sort(), ['+4915112345678', '+79031234567', '+79161234567']);
  assert.equal(new Set(received.map((m) => m.request_seq)).size, 1, 'one request');
  assert.deepEqual([...new Set(received.map((m) => `${m.text}|${m.sender ?? ''}`))], ['Код 1234|Acme']);
});

test('SMSC.ru: messages with different texts never share a request (the definition’s batch_by)', async () => {
  const sandbox = await startSandbox();
  const adapter = smscru(sandbox);
  const [a, b] = [queuedMessage('normal', 'one'), queuedMessage('normal', 'two')];
  assert.notEqual(adapter.batchKey(a), adapter.batchKey(b));
  assert.equal(adapter.batchKey(a), adapter.batchKey(queuedMessage('normal', 'one')));
  const mixed = await adapter.send([a, b]);
  assert.ok(mixed.error instanceof ProviderRejectedError);
  assert.equal(sandbox.received.size, 0, 'nothing sent');
});

test('SMSC.ru error codes (HTTP 200 bodies) are classified: bad login misconfigured, 3/4 retry later, 9 rate limited, the rest permanent', async () => {
  const sandbox = await startSandbox();
  const badLogin = await smscru(sandbox, 'wrong-password').send([queuedMessage('normal')]);
  assert.ok(badLogin.error instanceof ProviderMisconfiguredError, String(badLogin.error));
  assert.match(badLogin.exchange.response, /"error_code":2/);

  const adapter = smscru(sandbox);
  const invalid = await adapter.send([to(queuedMessage('normal'), '+0000')]);
  assert.ok(invalid.error instanceof ProviderRejectedError && !(invalid.error instanceof ProviderMisconfiguredError), String(invalid.error));
  assert.match(invalid.exchange.response, /"error_code":7/);

  const expected: [number, 'permanent' | 'misconfigured' | 'retryable'][] = [
    [1, 'permanent'], [2, 'misconfigured'], [3, 'retryable'], [4, 'retryable'], [5, 'permanent'],
    [6, 'permanent'], [7, 'permanent'], [8, 'permanent'], [9, 'retryable'],
  ];
  for (const [code, kind] of expected) {
    await forceError(sandbox, code);
    const { error } = await adapter.send([queuedMessage('normal')]);
    const seen = error instanceof ProviderMisconfiguredError ? 'misconfigured' : error instanceof ProviderRejectedError ? 'permanent' : error instanceof ProviderUnavailableError ? 'retryable' : String(error);
    assert.equal(seen, kind, `error_code ${code}`);
  }
  await forceError(sandbox, null);

  await setSandboxBehaviour(sandbox, { rate_per_second: 1 });
  const limited = await adapter.send([to(queuedMessage('normal', 'x'), '+79161234567'), to(queuedMessage('normal', 'x'), '+79031234567')]);
  assert.ok(limited.error instanceof ProviderUnavailableError, String(limited.error));
  assert.match(limited.exchange.response, /"error_code":9/);

  await setSandboxBehaviour(sandbox, { rate_per_second: 0, error_rate: 1 });
  const down = await adapter.send([queuedMessage('normal')]);
  assert.ok(down.error instanceof ProviderUnavailableError, String(down.error));
  assert.equal(down.exchange.httpStatus, 503);
});

test('SMSC.ru through the service: a batch of two texts to three phones leaves as two requests and every message ends sent', async () => {
  const deployment = await startDeployment();
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'smscru',
    kind: 'smscru-sms',
    endpoint: deployment.sandbox.url,
    credentials: { login: LOGIN, password: deployment.sandbox.token, sender: 'Acme' },
    ratePerSecond: 100,
    concurrency: 2,
    maxBatchSize: 100,
    lingerMs: 300,
    timeoutMs: 5000,
  });
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'smscru-otp',
    channel: 'sms',
    steps: [{ route: { mode: 'failover', providers: ['smscru'] }, ttl_seconds: 600 }],
  });
  const item = (phone: string, text: string) => ({ strategy: 'smscru-otp', recipient: { phone }, content: { text } });
  const accepted = await eventually(
    'the new strategy seen by ingest',
    async () => {
      const answer = await deployment.api('POST', '/v1/messages/batch', {
        messages: [item('+79161234567', 'Sale today'), item('+4915112345678', 'Your code is 4321'), item('+79031234567', 'Sale today')],
      });
      if (answer.status === 202) return answer.body.accepted as { id: string }[];
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      return undefined;
    },
    20_000,
    500,
  );
  const views = await eventually('every message sent through SMSC.ru', async () => {
    const all = await Promise.all(accepted.map(async ({ id }) => (await deployment.api('GET', `/v1/messages/${id}`)).body));
    return all.every((view) => view.status === 'sent') ? all : undefined;
  });
  const received = deployment.sandbox.received.latest(10);
  const requestOf = (phone: string) => received.find((m) => m.to === phone)?.request_seq;
  assert.equal(received.length, 3);
  assert.equal(requestOf('+79161234567'), requestOf('+79031234567'), 'the same text shares a request');
  assert.notEqual(requestOf('+79161234567'), requestOf('+4915112345678'), 'another text goes in its own request');
  for (const view of views) {
    const sent = view.timeline.find((e: { status: string }) => e.status === 'sent');
    assert.equal(sent.provider, 'smscru');
    assert.match(sent.provider_message_id, new RegExp(`^\\d+:${view.recipient.phone.slice(1)}$`));
  }
});

/** A tenant sending through smscru-sms; the sandbox calls back the account's one callback URL (the receipt URL). */
function smscruDeployment(receipts?: { status: 'delivered' | 'undelivered' | 'none'; error?: string }) {
  return definitionDeployment({
    kind: 'smscru-sms',
    id: 'smscru',
    credentials: (_receiptUrl, sandbox) => ({ login: LOGIN, password: sandbox.token, sender: 'Acme', receipt_secret: RECEIPT_SECRET }),
    ...(receipts === undefined ? {} : { receipts }),
  });
}

test('SMSC.ru: status callbacks (form id, phone, status) end messages delivered by "<id>:<phone>"; status 0 is ignored', async () => {
  const { deployment, send, sendBatch, until } = await smscruDeployment({ status: 'delivered' });
  const ids = [await send('single'), ...(await sendBatch(['one', 'two']))];
  const views = await Promise.all(ids.map((id) => until(id, 'delivered')));
  for (const view of views) assert.match(view.provider_message_id, new RegExp(`^\\d+:${view.recipient.phone.slice(1)}$`));
  // Each phone's intermediate status 0 (passed to the operator) is counted as ignored.
  const metrics = await eventually('three ignored callbacks counted', async () => {
    const text = await (await fetch(`${deployment.ingest.url}/metrics`)).text();
    return /commstrat_receipts_total\{provider="acme\/smscru",outcome="ignored"[^}]*\} 3\n/.test(text) ? text : undefined;
  });
  assert.match(metrics, /commstrat_receipts_total\{provider="acme\/smscru",outcome="applied"[^}]*\} 3\n/);
});

test('SMSC.ru: status 22 (invalid number) ends the message failed with the status and err', async () => {
  const { send, until } = await smscruDeployment({ status: 'undelivered', error: '22' });
  const failed = await until(await send('never arrives'), 'failed');
  assert.match(failed.timeline.at(-1).reason, /^undelivered: 22: 1/);
});

test('SMSC.ru: an unsigned or wrongly signed callback is refused; -1 and 0 are ignored, 1 and 20 applied', async () => {
  const { receiptUrl, send, until } = await smscruDeployment();
  const [first, second] = [await until(await send('one'), 'sent'), await until(await send('two', '+4915112345699'), 'sent')];
  const callback = (view: { provider_message_id: string }, status: string) => {
    const [id, phone] = view.provider_message_id.split(':');
    return new URLSearchParams({ id: id!, phone: phone!, status, err: status === '20' ? '1' : '0', ts: '1764651600' }).toString();
  };
  const post = (body: string, signature?: string) =>
    fetch(receiptUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === undefined ? {} : { 'x-commstrat-signature': signature }) },
      body,
    });
  const delivered = callback(first, '1');
  assert.equal((await post(delivered)).status, 401);
  assert.equal((await post(delivered, signReceiptBody('wrong-secret', delivered, new Date()))).status, 401);
  assert.equal((await until(first.id, 'sent')).status, 'sent', 'a refused callback changes nothing');
  for (const status of ['-1', '0']) {
    const body = callback(first, status);
    const answer = await post(body, signReceiptBody(RECEIPT_SECRET, body, new Date()));
    assert.deepEqual(await answer.json(), { received: 1, applied: 0, duplicate: 0, late: 0, unknown: 0, ignored: 1 });
  }
  assert.equal((await until(first.id, 'sent')).status, 'sent', 'intermediate statuses change nothing');
  const good = await post(delivered, signReceiptBody(RECEIPT_SECRET, delivered, new Date()));
  assert.deepEqual(await good.json(), { received: 1, applied: 1, duplicate: 0, late: 0, unknown: 0, ignored: 0 });
  await until(first.id, 'delivered');
  const undelivered = callback(second, '20');
  const bad = await post(undelivered, signReceiptBody(RECEIPT_SECRET, undelivered, new Date()));
  assert.deepEqual(await bad.json(), { received: 1, applied: 1, duplicate: 0, late: 0, unknown: 0, ignored: 0 });
  const failed = await until(second.id, 'failed');
  assert.match(failed.timeline.at(-1).reason, /^undelivered: 20: 1/);
});
