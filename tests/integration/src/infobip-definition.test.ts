import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderRejectedError, ProviderUnavailableError } from '@commstrat/core';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { DeclarativeHttpAdapter, shippedDefinitions } from '@commstrat/providers';
import { eventually, queuedMessage } from './harness.ts';
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
