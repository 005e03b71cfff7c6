// Cascades across two real channels: an SMS through the twilio-sms definition (the
// sandbox's Twilio mode, status callbacks in Twilio's own form) or the tenant's signed
// webhook, then e-mail over SMTP to the stack's Mailpit, read back through its API.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { twilioSignature } from '@commstrat/providers';
import { exchangesOf } from './definition-deployments.ts';
import { eventually, holdFor } from './harness.ts';
import { headersOf, mailpitEnv, messagesTo, uniqueAddress } from './mailpit.ts';
import { startDeployment, type Deployment, LOOPBACK } from './services.ts';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const PHONE = '+4915112345678';
const WEBHOOK_SECRET = 'whsec_cascade_0123456789';

const mailpit: ProviderInput = {
  id: 'mailpit',
  kind: 'smtp',
  endpoint: mailpitEnv().smtpUrl,
  credentials: { from: 'Acme Security <security@acme.test>' },
  ratePerSecond: 100,
  concurrency: 2,
  maxBatchSize: 20,
  lingerMs: 10,
  timeoutMs: 5000,
};

type View = { status: string; step?: number; provider?: string; timeline: Event[] };
type Event = { status: string; step?: number; reason?: string; provider?: string; provider_message_id?: string };

const steps = (message: View) => message.timeline.map((event) => `${event.status}${event.step === undefined ? '' : `@${event.step}`}`);

async function view(deployment: Deployment, id: string): Promise<View> {
  return (await deployment.api('GET', `/v1/messages/${id}`)).body as View;
}

function until(deployment: Deployment, id: string, what: string, done: (message: View) => boolean): Promise<View> {
  return eventually(`message ${id} ${what}`, async () => {
    const message = await view(deployment, id);
    return done(message) ? message : undefined;
  });
}

/** Accepts `message`, retrying while ingest has not yet seen the strategy saved a moment ago (422). */
async function accept(deployment: Deployment, message: object): Promise<string> {
  return eventually(
    'the strategy seen by ingest',
    async () => {
      const { status, body } = await deployment.api('POST', '/v1/messages', message);
      if (status === 202) return body.id as string;
      assert.equal(status, 422, JSON.stringify(body));
      return undefined;
    },
    20_000,
    300,
  );
}

/** How many e-mails Mailpit holds for `to`, now. */
async function mailCount(to: string): Promise<number> {
  const response = await fetch(`${mailpitEnv().apiUrl}/api/v1/search?query=${encodeURIComponent(`to:"${to}"`)}`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { messages: unknown[] }).messages.length;
}

interface OtpDeployment {
  readonly deployment: Deployment;
  /** The twilio provider's receipt endpoint on ingest (its StatusCallback). */
  readonly receiptUrl: string;
}

/**
 * A tenant with the OTP cascade of docs/strategies.md across channels: SMS by Twilio,
 * waiting `withinSeconds` for a delivered status callback, then e-mail by Mailpit. The
 * sandbox's Twilio mode calls back as `receipts` says.
 */
async function otpAcrossChannels(withinSeconds: number, receipts: 'delivered' | 'none'): Promise<OtpDeployment> {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  const receiptUrl = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/twilio/receipts`;
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'twilio',
    kind: 'twilio-sms',
    endpoint: deployment.sandbox.url,
    credentials: { account_sid: ACCOUNT_SID, auth_token: deployment.sandbox.token, from: '+15017122661', status_callback: receiptUrl },
    ratePerSecond: 100,
    concurrency: 2,
    maxBatchSize: 1,
    lingerMs: 0,
    timeoutMs: 5000,
  });
  await upsertProvider(deployment.sql, deployment.tenantId, mailpit);
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'otp',
    channel: 'sms',
    steps: [
      {
        route: { mode: 'failover', providers: ['twilio'] },
        ttl_seconds: 300,
        retry: { max_attempts: 2, base_delay_ms: 100, max_delay_ms: 500 },
        next: { on: 'no_receipt', within_seconds: withinSeconds },
      },
      { channel: 'email', priority: 'critical', route: { mode: 'failover', providers: ['mailpit'] }, ttl_seconds: 300 },
    ],
  });
  const answer = await fetch(`${deployment.sandbox.url}/_sandbox/receipts`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    // The sandbox's Twilio mode signs with the auth token; the secret is not used.
    body: JSON.stringify({ url: receiptUrl, secret: 'unused-by-twilio', status: receipts, delay_ms: 300 }),
  });
  assert.equal(answer.status, 200, await answer.text());
  return { deployment, receiptUrl };
}

/** An OTP for a person with a phone and an address: a short SMS text, a fuller e-mail. */
const otp = (email: string) => ({
  strategy: 'otp',
  recipient: { phone: PHONE, email },
  content: { text: 'Your code is 481516' },
  content_by_channel: {
    email: {
      subject: 'Your Acme sign-in code',
      text: 'Use 481516 to sign in to Acme. The code expires in 5 minutes.',
      html: '<p>Use <b>481516</b> to sign in to Acme.</p>',
    },
  },
});

test('OTP by Twilio SMS, no delivered callback within 2 s: the same message goes on as an e-mail with its own content to Mailpit', async () => {
  const { deployment } = await otpAcrossChannels(2, 'none');
  const to = uniqueAddress();
  const id = await accept(deployment, otp(to));
  const message = await until(deployment, id, 'sent by the e-mail step', (m) => m.status === 'sent' && m.step === 1);
  assert.deepEqual(steps(message), ['accepted', 'queued', 'sending@0', 'sent@0', 'next_step@1', 'sending@1', 'sent@1']);
  const [sms, next, mail] = [message.timeline[3], message.timeline[4], message.timeline[6]];
  assert.equal(sms?.provider, 'twilio');
  assert.match(sms?.provider_message_id ?? '', /^SM[0-9a-f]{32}$/);
  assert.match(next?.reason ?? '', /^no delivery receipt within 2 s; next: step 1$/);
  assert.equal(mail?.provider, 'mailpit');
  assert.equal(mail?.provider_message_id, `<${id}@acme.test>`);
  assert.equal(message.provider, 'mailpit');

  // Each step's provider exchange: Twilio got the SMS text, the SMTP server the e-mail.
  const exchanges = await exchangesOf(deployment, id);
  assert.equal(exchanges.length, 2);
  const form = new URLSearchParams(exchanges[0]?.request ?? '');
  assert.equal(form.get('To'), PHONE);
  assert.equal(form.get('Body'), 'Your code is 481516');
  assert.deepEqual(JSON.parse(exchanges[1]?.request ?? '[]'), [{ message_id: id, to, subject: 'Your Acme sign-in code' }]);

  const [email] = await messagesTo(to, 1);
  assert.ok(email);
  assert.equal(email.Subject, 'Your Acme sign-in code');
  assert.equal(email.Text.trim(), 'Use 481516 to sign in to Acme. The code expires in 5 minutes.');
  assert.equal(email.HTML.trim(), '<p>Use <b>481516</b> to sign in to Acme.</p>');
  assert.deepEqual((await headersOf(email.ID))['X-Commstrat-Message-Id'], [id]);
  assert.equal(deployment.sandbox.received.size, 1, 'one SMS, not resent by the e-mail step');
});

test('OTP by Twilio SMS delivered (Twilio’s status callback): no e-mail is sent, and a late undelivered callback changes nothing', async () => {
  const { deployment, receiptUrl } = await otpAcrossChannels(5, 'delivered');
  const to = uniqueAddress();
  const id = await accept(deployment, otp(to));
  const delivered = await until(deployment, id, 'delivered', (m) => m.status === 'delivered');
  // Past the timer's due time: it came due, found the message delivered, and was dropped.
  await eventually('the cascade timer to be dropped', async () => ((await deployment.lanes.delayedCount()) === 0 ? true : undefined), 15_000);
  await holdFor(1500, "past the timer's due time: no next step may go");

  const sid = delivered.timeline[3]?.provider_message_id ?? '';
  const fields = { AccountSid: ACCOUNT_SID, MessageSid: sid, MessageStatus: 'undelivered', ErrorCode: '30005' };
  const late = await fetch(receiptUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(deployment.sandbox.token, receiptUrl, fields) },
    body: new URLSearchParams(fields).toString(),
  });
  assert.equal(late.status, 200);
  assert.deepEqual(await late.json(), { received: 1, applied: 0, duplicate: 0, late: 1, unknown: 0, ignored: 0 });

  const message = await view(deployment, id);
  assert.equal(message.status, 'delivered');
  assert.deepEqual(steps(message), ['accepted', 'queued', 'sending@0', 'sent@0', 'delivered']);
  assert.equal(message.provider, 'twilio');
  assert.equal((await exchangesOf(deployment, id)).length, 1, 'no request to the e-mail provider');
  assert.equal(await mailCount(to), 0, 'no e-mail in Mailpit');
});

interface Delivery {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A tenant's endpoint answering each delivery with the next of `statuses`. */
async function receiver(statuses: number[]) {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 500, { 'content-type': 'application/json' }).end('{"error":"down"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  test.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/commstrat`, deliveries };
}

/** The receiver's check of docs/providers.md: HMAC-SHA256 over `${t}.${raw body}`, within 300 s. */
function signatureVerifies(delivery: Delivery): boolean {
  const header = String(delivery.headers['x-commstrat-signature'] ?? '');
  const parts = Object.fromEntries(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const given = Buffer.from(parts['v1'] ?? '', 'hex');
  const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${parts['t']}.${delivery.body}`).digest();
  const fresh = Math.abs(Date.now() / 1000 - Number(parts['t'])) <= 300;
  return fresh && given.length === expected.length && timingSafeEqual(given, expected);
}

test('webhook, then e-mail on failure: a 500 until the attempts run out, or a permanent 410, moves the message to Mailpit', async () => {
  // Two deliveries of the first message answered 500 (its two attempts), then 410 for the second.
  const hook = await receiver([500, 500, 410]);
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'tenant-hook',
    kind: 'webhook',
    endpoint: hook.url,
    credentials: { secret: WEBHOOK_SECRET },
    ratePerSecond: 100,
    concurrency: 2,
    maxBatchSize: 1,
    lingerMs: 0,
    timeoutMs: 2000,
  });
  await upsertProvider(deployment.sql, deployment.tenantId, mailpit);
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'order-updates',
    channel: 'webhook',
    steps: [
      { route: { mode: 'failover', providers: ['tenant-hook'] }, retry: { max_attempts: 2, base_delay_ms: 50, max_delay_ms: 200 }, next: { on: 'failure' } },
      { channel: 'email', route: { mode: 'failover', providers: ['mailpit'] } },
    ],
  });
  const update = (email: string, order: number) => ({
    strategy: 'order-updates',
    recipient: { email },
    content: { text: 'order shipped', variables: { order } },
    content_by_channel: { email: { subject: `Order ${order} has shipped`, text: `Your order ${order} is on its way.` } },
  });

  const to = uniqueAddress();
  const id = await accept(deployment, update(to, 42));
  const moved = await until(deployment, id, 'sent by the e-mail step', (m) => m.status === 'sent' && m.step === 1);
  assert.deepEqual(steps(moved).slice(-4), ['sending@0', 'next_step@1', 'sending@1', 'sent@1']);
  assert.equal(moved.timeline.filter((e) => e.status === 'sending' && e.step === 0).length, 2, 'both attempts on the webhook');
  assert.match(moved.timeline.at(-3)?.reason ?? '', /^gave up after 2 attempts: .*; next: step 1$/);
  assert.equal(moved.provider, 'mailpit');
  const [email] = await messagesTo(to, 1);
  assert.equal(email?.Subject, 'Order 42 has shipped');
  assert.equal(email?.Text.trim(), 'Your order 42 is on its way.');
  assert.deepEqual((await headersOf(email?.ID ?? ''))['X-Commstrat-Message-Id'], [id]);

  assert.equal(hook.deliveries.length, 2);
  for (const delivery of hook.deliveries) {
    assert.ok(signatureVerifies(delivery), `signature ${String(delivery.headers['x-commstrat-signature'])} does not verify`);
    assert.equal(delivery.headers['x-commstrat-message-id'], id);
    assert.deepEqual(JSON.parse(delivery.body).content, { text: 'order shipped', variables: { order: 42 } });
  }

  // A 4xx is the endpoint refusing the message for good: no retry, on to e-mail at once.
  const other = uniqueAddress();
  const refusedId = await accept(deployment, update(other, 43));
  const refused = await until(deployment, refusedId, 'sent by the e-mail step', (m) => m.status === 'sent' && m.step === 1);
  assert.deepEqual(steps(refused), ['accepted', 'queued', 'sending@0', 'next_step@1', 'sending@1', 'sent@1']);
  assert.match(refused.timeline[3]?.reason ?? '', /http_410.*; next: step 1$/);
  assert.equal(hook.deliveries.length, 3);
  assert.ok(signatureVerifies(hook.deliveries[2]!));
  assert.equal((await messagesTo(other, 1))[0]?.Subject, 'Order 43 has shipped');
});
