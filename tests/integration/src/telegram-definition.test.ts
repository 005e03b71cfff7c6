import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderRejectedError, ProviderUnavailableError, type QueuedMessage } from '@commstrat/core';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { DeclarativeHttpAdapter, ProviderMisconfiguredError, shippedDefinitions } from '@commstrat/providers';
import { allowing, eventually, queuedMessage } from './harness.ts';
import { setSandboxBehaviour, startDeployment, startSandbox, type RunningSandbox } from './services.ts';

function telegram(sandbox: RunningSandbox, botToken = sandbox.token): DeclarativeHttpAdapter {
  const definition = shippedDefinitions().get('telegram-bot');
  assert.ok(definition);
  const adapter = new DeclarativeHttpAdapter({ id: 'acme/telegram', definition, baseUrl: sandbox.url, credentials: { bot_token: botToken }, egress: allowing(sandbox.url), timeoutMs: 3000 });
  test.after(() => adapter.close());
  return adapter;
}

const toChat = (chatId: string, text = 'hello'): QueuedMessage => ({ ...queuedMessage('normal', text), channel: 'messenger', recipient: { chat_id: chatId } });

async function chats(sandbox: RunningSandbox, settings: { missing_chats?: string[]; blocked_chats?: string[] }): Promise<void> {
  const response = await fetch(`${sandbox.url}/_sandbox/telegram`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings) });
  assert.equal(response.status, 200, await response.text());
}

test('Telegram: one sendMessage per message, the bot token in the path and never in the journaled request', async () => {
  const sandbox = await startSandbox();
  const adapter = telegram(sandbox);
  const message = toChat('123456789', 'Ваш заказ отправлен');
  const result = await adapter.send([message]);
  assert.equal(result.error, undefined, String(result.error));
  assert.deepEqual(result.outcomes, [{ messageId: message.id, outcome: 'accepted', providerMessageId: '123456789:1' }]);
  assert.deepEqual(JSON.parse(result.exchange.request), { chat_id: '123456789', text: 'Ваш заказ отправлен' });
  assert.doesNotMatch(result.exchange.request, new RegExp(sandbox.token));
  const second = await adapter.send([toChat('123456789')]);
  assert.equal(second.outcomes[0]?.outcome === 'accepted' && second.outcomes[0].providerMessageId, '123456789:2');
  assert.deepEqual(sandbox.received.latest(2).map((m) => [m.to, m.text]), [['123456789', 'Ваш заказ отправлен'], ['123456789', 'hello']]);
  // The definition sends one message per request.
  const two = await adapter.send([toChat('1'), toChat('2')]);
  assert.ok(two.error instanceof ProviderRejectedError);
  assert.match(two.error.message, /max_batch_size 1/);
});

test('Telegram errors are classified: bad token misconfigured, chat not found and bot blocked permanent, 429 waits retry_after', async () => {
  const sandbox = await startSandbox();
  const unauthorized = await telegram(sandbox, '123:wrong').send([toChat('1')]);
  assert.ok(unauthorized.error instanceof ProviderMisconfiguredError, String(unauthorized.error));
  assert.equal(unauthorized.exchange.httpStatus, 401);

  const adapter = telegram(sandbox);
  await chats(sandbox, { missing_chats: ['404'], blocked_chats: ['403'] });
  const missing = await adapter.send([toChat('404')]);
  assert.ok(missing.error instanceof ProviderRejectedError && !(missing.error instanceof ProviderMisconfiguredError), String(missing.error));
  assert.match(missing.exchange.response, /chat not found/);
  const blocked = await adapter.send([toChat('403')]);
  assert.ok(blocked.error instanceof ProviderRejectedError && !(blocked.error instanceof ProviderMisconfiguredError), String(blocked.error));
  assert.match(blocked.exchange.response, /bot was blocked by the user/);

  await setSandboxBehaviour(sandbox, { rate_per_second: 1 });
  assert.equal((await adapter.send([toChat('1')])).error, undefined);
  const limited = await adapter.send([toChat('1')]);
  assert.ok(limited.error instanceof ProviderUnavailableError, String(limited.error));
  assert.equal(limited.error.retryAfterSeconds, 1, 'read from parameters.retry_after');

  await setSandboxBehaviour(sandbox, { rate_per_second: 0, error_rate: 1 });
  const down = await adapter.send([toChat('1')]);
  assert.ok(down.error instanceof ProviderUnavailableError, String(down.error));
});

test('Telegram through the service: flood control is honored (the retry waits retry_after) and every message ends sent once', async () => {
  const deployment = await startDeployment();
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'telegram',
    kind: 'telegram-bot',
    endpoint: deployment.sandbox.url,
    credentials: { bot_token: deployment.sandbox.token },
    ratePerSecond: 100,
    concurrency: 1,
    maxBatchSize: 1,
    lingerMs: 0,
    timeoutMs: 5000,
  });
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'telegram-notify',
    channel: 'messenger',
    steps: [{ route: { mode: 'failover', providers: ['telegram'] }, ttl_seconds: 600 }],
  });
  await setSandboxBehaviour(deployment.sandbox, { rate_per_second: 1 });
  const item = (chat: string) => ({ strategy: 'telegram-notify', recipient: { chat_id: chat }, content: { text: `for ${chat}` } });
  const accepted = await eventually(
    'the new strategy seen by ingest',
    async () => {
      const answer = await deployment.api('POST', '/v1/messages/batch', { messages: [item('1001'), item('1002'), item('1003')] });
      if (answer.status === 202) return answer.body.accepted as { id: string }[];
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      return undefined;
    },
    20_000,
    500,
  );
  await eventually(
    'every message sent through Telegram',
    async () => {
      const all = await Promise.all(accepted.map(async ({ id }) => (await deployment.api('GET', `/v1/messages/${id}`)).body.status));
      return all.every((status) => status === 'sent') ? all : undefined;
    },
    30_000,
  );
  assert.deepEqual(deployment.sandbox.received.latest(10).map((m) => m.to).sort(), ['1001', '1002', '1003']);
  const exchanges = await deployment.db
    .collection<{ message_ids: string[]; http_status?: number; started_at: Date; duration_ms: number }>('provider_exchanges')
    .find({ message_ids: { $in: accepted.map((a) => a.id) } })
    .sort({ started_at: 1 })
    .toArray();
  const limited = exchanges.filter((e) => e.http_status === 429);
  assert.ok(limited.length > 0, 'the sandbox answered 429 at least once');
  for (const refusal of limited) {
    const next = exchanges.find((e) => e.message_ids[0] === refusal.message_ids[0] && e.started_at > refusal.started_at);
    assert.ok(next, 'the refused message was sent again');
    const waited = next.started_at.getTime() - (refusal.started_at.getTime() + refusal.duration_ms);
    assert.ok(waited >= 950, `waited ${waited} ms, retry_after said 1 s`);
  }
});
