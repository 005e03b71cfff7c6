// Cascades end to end: a strategy of two steps over two sandbox providers (both speak the
// SMS batch API, so the test needs no receipts of another format), the first one's receipts
// controlled through the sandbox, the cascade timer in the real Redis delayed set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { signReceiptBody } from '@commstrat/core';
import { documentedExample, saveThroughAdminApi } from './docs-examples.ts';
import { eventually, holdFor } from './harness.ts';
import { startDeployment, startSandbox, type Deployment, type RunningSandbox, untilConfigReloaded, LOOPBACK } from './services.ts';

const SECRET = 'cascade-receipt-secret';
const PHONE = '+4915112345678';

const provider = (id: string, sandbox: RunningSandbox): ProviderInput => ({
  id,
  kind: 'http-sms',
  endpoint: sandbox.url,
  credentials: { token: sandbox.token, receipt_secret: SECRET },
  ratePerSecond: 1000,
  concurrency: 4,
  maxBatchSize: 100,
  lingerMs: 5,
  timeoutMs: 10_000,
});

/**
 * The OTP cascade of docs/strategies.md ("An OTP cascade"), read from the page, with the
 * wait for the first step's receipt shortened from 60 s to `withinSeconds` so the test
 * takes seconds, and the second step's provider `second`.
 */
function otpCascade(withinSeconds: number, second = 'backup-sms') {
  const documented = documentedExample('otp-cascade') as { steps: [Record<string, unknown>, Record<string, unknown>] };
  const [first, fallback] = documented.steps;
  assert.deepEqual(first['next'], { on: 'no_receipt', within_seconds: 60 });
  assert.deepEqual(fallback['route'], { mode: 'failover', providers: ['backup-sms'] });
  return {
    ...documented,
    steps: [
      { ...first, next: { on: 'no_receipt', within_seconds: withinSeconds } },
      { ...fallback, route: { mode: 'failover', providers: [second] } },
    ],
  };
}

interface Cascade {
  deployment: Deployment;
  backup: RunningSandbox;
  receiptsUrl: string;
}

/** A deployment whose first provider reports receipts as `status` says, with a second provider `backup-sms`. */
async function cascade(status: 'delivered' | 'undelivered' | 'none', strategy: object, through: 'admin_api' | 'sql' = 'sql'): Promise<Cascade> {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  const backup = await startSandbox();
  const changedAt = Date.now();
  await upsertProvider(deployment.sql, deployment.tenantId, provider('sandbox-sms', deployment.sandbox));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('backup-sms', backup));
  if (through === 'admin_api') await saveThroughAdminApi(deployment, strategy);
  else await saveStrategy(deployment.sql, deployment.tenantId, strategy);
  const receiptsUrl = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/sandbox-sms/receipts`;
  const answer = await fetch(`${deployment.sandbox.url}/_sandbox/receipts`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    // Not sooner: a receipt that arrives before the dispatcher journaled `sent` is parked
    // and applied up to 2 s later, after a 1 s receipt timer; on a loaded machine that
    // write can take more than 50 ms.
    body: JSON.stringify({ url: receiptsUrl, secret: SECRET, status, delay_ms: 300 }),
  });
  assert.equal(answer.status, 200);
  await untilConfigReloaded(deployment, changedAt);
  return { deployment, backup, receiptsUrl };
}

async function sendOtp(deployment: Deployment, text: string): Promise<string> {
  const { status, body } = await deployment.api('POST', '/v1/messages', { strategy: 'otp', recipient: { phone: PHONE }, content: { text } });
  assert.equal(status, 202, JSON.stringify(body));
  return body.id as string;
}

type View = { status: string; step?: number; provider?: string; strategy_version?: number; timeline: Event[] };
type Event = { status: string; at: string; step?: number; reason?: string; provider?: string; provider_message_id?: string; strategy_version?: number };

async function view(deployment: Deployment, id: string): Promise<View> {
  return (await deployment.api('GET', `/v1/messages/${id}`)).body as View;
}

function until(deployment: Deployment, id: string, what: string, done: (message: View) => boolean, timeoutMs = 15_000): Promise<View> {
  return eventually(`message ${id} ${what}`, async () => {
    const message = await view(deployment, id);
    return done(message) ? message : undefined;
  }, timeoutMs);
}

const steps = (message: View) => message.timeline.map((event) => `${event.status}${event.step === undefined ? '' : `@${event.step}`}`);

test('docs example: a step whose provider sends no receipt falls through to SMS by the second provider after within_seconds', async () => {
  const { deployment, backup } = await cascade('none', otpCascade(1), 'admin_api');
  const id = await sendOtp(deployment, 'Your code is 481516');
  const message = await until(deployment, id, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  assert.deepEqual(steps(message), ['accepted', 'queued', 'sending@0', 'sent@0', 'next_step@1', 'sending@1', 'sent@1']);
  const [sent0, next] = [message.timeline[3], message.timeline[4]];
  assert.equal(sent0?.provider, 'sandbox-sms');
  assert.match(next?.reason ?? '', /^no delivery receipt within 1 s; next: step 1$/);
  // The timer waited its second after the first step was sent, and no more than a little beyond.
  const waited = Date.parse(next?.at ?? '') - Date.parse(sent0?.at ?? '');
  assert.ok(waited >= 1000 && waited < 4000, `moved on ${waited} ms after sent`);
  assert.equal(message.provider, 'backup-sms');
  assert.equal(message.strategy_version, 1);
  assert.deepEqual(deployment.sandbox.received.list({}).map((sms) => sms.text), ['Your code is 481516']);
  assert.deepEqual(backup.received.list({}).map((sms) => sms.text), ['Your code is 481516']);
  // Same message, same id, at both providers.
  assert.equal(deployment.sandbox.received.list({})[0]?.client_ref, id);
  assert.equal(backup.received.list({})[0]?.client_ref, id);
  const metrics = await (await fetch(`${deployment.dispatcher?.url ?? ''}/metrics`)).text();
  assert.match(metrics, /commstrat_cascade_moves_total\{reason="no_receipt"[^}]*\} 1\n/);
});

test('a delivered receipt on the first step stops the cascade: the timer comes due and is dropped', async () => {
  const { deployment, backup } = await cascade('delivered', otpCascade(1));
  const id = await sendOtp(deployment, 'Your code is 2342');
  await until(deployment, id, 'delivered', (m) => m.status === 'delivered');
  // Past the timer's due time: it has come due, found the message delivered, and gone.
  await eventually('the cascade timer to be dropped', async () => ((await deployment.lanes.delayedCount()) === 0 ? true : undefined));
  await holdFor(1500, "past the timer's due time: no next step may go");
  const message = await view(deployment, id);
  assert.equal(message.status, 'delivered');
  assert.deepEqual(steps(message), ['accepted', 'queued', 'sending@0', 'sent@0', 'delivered']);
  assert.equal(backup.received.size, 0, 'the second step sent nothing');
});

test('a late receipt for the first step, after the message moved on, changes nothing', async () => {
  const { deployment, backup, receiptsUrl } = await cascade('none', otpCascade(1));
  const id = await sendOtp(deployment, 'late');
  const moved = await until(deployment, id, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  const firstId = moved.timeline[3]?.provider_message_id;
  assert.ok(firstId !== undefined);
  for (const status of ['delivered', 'undelivered']) {
    const body = JSON.stringify({ receipts: [{ provider_message_id: firstId, status }] });
    const response = await fetch(receiptsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-commstrat-signature': signReceiptBody(SECRET, body, new Date()) },
      body,
    });
    assert.equal(response.status, 200);
    const answer = (await response.json()) as Record<string, number>;
    assert.equal(answer['applied'], 0, JSON.stringify(answer));
  }
  const after = await view(deployment, id);
  assert.equal(after.status, 'sent');
  assert.equal(after.step, 1);
  assert.equal(after.timeline.length, moved.timeline.length);
  assert.equal(backup.received.size, 1);
});

test('an undelivered receipt moves the message on at once, well before within_seconds', async () => {
  const { deployment, backup } = await cascade('undelivered', otpCascade(30));
  const id = await sendOtp(deployment, 'undelivered first');
  const message = await until(deployment, id, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1, 10_000);
  assert.deepEqual(steps(message), ['accepted', 'queued', 'sending@0', 'sent@0', 'next_step@1', 'sending@1', 'sent@1']);
  assert.match(message.timeline[4]?.reason ?? '', /^undelivered: absent_subscriber; next: step 1$/);
  assert.equal(backup.received.size, 1);
  // The timer it brought forward sent the next step; nothing is left waiting.
  assert.equal(await deployment.lanes.delayedCount(), 0);
});

test('on: failure moves on when the first provider refuses, and after an undelivered receipt', async () => {
  const strategy = {
    name: 'otp',
    channel: 'sms',
    steps: [
      { route: { mode: 'failover', providers: ['sandbox-sms'] }, retry: { max_attempts: 1 }, next: { on: 'failure' } },
      { route: { mode: 'failover', providers: ['backup-sms'] } },
    ],
  };
  const { deployment, backup } = await cascade('undelivered', strategy);
  const id = await sendOtp(deployment, 'refused or undelivered');
  const moved = await until(deployment, id, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  assert.match(moved.timeline[4]?.reason ?? '', /^undelivered: absent_subscriber; next: step 1$/);

  // The sandbox refuses every request (503) and the step has one attempt: it moves on too.
  await fetch(`${deployment.sandbox.url}/_sandbox/behaviour`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error_rate: 1 }),
  });
  const second = await sendOtp(deployment, 'refused');
  const refused = await until(deployment, second, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  assert.deepEqual(steps(refused), ['accepted', 'queued', 'sending@0', 'next_step@1', 'sending@1', 'sent@1']);
  assert.match(refused.timeline[3]?.reason ?? '', /^gave up after 1 attempts: .*; next: step 1$/);
  assert.deepEqual(backup.received.list({}).map((sms) => sms.text), ['refused or undelivered', 'refused']);
});

test('a strategy changed while a message is mid-cascade: the message goes on by its pinned version, new ones by the new', async () => {
  const { deployment, backup } = await cascade('none', otpCascade(2));
  const third = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, provider('third-sms', third));
  const id = await sendOtp(deployment, 'pinned');
  await until(deployment, id, 'sent by the first step', (m) => m.status === 'sent' && m.step === 0);
  // Version 2 sends the second step elsewhere; the message in flight was routed with version 1.
  const savedAt = Date.now();
  const saved = await saveStrategy(deployment.sql, deployment.tenantId, otpCascade(2, 'third-sms'));
  assert.equal(saved.version, 2);
  await untilConfigReloaded(deployment, savedAt);
  const message = await until(deployment, id, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  assert.equal(message.provider, 'backup-sms');
  assert.deepEqual(
    message.timeline.filter((e) => e.strategy_version !== undefined).map((e) => `${e.status}@${e.step}:v${e.strategy_version}`),
    ['sending@0:v1', 'next_step@1:v1', 'sending@1:v1'],
  );
  assert.equal(third.received.size, 0);

  const newer = await sendOtp(deployment, 'newer');
  const routedByNew = await until(deployment, newer, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  assert.equal(routedByNew.provider, 'third-sms');
  assert.equal(routedByNew.strategy_version, 2);
  assert.deepEqual(third.received.list({}).map((sms) => sms.text), ['newer']);
  assert.equal(backup.received.size, 1);
});

test('each step sends the content for its channel: content_by_channel, else content', async () => {
  // The first provider is an SMS sandbox standing in for a push provider (no push adapter
  // exists): what matters here is which content each step hands its provider.
  const strategy = {
    name: 'otp',
    channel: 'push',
    steps: [
      { route: { mode: 'failover', providers: ['sandbox-sms'] }, next: { on: 'no_receipt', within_seconds: 1 } },
      { channel: 'sms', route: { mode: 'failover', providers: ['backup-sms'] } },
    ],
  };
  const { deployment, backup } = await cascade('none', strategy);
  const { status, body } = await deployment.api('POST', '/v1/messages', {
    strategy: 'otp',
    recipient: { phone: PHONE, push_token: 'device-token' },
    content: { text: 'Your sign-in code is 271828. It expires in 5 minutes.' },
    content_by_channel: { sms: { text: '271828 is your code' } },
  });
  assert.equal(status, 202, JSON.stringify(body));
  await until(deployment, body.id, 'sent by the second step', (m) => m.status === 'sent' && m.step === 1);
  assert.deepEqual(deployment.sandbox.received.list({}).map((sms) => sms.text), ['Your sign-in code is 271828. It expires in 5 minutes.']);
  assert.deepEqual(backup.received.list({}).map((sms) => sms.text), ['271828 is your code']);
});

test('a cap on the SMS step of a cascade holds back that step only: the push step sends every message', async () => {
  // As above, an SMS sandbox stands in for the push provider of the first step.
  const strategy = {
    name: 'reach',
    channel: 'push',
    steps: [
      { route: { mode: 'failover', providers: ['sandbox-sms'] }, next: { on: 'no_receipt', within_seconds: 1 } },
      {
        channel: 'sms',
        route: { mode: 'failover', providers: ['backup-sms'] },
        contact_policy: { caps: [{ category: 'marketing', channel: 'sms', max: 2, per_seconds: 86_400, over: 'drop' }] },
      },
    ],
  };
  const { deployment, backup } = await cascade('none', strategy);
  const offer = (text: string) => ({ strategy: 'reach', category: 'marketing', recipient: { phone: PHONE, push_token: 'device-token' }, content: { text } });
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages: [offer('one'), offer('two'), offer('three')] });
  assert.equal(status, 202, JSON.stringify(body));
  const ids: string[] = body.accepted.map((item: { id: string }) => item.id);
  const ended = await Promise.all(ids.map((id) => until(deployment, id, 'through its SMS step', (m) => m.step === 1 && ['sent', 'failed'].includes(m.status))));
  assert.equal(deployment.sandbox.received.size, 3, 'the push step is not capped');
  assert.equal(backup.received.size, 2, 'the SMS step sends two a day');
  const dropped = ended.filter((m) => m.status === 'failed');
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0]?.timeline.at(-1)?.reason, 'frequency cap: at most 2 marketing sms per 86400 s to this recipient; dropped');
});
