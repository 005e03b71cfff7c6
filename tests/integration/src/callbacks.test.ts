import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { callbackTargetOf, ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { CallbackStore, type CallbackRecord } from '@commstrat/journal';
import { Webhook } from 'standardwebhooks';
import { eventually } from './harness.ts';
import { spawnApp, startDeployment, type Deployment, LOOPBACK } from './services.ts';

/** Quick retries and polls, so a test sees several attempts in a second or two. */
const FAST = {
  DISPATCHER_CALLBACK_BASE_DELAY_MS: '100',
  DISPATCHER_CALLBACK_MAX_DELAY_MS: '400',
  DISPATCHER_CALLBACK_POLL_MS: '50',
};

const sms = (text: string, callbackUrl?: string) => ({
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text },
  ...(callbackUrl === undefined ? {} : { callback_url: callbackUrl }),
});

interface Delivery {
  readonly path: string;
  /** The Standard Webhooks headers as received. */
  readonly headers: { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string };
  readonly signature: string;
  readonly eventId: string;
  readonly body: string;
  readonly payload: { event_id: string; message_id: string; status: string; previous_status: string | null; seq: number; tenant_id: string };
}

/**
 * A tenant's callback receiver. Each path answers as `behave` says: a status code, or
 * `hang` (never answers). Answered deliveries are kept; hung ones are counted.
 */
async function startReceiver(behave: (path: string, seen: number) => number | 'hang') {
  const deliveries: Delivery[] = [];
  /** Every request received, answered or not: its path, webhook-id and what it was answered. */
  const attempts: { path: string; webhookId: string; answer: number | 'hang'; delivery: Omit<Delivery, 'payload' | 'eventId'> }[] = [];
  const hanging: ServerResponse[] = [];
  const seenByPath = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const path = req.url ?? '/';
      const seen = seenByPath.get(path) ?? 0;
      seenByPath.set(path, seen + 1);
      const answer = behave(path, seen);
      const headers = {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      };
      const received = { path, headers, body: Buffer.concat(chunks).toString('utf8'), signature: String(req.headers['x-commstrat-signature']) };
      attempts.push({ path, webhookId: headers['webhook-id'], answer, delivery: received });
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      if (answer >= 200 && answer < 300) {
        deliveries.push({
          path,
          headers,
          body,
          signature: String(req.headers['x-commstrat-signature']),
          eventId: String(req.headers['x-commstrat-event-id']),
          payload: JSON.parse(body) as Delivery['payload'],
        });
      }
      res.writeHead(answer, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (path: string) => `${base}${path}`,
    deliveries,
    attempts,
    hanging,
    /** Each event once (a repeat is a duplicate delivery), in the order first received. */
    events: (path: string, messageId: string) => {
      const seen = new Set<string>();
      return deliveries.filter((d) => d.path === path && d.payload.message_id === messageId && !seen.has(d.eventId) && seen.add(d.eventId));
    },
  };
}

/** The documented check (docs/api.md#verifying-a-callback): HMAC-SHA256 of "<t>.<body>", within 5 minutes. */
function verify(secret: string, header: string, body: string, now = Date.now()): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (match === null) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  const given = Buffer.from(match[2] ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected) && Math.abs(now / 1000 - Number(match[1])) <= 300;
}

async function send(deployment: Deployment, body: object, api = deployment.api): Promise<string> {
  const { status, body: answer } = await api('POST', '/v1/messages', body);
  assert.equal(status, 202, JSON.stringify(answer));
  return answer.id as string;
}

const statuses = (events: readonly Delivery[]) => events.map((d) => d.payload.status);

test('a message sent end to end is called back once per status change, in order, each signed with the tenant secret', async () => {
  const receiver = await startReceiver(() => 200);
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: FAST });
  const id = await send(deployment, sms('called back', receiver.url('/hooks')));
  const events = await eventually('callbacks up to sent', () => {
    const got = receiver.events('/hooks', id);
    return Promise.resolve(got.length >= 3 ? got : undefined);
  });
  assert.deepEqual(statuses(events), ['accepted', 'queued', 'sent']);
  assert.deepEqual(events.map((d) => d.payload.previous_status), [null, 'accepted', 'queued']);
  assert.deepEqual(events.map((d) => d.eventId), events.map((d) => d.payload.event_id));
  assert.ok(events.every((d) => d.payload.tenant_id === deployment.tenantId));
  const target = await callbackTargetOf(deployment.sql, deployment.tenantId);
  assert.ok(target !== null);
  // Standard Webhooks, checked by the specification's own library with the tenant's secret
  // as the admin API shows it: signature, timestamp within 5 minutes, and the event id.
  const webhook = new Webhook(target.secret);
  for (const delivery of events) {
    assert.deepEqual(webhook.verify(delivery.body, delivery.headers), delivery.payload);
    assert.equal(delivery.headers['webhook-id'], delivery.payload.event_id);
    assert.throws(() => webhook.verify(delivery.body.replace(/"status":"[a-z_]+"/, '"status":"delivered"'), delivery.headers), /No matching signature/);
    assert.throws(() => new Webhook(`whsec_${Buffer.from('another secret').toString('base64')}`).verify(delivery.body, delivery.headers), /No matching signature/);
    // The deprecated header, still sent for one release, verifies as documented before.
    assert.ok(verify(target.secret, delivery.signature, delivery.body), 'the tenant secret verifies it');
    assert.equal(verify(`${target.secret}x`, delivery.signature, delivery.body), false, 'another secret does not');
    assert.equal(verify(target.secret, delivery.signature, delivery.body.replace(/"status":"[a-z_]+"/, '"status":"delivered"')), false, 'nor does a changed body');
  }
  // Every attempt is journaled, without the secret.
  const records = await new CallbackStore(deployment.db).forMessage(id);
  assert.deepEqual(records.map((r) => [r.state, r.attempts.length, r.attempts[0]?.status_code]), [
    ['delivered', 1, 200],
    ['delivered', 1, 200],
    ['delivered', 1, 200],
  ]);
  assert.equal(JSON.stringify(records).includes(target.secret), false);
});

test('a receiver that answers 500 twice then 200 gets the callback again, and every attempt is recorded', async () => {
  const receiver = await startReceiver((_path, seen) => (seen < 2 ? 500 : 200));
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: FAST });
  const id = await send(deployment, sms('flaky receiver', receiver.url('/flaky')));
  const store = new CallbackStore(deployment.db);
  const records = await eventually('every callback delivered', async () => {
    const found = await store.forMessage(id);
    return found.length === 3 && found.every((r) => r.state === 'delivered') ? found : undefined;
  });
  const first = records[0] as CallbackRecord;
  assert.deepEqual(first.attempts.map((a) => [a.attempt, a.status_code, a.error ?? null]), [
    [1, 500, 'http_500'],
    [2, 500, 'http_500'],
    [3, 200, null],
  ]);
  assert.ok(first.attempts.every((a) => a.url === receiver.url('/flaky') && a.duration_ms >= 0));
  assert.ok(first.attempts[0]?.next_attempt_at instanceof Date && first.attempts[2]?.next_attempt_at === null);
  assert.deepEqual(statuses(receiver.events('/flaky', id)), ['accepted', 'queued', 'sent']);
  // Every attempt at one event carries the same webhook-id, each signed afresh.
  const target = await callbackTargetOf(deployment.sql, deployment.tenantId);
  assert.ok(target !== null);
  const firstEvent = receiver.attempts.filter((a) => a.path === '/flaky' && a.webhookId === first._id);
  assert.deepEqual(firstEvent.map((a) => a.answer), [500, 500, 200]);
  for (const attempt of firstEvent) new Webhook(target.secret).verify(attempt.delivery.body, attempt.delivery.headers);
  const metrics = await (await fetch(`${deployment.dispatcher?.url}/metrics`)).text();
  assert.match(metrics, /commstrat_callback_attempts_total\{outcome="failed"[^}]*\} 2\n/);
  assert.match(metrics, /commstrat_callback_attempts_total\{outcome="delivered"[^}]*\} 3\n/);
});

test("a tenant's hanging receiver holds up neither dispatch nor another tenant's callbacks", async () => {
  const receiver = await startReceiver((path) => (path === '/hang' ? 'hang' : 200));
  const deployment = await startDeployment({
    egressAllow: [LOOPBACK],
    env: { ...FAST, DISPATCHER_CALLBACK_TIMEOUT_MS: '60000', DISPATCHER_CALLBACK_CONCURRENCY: '4', DISPATCHER_CALLBACK_TENANT_CONCURRENCY: '2' },
  });
  const other = await deployment.addTenant('globex');
  const stuck = await Promise.all([1, 2, 3].map((n) => send(deployment, sms(`stuck ${n}`, receiver.url('/hang')))));
  await eventually('the stuck tenant to fill its slots', () => Promise.resolve(receiver.hanging.length >= 2 ? true : undefined));
  const fine = await send(deployment, sms('fine', receiver.url('/fine')), other);
  await eventually("the other tenant's callbacks", () => Promise.resolve(receiver.events('/fine', fine).length >= 3 ? true : undefined));
  assert.deepEqual(statuses(receiver.events('/fine', fine)), ['accepted', 'queued', 'sent']);
  for (const id of stuck) {
    await eventually(`stuck message ${id} to be sent`, async () => ((await deployment.api('GET', `/v1/messages/${id}`)).body.status === 'sent' ? true : undefined));
  }
  // The hung requests are still open: the other tenant got through beside them, not after them.
  assert.equal(receiver.deliveries.filter((d) => d.path === '/hang').length, 0);
  assert.equal(receiver.hanging.length, 2, 'a tenant holds at most its own slots');
});

test("the tenant's default callback URL serves messages without one; without any URL there is no callback", async () => {
  const receiver = await startReceiver(() => 200);
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: FAST });
  const plain = await send(deployment, sms('no url anywhere'));
  const withDefault = await deployment.addTenant('initech');
  const adminKey = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: 'initech', name: 'initech' }, adminKey, 'admin', ['admin']);
  const put = await fetch(`${deployment.ingest.url}/v1/admin/callbacks`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ callback_url: receiver.url('/default') }),
  });
  assert.equal(put.status, 200);
  const settings = (await put.json()) as { callback_url: string; webhook_secret: string; signing_secret: string };
  assert.equal(settings.callback_url, receiver.url('/default'));
  assert.match(settings.webhook_secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
  const refused = await fetch(`${deployment.ingest.url}/v1/admin/callbacks`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ callback_url: 'ftp://example.com' }),
  });
  assert.equal(refused.status, 422);
  assert.equal(((await refused.json()) as { error: { problems: { path: string }[] } }).error.problems[0]?.path, '/callback_url');

  const id = await send(deployment, sms('default url'), withDefault);
  await eventually('callbacks at the default URL', () => Promise.resolve(receiver.events('/default', id).length >= 3 ? true : undefined));
  const delivery = receiver.events('/default', id)[0] as Delivery;
  assert.deepEqual(new Webhook(settings.webhook_secret).verify(delivery.body, delivery.headers), delivery.payload);
  assert.ok(verify(settings.signing_secret, delivery.signature, delivery.body));
  // The message without a URL was sent too, and never called back.
  await eventually('the plain message to be sent', async () => ((await deployment.api('GET', `/v1/messages/${plain}`)).body.status === 'sent' ? true : undefined));
  assert.deepEqual(await new CallbackStore(deployment.db).forMessage(plain), []);
  assert.equal(receiver.deliveries.some((d) => d.payload.message_id === plain), false);
  // A callback_url that is not http(s) is refused with its field path.
  const bad = await deployment.api('POST', '/v1/messages', sms('bad url', 'ftp://example.com/cb'));
  assert.equal(bad.status, 422);
  assert.equal(bad.body.error.problems[0].path, '/callback_url');
});

test('a dispatcher killed with callbacks pending loses none: another replica delivers every one', async () => {
  let up = false;
  const receiver = await startReceiver(() => (up ? 200 : 503));
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: FAST, dispatcher: false });
  const ids = await Promise.all([1, 2, 3].map((n) => send(deployment, sms(`before the kill ${n}`, receiver.url('/later')))));
  const { child, exited } = spawnApp('dispatcher', deployment.env);
  const store = new CallbackStore(deployment.db);
  await eventually('the messages sent and their callbacks tried', async () => {
    for (const id of ids) {
      const records = await store.forMessage(id);
      if (records.length < 3 || (records[0]?.attempts.length ?? 0) === 0) return undefined;
    }
    return true;
  }, 30_000);
  child.kill('SIGKILL');
  await exited;
  up = true;
  await deployment.startDispatcher();
  for (const id of ids) {
    const records = await eventually(`every callback of ${id} delivered`, async () => {
      const found = await store.forMessage(id);
      return found.length === 3 && found.every((r) => r.state === 'delivered') ? found : undefined;
    }, 30_000);
    assert.deepEqual(records.map((r) => r.payload.status), ['accepted', 'queued', 'sent']);
    assert.deepEqual(statuses(receiver.events('/later', id)), ['accepted', 'queued', 'sent']);
  }
});

test('a receiver that keeps failing gets its callbacks abandoned after the last attempt, each attempt recorded', async () => {
  const receiver = await startReceiver(() => 500);
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], env: { ...FAST, DISPATCHER_CALLBACK_MAX_ATTEMPTS: '3' } });
  const id = await send(deployment, sms('down for hours', receiver.url('/down')));
  const store = new CallbackStore(deployment.db);
  const records = await eventually('every callback abandoned', async () => {
    const found = await store.forMessage(id);
    return found.length === 3 && found.every((r) => r.state === 'abandoned') ? found : undefined;
  });
  for (const record of records) {
    assert.deepEqual(record.attempts.map((a) => [a.attempt, a.status_code]), [[1, 500], [2, 500], [3, 500]]);
    assert.equal(record.attempts.at(-1)?.next_attempt_at, null);
  }
  const metrics = await (await fetch(`${deployment.dispatcher?.url}/metrics`)).text();
  assert.match(metrics, /commstrat_callback_attempts_total\{outcome="abandoned"[^}]*\} 3\n/);
  assert.match(metrics, /commstrat_callbacks_pending\{[^}]*\} 0\n/);
});
