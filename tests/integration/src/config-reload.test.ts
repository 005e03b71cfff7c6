// A configuration change reaching running replicas through PostgreSQL NOTIFY. The
// periodic refresh is set to 10 minutes, so only the notification can explain a change
// seen within 2 seconds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoutingCache, saveStrategy, upsertProvider } from '@commstrat/config';
import postgres from 'postgres';
import { eventually, holdFor } from './harness.ts';
import { startPausableProxy } from './pausable-proxy.ts';
import { startDeployment, startSandbox, LOOPBACK } from './services.ts';
import { sms } from './requests.ts';

const NO_PERIODIC_REFRESH = { COMMSTRAT_CONFIG_REFRESH_MS: '600000' };


async function dispatchedTo(baseUrl: string, provider: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('commstrat_messages_dispatched_total') && line.includes(`provider="${provider}"`))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

test('a new strategy version reaches every ingest and dispatcher replica within 2 s, without a restart', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: NO_PERIODIC_REFRESH });
  const backup = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'backup-sms',
    kind: 'http-sms',
    endpoint: backup.url,
    credentials: { token: backup.token },
    ratePerSecond: 1000,
    concurrency: 4,
    maxBatchSize: 100,
    lingerMs: 5,
    timeoutMs: 10_000,
  });
  const secondIngest = await deployment.startIngest();
  const secondDispatcher = await deployment.startDispatcher();
  const dispatchers = [deployment.dispatcher?.url ?? '', secondDispatcher.url];
  const secondApi = async (body: object) => {
    const response = await fetch(`${secondIngest.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${deployment.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return response.status;
  };

  // Both ingest replicas hold the tenant, and neither knows a strategy "promo".
  assert.equal((await deployment.api('POST', '/v1/messages', sms('warm'))).status, 202);
  assert.equal(await secondApi(sms('warm')), 202);
  assert.equal((await deployment.api('POST', '/v1/messages', sms('x', { strategy: 'promo' }))).status, 422);
  assert.equal(await secondApi(sms('x', { strategy: 'promo' })), 422);
  await eventually('the warm-up messages to be sent', () =>
    Promise.resolve(deployment.sandbox.received.size === 2 ? true : undefined),
  );

  const changedAt = Date.now();
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'promo',
    channel: 'sms',
    steps: [{ route: { mode: 'failover', providers: ['backup-sms'] } }],
  });
  await saveStrategy(
    deployment.sql,
    deployment.tenantId,
    { name: 'sms-default', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['backup-sms'] } }] },
    { defaultForChannel: true },
  );
  await eventually(
    'both ingest replicas to know strategy "promo"',
    async () => {
      const first = (await deployment.api('POST', '/v1/messages', sms('p', { strategy: 'promo' }))).status;
      const second = await secondApi(sms('p', { strategy: 'promo' }));
      return first === 202 && second === 202 ? true : undefined;
    },
    2000,
    50,
  );
  const seenWithin = Date.now() - changedAt;

  // By now (within 2 s of the change) every dispatcher routes by version 2.
  await holdFor(Math.max(0, 2000 - (Date.now() - changedAt)), 'the 2 s within which every dispatcher routes by the new version');
  const before = await Promise.all(dispatchers.map((url) => dispatchedTo(url, 'acme/backup-sms')));
  const oldProviderBefore = deployment.sandbox.received.size;
  for (let i = 0; i < 40; i++) {
    assert.equal((await deployment.api('POST', '/v1/messages', sms(`after ${i}`))).status, 202);
    await holdFor(25, 'messages spread over the reload');
  }
  await eventually('every message after the change to reach the new provider', () =>
    Promise.resolve(backup.received.size >= 42 ? true : undefined),
  );
  assert.equal(deployment.sandbox.received.size, oldProviderBefore, 'nothing more went to the old provider');
  const after = await Promise.all(dispatchers.map((url) => dispatchedTo(url, 'acme/backup-sms')));
  after.forEach((count, i) => {
    assert.ok(count > (before[i] ?? 0), `dispatcher ${i + 1} sent by the new version (${before[i]} → ${count})`);
  });
  assert.ok(seenWithin < 2000, `ingest saw the change after ${seenWithin} ms`);
});

test('a change made by hand in SQL is seen too: the trigger notifies, not the config store', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: NO_PERIODIC_REFRESH });
  assert.equal((await deployment.api('POST', '/v1/messages', sms('x', { strategy: 'manual' }))).status, 422);
  const definition = { name: 'manual', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] } }] };
  await deployment.sql`INSERT INTO strategies (tenant_id, name, version, channel, definition)
                       VALUES (${deployment.tenantId}, 'manual', 1, 'sms', ${deployment.sql.json(definition)})`;
  await eventually(
    'ingest to know strategy "manual"',
    async () => ((await deployment.api('POST', '/v1/messages', sms('m', { strategy: 'manual' }))).status === 202 ? true : undefined),
    2000,
    50,
  );
});

test('a notification missed while the listener was cut off is made up for when it reconnects', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  const url = new URL(deployment.env['COMMSTRAT_POSTGRES_URL'] ?? '');
  const proxy = await startPausableProxy({ host: url.hostname, port: Number(url.port) });
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  // Named, to tell its listener from the ingest replica's.
  const sql = postgres(url.toString(), { max: 2, onnotice: () => {}, connection: { application_name: 'reload-test' } });
  const cache = new RoutingCache(sql, { refreshMs: 600_000 });
  try {
    await cache.listen();
    assert.equal((await cache.resolve(deployment.tenantId, { channel: 'sms' })).version, 1);
    // Cut the listener off, change the strategy meanwhile (its NOTIFY goes nowhere),
    // then let the replica reach PostgreSQL again.
    proxy.pause();
    const cut = await deployment.sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                     WHERE application_name = 'reload-test' AND query ILIKE 'listen %'`;
    assert.equal(cut.length, 1, 'the listener connection was found and cut');
    await saveStrategy(
      deployment.sql,
      deployment.tenantId,
      { name: 'sms-default', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ttl_seconds: 60 }] },
      { defaultForChannel: true },
    );
    proxy.resume();
    await eventually('the cache to read version 2 after the listener reconnects', async () =>
      (await cache.resolve(deployment.tenantId, { channel: 'sms' })).version === 2 ? true : undefined,
    );
  } finally {
    proxy.resume();
    await cache.close();
    await sql.end({ timeout: 1 });
  }
});
