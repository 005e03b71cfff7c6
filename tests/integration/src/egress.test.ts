// The egress policy through the real API and a real dispatcher: a deployment whose
// policy allows only its own sandbox refuses every internal target a tenant can aim
// (the measured bypasses: loopback however spelled, [::1], cloud metadata, the stack's
// own Redis, PostgreSQL and Prometheus), at the API with 422 naming the field, and at
// send time as `misconfigured`, with nothing ever reaching the listener.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { ensureTenantWithKey, generateApiKey, saveStrategy, upsertProvider } from '@commstrat/config';
import { CallbackStore } from '@commstrat/journal';
import { eventually, stackEnv } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';

/** A listener on loopback that must never be reached: it counts connections, not only requests. */
async function forbiddenListener() {
  let connections = 0;
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200).end('{}');
  });
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  return { port, connections: () => connections };
}

/** The internal targets a tenant must not make the service call, the listener's port in each loopback spelling. */
function internalTargets(port: number): string[] {
  const { redisUrl, postgresUrl, prometheusUrl } = stackEnv();
  const portOf = (url: string, fallback: number) => new URL(url).port || String(fallback);
  return [
    `http://127.0.0.1:${port}/cb`,
    `http://localhost:${port}/cb`,
    `http://2130706433:${port}/cb`,
    `http://127.1:${port}/cb`,
    `http://0x7f000001:${port}/cb`,
    `http://0177.0.0.1:${port}/cb`,
    `http://[::1]:${port}/cb`,
    `http://[::ffff:127.0.0.1]:${port}/cb`,
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/cb',
    'http://[fd00::1]/cb',
    `http://127.0.0.1:${portOf(redisUrl, 6379)}/`,
    `http://127.0.0.1:${portOf(postgresUrl, 5432)}/`,
    `http://127.0.0.1:${portOf(prometheusUrl, 9090)}/-/reload`,
  ];
}

const sms = (callbackUrl?: string) => ({
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text: 'hello' },
  ...(callbackUrl === undefined ? {} : { callback_url: callbackUrl }),
});

async function adminApi(deployment: Deployment) {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, key, 'admin', ['admin']);
  return async (method: string, path: string, body: unknown) => {
    const response = await fetch(`${deployment.ingest.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { error: { code: string; problems: { path: string; message: string }[] } } };
  };
}

test('the API refuses every internal callback URL, alone and in a batch, with 422 naming the field', async () => {
  const target = await forbiddenListener();
  const deployment = await startDeployment();
  for (const url of internalTargets(target.port)) {
    const { status, body } = await deployment.api('POST', '/v1/messages', sms(url));
    assert.equal(status, 422, `${url}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, 'egress_refused', url);
    assert.deepEqual(body.error.problems.map((p: { path: string }) => p.path), ['/callback_url'], url);
  }
  const batch = await deployment.api('POST', '/v1/messages/batch', { messages: [sms(), sms(`http://2130706433:${target.port}/cb`), sms()] });
  assert.equal(batch.status, 207);
  assert.deepEqual(batch.body.accepted.map((a: { index: number }) => a.index), [0, 2]);
  assert.deepEqual(batch.body.rejected.map((r: any) => [r.index, r.error.code, r.error.problems[0].path]), [[1, 'egress_refused', '/callback_url']]);
  const atomic = await deployment.api('POST', '/v1/messages/batch', { atomic: true, messages: [sms(), sms(`http://[::1]:${target.port}/cb`)] });
  assert.equal(atomic.status, 422);
  assert.equal(atomic.body.error.problems[0].path, '/messages/1/callback_url');
  // A public URL still passes (it is only called later, and not by this test).
  assert.equal((await deployment.api('POST', '/v1/messages', sms('https://93.184.216.34/hooks'))).status, 202);
  assert.equal(target.connections(), 0);
});

test('the admin API refuses internal callback URLs, provider endpoints and token URLs, naming the field', async () => {
  const target = await forbiddenListener();
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await adminApi(deployment);
  for (const url of internalTargets(target.port)) {
    const callback = await admin('PUT', '/v1/admin/callbacks', { callback_url: url });
    assert.equal(callback.status, 422, `${url}: ${JSON.stringify(callback.body)}`);
    assert.deepEqual([callback.body.error.code, callback.body.error.problems[0]?.path], ['egress_refused', '/callback_url'], url);
  }
  const endpoints = [`http://127.1:${target.port}/hook`, `http://[::1]:${target.port}/`, 'http://169.254.169.254/'];
  for (const endpoint of endpoints) {
    for (const kind of ['webhook', 'http-sms']) {
      const put = await admin('PUT', `/v1/admin/providers/p-${kind}`, { kind, endpoint, credentials: { secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0', token: 't' } });
      assert.equal(put.status, 422, `${kind} ${endpoint}: ${JSON.stringify(put.body)}`);
      assert.deepEqual([put.body.error.code, put.body.error.problems[0]?.path], ['egress_refused', '/endpoint']);
    }
  }
  const smtp = await admin('PUT', '/v1/admin/providers/mail', { kind: 'smtp', endpoint: `smtp://localhost:${target.port}`, credentials: { from: 'a@b.example' } });
  assert.deepEqual([smtp.status, smtp.body.error.problems[0]?.path], [422, '/endpoint']);
  // An inline definition whose OAuth token URL is internal, and a definition saved on its own.
  const definition = {
    name: 'oauth-api',
    channel: 'sms',
    follows: 'an OAuth2 API, for this test',
    errors: [],
    send: { method: 'POST', path: '/send', max_batch_size: 1, body: { to: '{{ messages[0].recipient.phone }}' } },
    response: { items: '$', accepted: { path: '$.id' }, provider_message_id: '$.id' },
    auth: { type: 'oauth2_client_credentials', token_url: `http://0x7f000001:${target.port}/token`, client_id: 'id', client_secret: 's', scope: 'send' },
  };
  const inline = await admin('PUT', '/v1/admin/providers/oauth', { definition, endpoint: 'https://93.184.216.34', credentials: {} });
  assert.equal(inline.status, 422, JSON.stringify(inline.body));
  assert.deepEqual(inline.body.error.problems.map((p) => p.path), ['/definition/auth/token_url']);
  const saved = await admin('PUT', '/v1/admin/provider-definitions/oauth-api', definition);
  assert.equal(saved.status, 422, JSON.stringify(saved.body));
  assert.deepEqual(saved.body.error.problems.map((p) => p.path), ['/auth/token_url']);
  // The sandbox the deployment allows is accepted.
  const allowed = await admin('PUT', '/v1/admin/providers/sandbox-2', { kind: 'http-sms', endpoint: deployment.sandbox.url, credentials: { token: 't' } });
  assert.equal(allowed.status, 201, JSON.stringify(allowed.body));
  assert.equal(target.connections(), 0);
});

test('targets that reached the store some other way are refused at send time as misconfigured, never connected to', async () => {
  const target = await forbiddenListener();
  const deployment = await startDeployment({ env: { DISPATCHER_CALLBACK_POLL_MS: '50' } });
  // Rows written before the policy existed (or straight into PostgreSQL): the tenant's
  // default callback URL and a webhook provider, both aimed at loopback.
  await deployment.sql`UPDATE tenants SET callback_url = ${`http://2130706433:${target.port}/default`} WHERE id = ${deployment.tenantId}`;
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'internal-hook',
    kind: 'webhook',
    endpoint: `http://127.1:${target.port}/hook`,
    credentials: { secret: 'whsec_c2VjcmV0c2VjcmV0c2VjcmV0' },
    ratePerSecond: 100,
    concurrency: 1,
    maxBatchSize: 1,
    lingerMs: 0,
    timeoutMs: 2000,
  });
  await saveStrategy(
    deployment.sql,
    deployment.tenantId,
    { name: 'webhooks', channel: 'webhook', steps: [{ route: { mode: 'failover', providers: ['internal-hook'] }, ttl_seconds: 600 }] },
    { defaultForChannel: true },
  );
  const hook = await deployment.api('POST', '/v1/messages', { channel: 'webhook', recipient: { chat_id: 'x' }, content: { text: 'to an internal hook' } });
  assert.equal(hook.status, 202, JSON.stringify(hook.body));
  const failed = await eventually('the webhook message to fail', async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${hook.body.id}`);
    return body.status === 'failed' ? body : undefined;
  }, 20_000);
  assert.match(failed.timeline.at(-1).reason, /misconfigured: check its endpoint/);
  assert.match(failed.timeline.at(-1).reason, /loopback address/);

  // The tenant has a default callback URL now: an SMS message's callbacks go there, and are abandoned at once.
  const sent = await deployment.api('POST', '/v1/messages', sms());
  assert.equal(sent.status, 202);
  const store = new CallbackStore(deployment.db);
  const records = await eventually('the callbacks abandoned', async () => {
    const found = await store.forMessage(sent.body.id);
    return found.length > 0 && found.every((r) => r.state === 'abandoned') ? found : undefined;
  }, 20_000);
  for (const record of records) {
    assert.equal(record.attempts.length, 1, 'no retry: the same URL is refused again');
    assert.match(record.attempts[0]?.error ?? '', /^misconfigured: callback URL aims at 127\.0\.0\.1:\d+, a loopback address/);
  }
  assert.equal(target.connections(), 0);
});
