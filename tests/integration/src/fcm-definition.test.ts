import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { ProviderRejectedError, ProviderUnavailableError, type QueuedMessage } from '@commstrat/core';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { DeclarativeHttpAdapter, ProviderMisconfiguredError, shippedDefinitions } from '@commstrat/providers';
import { eventually, queuedMessage, holdFor, allowing } from './harness.ts';
import { setSandboxBehaviour, startDeployment, startSandbox, type RunningSandbox } from './services.ts';

type ServiceAccount = Record<string, string>;

async function serviceAccount(sandbox: RunningSandbox): Promise<ServiceAccount> {
  const response = await fetch(`${sandbox.url}/_sandbox/fcm/service-account`);
  assert.equal(response.status, 200);
  return (await response.json()) as ServiceAccount;
}

async function fcmControls(sandbox: RunningSandbox, settings: Record<string, unknown> = {}): Promise<{ token_requests: number }> {
  const response = await fetch(`${sandbox.url}/_sandbox/fcm`, {
    method: Object.keys(settings).length === 0 ? 'GET' : 'PUT',
    ...(Object.keys(settings).length === 0 ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(settings) }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { token_requests: number };
}

function fcm(sandbox: RunningSandbox, credentials: ServiceAccount): DeclarativeHttpAdapter {
  const definition = shippedDefinitions().get('fcm-v1');
  assert.ok(definition);
  const adapter = new DeclarativeHttpAdapter({ id: 'acme/fcm', definition, baseUrl: sandbox.url, credentials, egress: allowing(sandbox.url), timeoutMs: 3000 });
  test.after(() => adapter.close());
  return adapter;
}

const toDevice = (token: string, text = 'Your order shipped'): QueuedMessage => ({
  ...queuedMessage('normal', text),
  channel: 'push',
  recipient: { push_token: token },
  content: { subject: 'Acme', text },
});

test('FCM: a JWT-bearer token is fetched once and reused across sends; each message gets FCM’s message name', async () => {
  const sandbox = await startSandbox();
  const adapter = fcm(sandbox, await serviceAccount(sandbox));
  const messages = [toDevice('device-a'), toDevice('device-b'), toDevice('device-c')];
  const results = await Promise.all(messages.map((message) => adapter.send([message])));
  for (const [i, result] of results.entries()) {
    assert.equal(result.error, undefined, String(result.error));
    const outcome = result.outcomes[0];
    assert.ok(outcome?.outcome === 'accepted' && /^projects\/sandbox-project\/messages\//.test(outcome.providerMessageId), JSON.stringify(outcome));
    assert.deepEqual(JSON.parse(result.exchange.request), {
      message: {
        token: messages[i]!.recipient.push_token,
        notification: { title: 'Acme', body: 'Your order shipped' },
        data: { commstrat_message_id: messages[i]!.id },
      },
    });
  }
  assert.equal((await fcmControls(sandbox)).token_requests, 1, 'one token for concurrent sends');
  assert.equal(adapter.auth.tokenRequests, 1);
  assert.deepEqual(sandbox.received.latest(3).map((m) => m.to).sort(), ['device-a', 'device-b', 'device-c']);
});

test('FCM: the token is fetched again after it expires, and after a 401 (revoked) the send is retried once with a new one', async () => {
  const sandbox = await startSandbox();
  await fcmControls(sandbox, { token_expires_in: 2 });
  const adapter = fcm(sandbox, await serviceAccount(sandbox));
  assert.equal((await adapter.send([toDevice('d1')])).error, undefined);
  assert.equal((await adapter.send([toDevice('d1')])).error, undefined);
  assert.equal((await fcmControls(sandbox)).token_requests, 1);
  // A 2 s token is used for its first half (the margin is at most half the lifetime).
  await holdFor(1100, 'past the first half of the 2 s token');
  assert.equal((await adapter.send([toDevice('d1')])).error, undefined);
  assert.equal((await fcmControls(sandbox)).token_requests, 2, 'renewed before it expired');

  await fcmControls(sandbox, { token_expires_in: 3599, revoke_tokens: true });
  const afterRevoke = await adapter.send([toDevice('d2')]);
  assert.equal(afterRevoke.error, undefined, String(afterRevoke.error));
  assert.equal((await fcmControls(sandbox)).token_requests, 3, 'one new token after the 401');
  assert.equal(sandbox.received.list({ clientRef: undefined, to: 'd2' }).length, 1, 'sent once');
});

test('FCM errors are classified: UNREGISTERED and INVALID_ARGUMENT permanent, QUOTA_EXCEEDED waits Retry-After, UNAVAILABLE and INTERNAL retryable', async () => {
  const sandbox = await startSandbox();
  const adapter = fcm(sandbox, await serviceAccount(sandbox));
  await fcmControls(sandbox, { unregistered_tokens: ['gone'] });
  const unregistered = await adapter.send([toDevice('gone')]);
  assert.ok(unregistered.error instanceof ProviderRejectedError && !(unregistered.error instanceof ProviderMisconfiguredError), String(unregistered.error));
  assert.match(unregistered.exchange.response, /"errorCode":"UNREGISTERED"/);

  const kinds: [string, 'permanent' | 'misconfigured' | 'retryable'][] = [
    ['INVALID_ARGUMENT', 'permanent'],
    ['SENDER_ID_MISMATCH', 'permanent'],
    ['QUOTA_EXCEEDED', 'retryable'],
    ['UNAVAILABLE', 'retryable'],
    ['INTERNAL', 'retryable'],
    ['THIRD_PARTY_AUTH_ERROR', 'misconfigured'],
  ];
  for (const [code, kind] of kinds) {
    await fcmControls(sandbox, { force_error: code });
    const { error, exchange } = await adapter.send([toDevice('d')]);
    const seen = error instanceof ProviderMisconfiguredError ? 'misconfigured' : error instanceof ProviderRejectedError ? 'permanent' : error instanceof ProviderUnavailableError ? 'retryable' : String(error);
    assert.equal(seen, kind, code);
    assert.match(exchange.response, new RegExp(`"errorCode":"${code}"`));
    if (code === 'QUOTA_EXCEEDED') assert.equal(error?.retryAfterSeconds, 1);
  }
  await fcmControls(sandbox, { force_error: null });
  await setSandboxBehaviour(sandbox, { rate_per_second: 1 });
  assert.equal((await adapter.send([toDevice('d')])).error, undefined);
  const limited = await adapter.send([toDevice('d')]);
  assert.ok(limited.error instanceof ProviderUnavailableError && limited.error.retryAfterSeconds === 1, String(limited.error));
});

test('FCM auth failures: a key the service account does not have and a wrong project are misconfigured, a token endpoint outage retryable', async () => {
  const sandbox = await startSandbox();
  const account = await serviceAccount(sandbox);
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const wrongKey = await fcm(sandbox, { ...account, private_key: otherKey }).send([toDevice('d')]);
  assert.ok(wrongKey.error instanceof ProviderMisconfiguredError, String(wrongKey.error));
  assert.match(wrongKey.exchange.response, /invalid_grant/);
  assert.doesNotMatch(wrongKey.exchange.response + wrongKey.error.message, /PRIVATE KEY/);
  const garbageKey = await fcm(sandbox, { ...account, private_key: 'not a key' }).send([toDevice('d')]);
  assert.ok(garbageKey.error instanceof ProviderMisconfiguredError, String(garbageKey.error));

  const wrongProject = await fcm(sandbox, { ...account, project_id: 'someone-else' }).send([toDevice('d')]);
  assert.ok(wrongProject.error instanceof ProviderMisconfiguredError, String(wrongProject.error));
  assert.equal(wrongProject.exchange.httpStatus, 403);

  await fcmControls(sandbox, { token_endpoint_down: true });
  const outage = await fcm(sandbox, account).send([toDevice('d')]);
  assert.ok(outage.error instanceof ProviderUnavailableError && !(outage.error instanceof ProviderRejectedError), String(outage.error));
  assert.equal(sandbox.received.size, 0, 'nothing was sent');
  assert.equal((await fcmControls(sandbox)).token_requests, 1, 'only the wrong project’s good key got a token');
});

test('FCM through the service: push messages end sent, the dispatcher asking for one token for all of them', async () => {
  const deployment = await startDeployment();
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'fcm',
    kind: 'fcm-v1',
    endpoint: deployment.sandbox.url,
    credentials: await serviceAccount(deployment.sandbox),
    ratePerSecond: 100,
    concurrency: 2,
    maxBatchSize: 1,
    lingerMs: 0,
    timeoutMs: 5000,
  });
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'app-push',
    channel: 'push',
    steps: [{ route: { mode: 'failover', providers: ['fcm'] }, ttl_seconds: 600 }],
  });
  const item = (token: string) => ({ strategy: 'app-push', recipient: { push_token: token }, content: { subject: 'Acme', text: `for ${token}` } });
  const accepted = await eventually(
    'the new strategy seen by ingest',
    async () => {
      const answer = await deployment.api('POST', '/v1/messages/batch', { messages: [item('t1'), item('t2'), item('t3'), item('t4')] });
      if (answer.status === 202) return answer.body.accepted as { id: string }[];
      assert.equal(answer.status, 422, JSON.stringify(answer.body));
      return undefined;
    },
    20_000,
    500,
  );
  const views = await eventually('every push sent through FCM', async () => {
    const all = await Promise.all(accepted.map(async ({ id }) => (await deployment.api('GET', `/v1/messages/${id}`)).body));
    return all.every((view) => view.status === 'sent') ? all : undefined;
  });
  for (const view of views) {
    const sent = view.timeline.find((e: { status: string }) => e.status === 'sent');
    assert.equal(sent.provider, 'fcm');
    assert.match(sent.provider_message_id, /^projects\/sandbox-project\/messages\//);
  }
  assert.equal((await fcmControls(deployment.sandbox)).token_requests, 1);
});
