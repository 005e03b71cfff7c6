// The configuration store (PostgreSQL) going away under a running dispatcher. The
// dispatcher reaches PostgreSQL through a proxy of this test's own, paused to stand for
// a stopped server: the stack's PostgreSQL is shared and never paused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DependencyUnavailableError } from '@commstrat/core';
import { RoutingCache } from '@commstrat/config';
import postgres from 'postgres';
import { eventually, holdFor } from './harness.ts';
import { startPausableProxy, type PausableProxy } from './pausable-proxy.ts';
import { startDeployment, type Deployment } from './services.ts';

interface Timeline {
  status: string;
  timeline: { status: string; reason?: string }[];
}

/** The deployment's PostgreSQL URL, through a pausable proxy. */
async function proxiedPostgres(deployment: Deployment): Promise<{ proxy: PausableProxy; url: string }> {
  const url = new URL(deployment.env['COMMSTRAT_POSTGRES_URL'] ?? '');
  const proxy = await startPausableProxy({ host: url.hostname, port: Number(url.port) });
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

async function postDueSoon(deployment: Deployment, count: number, inMs: number): Promise<string[]> {
  const sendAt = new Date(Date.now() + inMs).toISOString();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { status, body } = await deployment.api('POST', '/v1/messages', {
      channel: 'sms',
      recipient: { phone: '+79161234567' },
      content: { text: `due ${i}` },
      send_at: sendAt,
    });
    assert.equal(status, 202, JSON.stringify(body));
    ids.push(body.id as string);
  }
  return ids;
}

async function timelineOf(deployment: Deployment, id: string): Promise<Timeline> {
  return (await deployment.api('GET', `/v1/messages/${id}`)).body as Timeline;
}

function untilAll(deployment: Deployment, ids: string[], accept: (message: Timeline) => boolean, what: string) {
  return eventually(
    what,
    async () => {
      const messages = await Promise.all(ids.map((id) => timelineOf(deployment, id)));
      return messages.every(accept) ? messages : undefined;
    },
    30_000,
  );
}

/** Nothing a library or server said reaches the tenant: every reason is one of ours. */
function assertOwnReasons(messages: Timeline[]): void {
  for (const message of messages) {
    assert.ok(!message.timeline.some((event) => event.status === 'failed'), JSON.stringify(message));
    for (const { reason } of message.timeline) {
      assert.doesNotMatch(reason ?? '', /Error|CONNECT|ECONN|timeout|127\.0\.0\.1/, JSON.stringify(message));
    }
  }
}

async function metric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  assert.ok(line !== undefined, `${name} is exported`);
  return Number(line.split(' ').at(-1));
}

test('with the store unreachable a warmed dispatcher sends due messages by the last known configuration', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { proxy, url } = await proxiedPostgres(deployment);
  const dispatcher = await deployment.startDispatcher({
    COMMSTRAT_POSTGRES_URL: url,
    COMMSTRAT_CONFIG_REFRESH_MS: '300',
  });
  const [warm] = await postDueSoon(deployment, 1, 0);
  await untilAll(deployment, [warm ?? ''], (m) => m.status === 'sent', 'the warm-up message to be sent');

  proxy.pause();
  const due = await postDueSoon(deployment, 3, 1500);
  // Longer than the refresh interval and the read timeout (3 s): the snapshot has
  // expired and reads of it have failed by the time the messages are routed.
  await holdFor(4000, 'longer than the refresh interval and the read timeout: the snapshot expires');
  const sent = await untilAll(deployment, due, (m) => m.status === 'sent', 'the due messages to be sent');
  assertOwnReasons(sent);
  assert.ok((await metric(dispatcher.url, 'commstrat_config_age_seconds')) >= 3, 'the served configuration is reported old');
  assert.ok((await metric(dispatcher.url, 'commstrat_config_refresh_failures_total')) >= 1, 'failed reads are counted');

  proxy.resume();
  await eventually('the configuration to be read again', async () =>
    (await metric(dispatcher.url, 'commstrat_config_age_seconds')) < 2 ? true : undefined,
  );
});

test('with the store unreachable before a tenant was ever read, due messages wait and are sent once it is back', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { proxy, url } = await proxiedPostgres(deployment);
  proxy.pause();
  await deployment.startDispatcher({ COMMSTRAT_POSTGRES_URL: url, COMMSTRAT_CONFIG_REFRESH_MS: '300' });
  const due = await postDueSoon(deployment, 3, 500);
  const waiting = await untilAll(
    deployment,
    due,
    (m) => m.timeline.some((event) => event.reason === 'waiting for the configuration store; will retry'),
    'the due messages to wait for the store',
  );
  assertOwnReasons(waiting);
  // Still waiting a while later: a wait is not a failure, however long the outage.
  await holdFor(3000, 'a long outage: the messages keep waiting, none fails');
  for (const id of due) assert.notEqual((await timelineOf(deployment, id)).status, 'failed');

  proxy.resume();
  const sent = await untilAll(deployment, due, (m) => m.status === 'sent', 'the due messages to be sent');
  assertOwnReasons(sent);
  assert.equal(deployment.sandbox.received.size, 3);
});

test('past maxStaleMs the cache refuses to route by an old snapshot, and serves again once it reads', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { proxy, url } = await proxiedPostgres(deployment);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  let now = Date.now();
  const cache = new RoutingCache(sql, { refreshMs: 60_000, maxStaleMs: 10_000, readTimeoutMs: 500, clock: () => now });
  try {
    const sms = { channel: 'sms' } as const;
    assert.equal((await cache.resolve(deployment.tenantId, sms)).strategy.name, 'sms-default');
    proxy.pause();
    now += 9_000;
    assert.equal((await cache.resolve(deployment.tenantId, sms)).strategy.name, 'sms-default', 'stale but young enough');
    now += 2_000;
    await assert.rejects(cache.resolve(deployment.tenantId, sms), DependencyUnavailableError);
    proxy.resume();
    assert.equal((await cache.resolve(deployment.tenantId, sms)).version, 1);
  } finally {
    proxy.resume();
    await cache.close();
    await sql.end({ timeout: 1 });
  }
});
