// Inbound SMS against the real stack: the sandbox posts a recipient's reply the way
// Twilio posts to a number's webhook (form fields, X-Twilio-Signature) or in the generic
// signed format; ingest journals it in `inbound`, carries out STOP / START / HELP on the
// sender's preferences (English and Russian), sends the tenant's reply when it set one,
// and the dispatcher forwards each inbound message to the tenant's callback URL as an
// `inbound.message` event, signed by Standard Webhooks.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { callbackTargetOf, ensureTenantWithKey, generateApiKey, setTenantCallbackUrl, upsertProvider } from '@commstrat/config';
import { newId, signReceiptBody } from '@commstrat/core';
import { Webhook } from 'standardwebhooks';
import { eventually, holdFor } from './harness.ts';
import { LOOPBACK, startDeployment, untilConfigReloaded, type Deployment } from './services.ts';

const ANN = '+4915112345678';
const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const RELAY_SECRET = 'relay-receipt-secret';

interface Delivered {
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly payload: any;
}

/** A tenant's callback endpoint that answers 200 to everything and keeps what came. */
async function startReceiver(): Promise<{ url: string; delivered: Delivered[] }> {
  const delivered: Delivered[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(req.headers[name])]));
      delivered.push({ headers, body, payload: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, delivered };
}

/** A deployment with a Twilio number whose webhook is ingest's inbound endpoint, and a callback receiver. */
async function twilioDeployment() {
  const receiver = await startReceiver();
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  const inboundUrl = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/twilio-main/inbound`;
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'twilio-main',
    kind: 'twilio-sms',
    endpoint: deployment.sandbox.url,
    credentials: { account_sid: ACCOUNT_SID, auth_token: deployment.sandbox.token, from: '+15017122661', inbound_url: inboundUrl },
    ratePerSecond: 100,
    concurrency: 4,
    maxBatchSize: 1,
    lingerMs: 5,
    timeoutMs: 5000,
  });
  const since = Date.now();
  await setTenantCallbackUrl(deployment.sql, deployment.tenantId, receiver.url, 'test');
  await untilConfigReloaded(deployment, since);
  return { deployment, receiver, inboundUrl };
}

/** Has the sandbox post an inbound message to `url`; answers what the webhook answered. */
async function sandboxInbound(deployment: Deployment, body: Record<string, unknown>): Promise<{ status: number; content_type: string; body: string; message_id: string }> {
  const response = await fetch(`${deployment.sandbox.url}/_sandbox/inbound`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ account_sid: ACCOUNT_SID, ...body }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()) as { status: number; content_type: string; body: string; message_id: string };
}

async function optOuts(deployment: Deployment, phone: string): Promise<{ channel: string; category: string; source: string; reason?: string }[]> {
  const { status, body } = await deployment.api('GET', `/v1/preferences?phone=${encodeURIComponent(phone)}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body.opt_outs;
}

async function sendTo(deployment: Deployment, phone: string): Promise<string> {
  const { status, body } = await deployment.api('POST', '/v1/messages', { channel: 'sms', recipient: { phone }, content: { text: 'sale today' }, category: 'marketing' });
  assert.equal(status, 202, JSON.stringify(body));
  return body.id;
}

async function endOf(deployment: Deployment, id: string): Promise<string> {
  return eventually(`message ${id} to be sent or end`, async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${id}`);
    return ['sent', 'failed', 'suppressed'].includes(body.status) ? (body.status as string) : undefined;
  });
}

test('a Twilio STOP opts the sender out, is forwarded to the callback URL, a retry of it changes nothing, and a Russian СТАРТ opts back in', async () => {
  const { deployment, receiver, inboundUrl } = await twilioDeployment();
  const stop = await sandboxInbound(deployment, { url: inboundUrl, from: ANN, text: 'Stop' });
  assert.equal(stop.status, 200, stop.body);
  assert.match(stop.content_type, /^text\/xml/);
  assert.equal(stop.body, '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', 'Twilio gets the TwiML its definition names');
  assert.deepEqual(
    (await optOuts(deployment, ANN)).map(({ channel, category, source, reason }) => ({ channel, category, source, reason })),
    [{ channel: 'sms', category: '*', source: 'inbound', reason: 'replied STOP' }],
  );
  const suppressed = await sendTo(deployment, ANN);
  assert.equal(await endOf(deployment, suppressed), 'suppressed');

  // Forwarded as its own event type, signed like every callback.
  const forwarded = await eventually('the inbound message to reach the callback URL', () =>
    Promise.resolve(receiver.delivered.find((d) => d.payload.type === 'inbound.message')),
  );
  const { secret } = (await callbackTargetOf(deployment.sql, deployment.tenantId)) ?? { secret: '' };
  assert.deepEqual(new Webhook(secret).verify(forwarded.body, forwarded.headers), forwarded.payload);
  assert.equal(forwarded.headers['webhook-id'], forwarded.payload.event_id);
  assert.deepEqual(
    { ...forwarded.payload, inbound_id: undefined, event_id: undefined, received_at: undefined, at: undefined },
    {
      type: 'inbound.message',
      inbound_id: undefined,
      event_id: undefined,
      tenant_id: deployment.tenantId,
      provider: 'twilio-main',
      provider_message_id: stop.message_id,
      channel: 'sms',
      from: ANN,
      to: '+15017122661',
      text: 'Stop',
      received_at: undefined,
      at: undefined,
      keyword: 'stop',
      language: 'en',
      action: 'opted_out',
      reply_message_id: null,
    },
  );
  // The suppressed message's own status callback says so.
  const status = await eventually('the suppressed status callback', () =>
    Promise.resolve(receiver.delivered.find((d) => d.payload.type === 'message.status' && d.payload.message_id === suppressed && d.payload.status === 'suppressed')),
  );
  assert.equal(status.payload.reason, 'recipient opted out of sms');

  // Twilio retrying its webhook (same MessageSid): answered the same, journaled once.
  const retry = await sandboxInbound(deployment, { url: inboundUrl, from: ANN, text: 'Stop', message_id: stop.message_id });
  assert.equal(retry.status, 200);
  assert.equal(await deployment.db.collection('inbound').countDocuments({ provider_message_id: stop.message_id }), 1);
  await holdFor(500, 'the relay would forward a second event meanwhile');
  assert.equal(receiver.delivered.filter((d) => d.payload.type === 'inbound.message').length, 1, 'forwarded once');

  const start = await sandboxInbound(deployment, { url: inboundUrl, from: ANN, text: 'старт' });
  assert.equal(start.status, 200);
  assert.deepEqual(await optOuts(deployment, ANN), []);
  assert.equal(await endOf(deployment, await sendTo(deployment, ANN)), 'sent');
  const listed = await deployment.api('GET', `/v1/inbound?from=${encodeURIComponent(ANN)}`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.deepEqual(listed.body.messages.map((m: { keyword: string; language: string; action: string }) => [m.keyword, m.language, m.action]), [
    ['start', 'ru', 'opted_in'],
    ['stop', 'en', 'opted_out'],
  ]);
  // The callback's fields less the event's type, id and tenant, under the message's id.
  assert.deepEqual(Object.keys(listed.body.messages[0]).sort(), [
    'action', 'at', 'channel', 'from', 'id', 'keyword', 'language', 'provider', 'provider_message_id', 'received_at', 'reply_message_id', 'text', 'to',
  ]);
  assert.equal(listed.body.messages[0].from, ANN);
  const metrics = await (await fetch(`${deployment.ingest.url}/metrics`)).text();
  assert.match(metrics, /commstrat_inbound_messages_total\{provider="acme\/twilio-main",outcome="repeated"[^}]*\} 1\n/);
});

test('a Twilio webhook with a bad or missing signature is refused and changes nothing', async () => {
  const { deployment, inboundUrl } = await twilioDeployment();
  const fields = new URLSearchParams({ MessageSid: 'SM1', From: ANN, To: '+15017122661', Body: 'STOP', AccountSid: ACCOUNT_SID });
  for (const headers of [{}, { 'x-twilio-signature': 'bm90IGl0' }]) {
    const response = await fetch(inboundUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: fields.toString() });
    assert.equal(response.status, 401, await response.text());
  }
  assert.deepEqual(await optOuts(deployment, ANN), []);
  assert.equal(await deployment.db.collection('inbound').countDocuments({}), 0);
  // A provider with no inbound mapping and no receipt secret: refused the same way.
  const unknown = await fetch(`${deployment.ingest.url}/v1/providers/acme/sandbox-sms/inbound`, { method: 'POST', body: '{"messages":[]}' });
  assert.equal(unknown.status, 401);
});

test('generic signed inbound: tenant keywords and replies per language, the reply goes out although the sender opted out, replays are refused', async () => {
  const receiver = await startReceiver();
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'relay',
    kind: 'http-sms',
    endpoint: deployment.sandbox.url,
    credentials: { token: deployment.sandbox.token, receipt_secret: RELAY_SECRET },
    ratePerSecond: 100,
    concurrency: 2,
    maxBatchSize: 10,
    lingerMs: 5,
    timeoutMs: 5000,
  });
  await setTenantCallbackUrl(deployment.sql, deployment.tenantId, receiver.url, 'test');
  const admin = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, admin, 'operator', ['admin']);
  const since = Date.now();
  const settings = await fetch(`${deployment.ingest.url}/v1/admin/consent`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      keywords: {
        ru: { stop: ['СТОП', 'STOP'], start: ['СТАРТ'], help: ['ПОМОЩЬ'], replies: { help: 'Ответьте СТОП, чтобы отписаться', stop: 'Вы отписаны' } },
      },
    }),
  });
  assert.equal(settings.status, 200, await settings.text());
  await untilConfigReloaded(deployment, since);
  const inboundUrl = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/relay/inbound`;

  const help = await sandboxInbound(deployment, { url: inboundUrl, format: 'generic', secret: RELAY_SECRET, from: ANN, text: 'помощь' });
  assert.equal(help.status, 200, help.body);
  assert.equal(JSON.parse(help.body).messages[0].keyword, 'help');
  const replied = await eventually('the help reply to reach the sender', () =>
    Promise.resolve(deployment.sandbox.received.list({ to: ANN }).find((sms) => sms.text === 'Ответьте СТОП, чтобы отписаться')),
  );
  assert.ok(replied !== undefined);
  const [helpRecord] = await deployment.db.collection('inbound').find({ text: 'помощь' }).toArray();
  assert.equal(helpRecord?.['action'], 'replied');
  const reply = await deployment.api('GET', `/v1/messages/${String(helpRecord?.['reply_message_id'])}`);
  assert.equal(reply.body.category, 'consent');

  // STOP (in the tenant's Russian list) opts out, and its confirmation still reaches the sender.
  await sandboxInbound(deployment, { url: inboundUrl, format: 'generic', secret: RELAY_SECRET, from: ANN, text: 'STOP' });
  await eventually('the stop confirmation', () => Promise.resolve(deployment.sandbox.received.list({ to: ANN }).find((sms) => sms.text === 'Вы отписаны')));
  assert.equal((await optOuts(deployment, ANN)).length, 1);
  assert.equal(await endOf(deployment, await sendTo(deployment, ANN)), 'suppressed', 'other messages do not');
  // "QUIT" is English's default, which this tenant's settings replaced: a plain message.
  const quit = await sandboxInbound(deployment, { url: inboundUrl, format: 'generic', secret: RELAY_SECRET, from: '+4915112345679', text: 'quit' });
  assert.equal(JSON.parse(quit.body).messages[0].keyword, null);
  const actions = await eventually('the three actions to be forwarded', () => {
    const forwardedActions = receiver.delivered.filter((d) => d.payload.type === 'inbound.message').map((d) => String(d.payload.action)).sort();
    return Promise.resolve(forwardedActions.length === 3 ? forwardedActions : undefined);
  });
  assert.deepEqual(actions, ['none', 'opted_out', 'replied']);

  // The generic format is signed like receipts: a replay, an unsigned body, bad input.
  const body = JSON.stringify({ messages: [{ from: ANN, text: 'hello', provider_message_id: 'x1' }] });
  const signature = signReceiptBody(RELAY_SECRET, body, new Date());
  const post = (payload: string, headers: Record<string, string>) =>
    fetch(inboundUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
  assert.equal((await post(body, { 'x-commstrat-signature': signature })).status, 200);
  assert.equal((await post(body, { 'x-commstrat-signature': signature })).status, 401, 'a replayed signature');
  assert.equal((await post(body, {})).status, 401, 'unsigned');
  const bad = JSON.stringify({ messages: [{ text: 'no sender' }] });
  const refused = await post(bad, { 'x-commstrat-signature': signReceiptBody(RELAY_SECRET, bad, new Date()) });
  assert.equal(refused.status, 422);
  assert.equal(((await refused.json()) as { error: { problems: { path: string }[] } }).error.problems[0]?.path, '/messages/0/from');
  const notJson = '{"messages": [';
  assert.equal((await post(notJson, { 'x-commstrat-signature': signReceiptBody(RELAY_SECRET, notJson, new Date()) })).status, 400);
});

test('an inbound message whose handling died half-way is finished by the recovery pass', async () => {
  const deployment = await startDeployment({ dispatcher: false, env: { INGEST_RECOVERY_GRACE_MS: '0', INGEST_RECOVERY_INTERVAL_MS: '200' } });
  const id = newId();
  // What a process that died right after journaling leaves: the record, unhandled.
  await deployment.db.collection('inbound').insertOne({
    _id: id as never,
    tenant_id: deployment.tenantId,
    provider: 'sandbox-sms',
    provider_message_id: 'died-1',
    channel: 'sms',
    from: ANN,
    from_phone: ANN,
    text: 'STOP',
    received_at: new Date(Date.now() - 1000),
    at: new Date(Date.now() - 1000),
    callbacks: false,
    callback_due: true,
    unhandled: true,
  });
  await eventually('the recovery pass to carry the STOP out', async () => ((await optOuts(deployment, ANN)).length === 1 ? true : undefined));
  const record = await deployment.db.collection('inbound').findOne({ _id: id as never });
  assert.equal(record?.['action'], 'opted_out');
  assert.equal(record?.['unhandled'], undefined);
});
