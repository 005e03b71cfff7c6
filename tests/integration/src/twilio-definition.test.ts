import assert from 'node:assert/strict';
import { test } from 'node:test';
import { putProvider, saveProviderDefinition } from '@commstrat/config';
import { shippedDefinitions, twilioSignature } from '@commstrat/providers';
import { eventually } from './harness.ts';
import { definitionDeployment, exchangesOf, retriesWaitForRetryAfter } from './definition-deployments.ts';
import { setSandboxBehaviour, startSandbox } from './services.ts';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';

/** A tenant sending through the twilio-sms definition; the sandbox token is the auth token. */
function twilio(receipts?: { status: 'delivered' | 'undelivered' | 'none'; error?: string }, authToken?: string) {
  return definitionDeployment({
    kind: 'twilio-sms',
    id: 'twilio',
    credentials: (receiptUrl, sandbox) => ({
      account_sid: ACCOUNT_SID,
      auth_token: authToken ?? sandbox.token,
      from: '+15017122661',
      status_callback: receiptUrl,
    }),
    ...(receipts === undefined ? {} : { receipts }),
  });
}

test('Twilio: one request per message, single and batch; status callbacks in Twilio’s form end them delivered', async () => {
  const { deployment, send, sendBatch, until } = await twilio({ status: 'delivered' });
  const ids = [await send('single'), ...(await sendBatch(['one', 'two', 'three']))];
  const views = await Promise.all(ids.map((id) => until(id, 'delivered')));
  for (const view of views) {
    assert.match(view.provider_message_id, /^SM[0-9a-f]{32}$/);
    assert.deepEqual(
      view.timeline.map((e: { status: string }) => e.status),
      ['accepted', 'queued', 'sending', 'sent', 'delivered'],
    );
  }
  const received = deployment.sandbox.received.latest(10);
  assert.equal(received.length, 4);
  assert.equal(new Set(received.map((m) => m.request_seq)).size, 4, 'one request per message');
  assert.deepEqual(received.map((m) => m.text).sort(), ['one', 'single', 'three', 'two']);
  const [exchange] = await exchangesOf(deployment, ids[0]!);
  assert.equal(exchange?.http_status, 201);
  const form = new URLSearchParams(exchange?.request ?? '');
  assert.equal(form.get('To'), '+4915112345678');
  assert.equal(form.get('Body'), 'single');
  assert.match(form.get('StatusCallback') ?? '', /\/v1\/providers\/acme\/twilio\/receipts$/);
  // Each message also got an intermediate `sent` callback: counted as ignored, nothing else.
  const metrics = await (await fetch(`${deployment.ingest.url}/metrics`)).text();
  assert.match(metrics, /commstrat_receipts_total\{provider="acme\/twilio",outcome="ignored"[^}]*\} 4\n/);
  assert.match(metrics, /commstrat_receipts_total\{provider="acme\/twilio",outcome="applied"[^}]*\} 4\n/);
});

test('Twilio: an undelivered callback ends the message failed with Twilio’s ErrorCode', async () => {
  const { send, until } = await twilio({ status: 'undelivered', error: '30005' });
  const failed = await until(await send('to an unknown handset'), 'failed');
  assert.match(failed.timeline.at(-1).reason, /^undelivered: 30005/);
});

test('Twilio: 21211 (invalid To) fails the message for good, without a retry', async () => {
  const { deployment, send, until } = await twilio();
  // Twilio's magic test number that it answers as not a valid phone number.
  const id = await send('nowhere', '+15005550001');
  await until(id, 'failed');
  const exchanges = await exchangesOf(deployment, id);
  assert.equal(exchanges.length, 1);
  assert.equal(exchanges[0]?.http_status, 400);
  assert.equal(JSON.parse(exchanges[0]?.response ?? '{}').code, 21211);
});

test('Twilio: a 5xx is retried, and the message is sent once the API answers again', async () => {
  const { deployment, send, until } = await twilio();
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  const id = await send('after an outage');
  await eventually('a 500 from Twilio', async () => ((await exchangesOf(deployment, id)).some((e) => e.http_status === 500) ? true : undefined));
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 0 });
  await until(id, 'sent');
  const statuses = (await exchangesOf(deployment, id)).map((e) => e.http_status);
  assert.equal(statuses.at(-1), 201);
  assert.equal(JSON.parse((await exchangesOf(deployment, id))[0]?.response ?? '{}').code, 20500);
});

test('Twilio: 429 is rate limited, and the retry waits for Retry-After', async () => {
  for (const body of await retriesWaitForRetryAfter(await twilio())) assert.equal(JSON.parse(body).code, 20429);
});

test('Twilio as a stored definition: its status callbacks are read by the version the provider is pinned to', async () => {
  const { deployment, send, until } = await twilio({ status: 'delivered' });
  const shipped = shippedDefinitions().get('twilio-sms');
  assert.ok(shipped !== undefined);
  const { stored } = await saveProviderDefinition(deployment.sql, deployment.tenantId, { ...shipped, name: 'acme-twilio' }, { actor: 'test' });
  await putProvider(deployment.sql, deployment.tenantId, 'twilio', { kind: 'acme-twilio' }, { actor: 'test' });
  // The dispatcher rebuilds the adapter on NOTIFY; a message sent after that goes by the
  // stored definition, and its Twilio-format callback maps through the stored receipts section.
  await eventually('the provider pinned to the stored definition', async () => {
    const [row] = await deployment.sql<{ kind: string; definition_version: number | null }[]>`
      SELECT kind, definition_version FROM providers WHERE tenant_id = ${deployment.tenantId} AND id = 'twilio'`;
    return row?.kind === 'acme-twilio' && row.definition_version === stored.version ? true : undefined;
  });
  const view = await until(await send('by the stored definition'), 'delivered');
  assert.match(view.provider_message_id, /^SM[0-9a-f]{32}$/);
});

test('Twilio: a wrong auth token (401, 20003) fails the message for good', async () => {
  const { deployment, send, until } = await twilio(undefined, 'not-the-token');
  const id = await send('misconfigured');
  await until(id, 'failed');
  const exchanges = await exchangesOf(deployment, id);
  assert.deepEqual(exchanges.map((e) => e.http_status), [401]);
  assert.equal(JSON.parse(exchanges[0]?.response ?? '{}').code, 20003);
});

test('Twilio: a status callback with a bad X-Twilio-Signature is refused; a good one applies', async () => {
  const { deployment, receiptUrl, send, until } = await twilio();
  const id = await send('signed');
  const sent = await until(id, 'sent');
  const fields = { AccountSid: ACCOUNT_SID, MessageSid: sent.provider_message_id, MessageStatus: 'delivered' };
  const post = (signature: string | undefined) =>
    fetch(receiptUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === undefined ? {} : { 'x-twilio-signature': signature }) },
      body: new URLSearchParams(fields).toString(),
    });
  const forged = await post(twilioSignature('wrong-token', receiptUrl, fields));
  assert.equal(forged.status, 401);
  assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'unauthorized');
  assert.equal((await post(undefined)).status, 401);
  // Signed over another URL (a callback meant for someone else) does not pass either.
  assert.equal((await post(twilioSignature(deployment.sandbox.token, `${receiptUrl}?x=1`, fields))).status, 401);
  assert.equal((await until(id, 'sent')).status, 'sent');
  const good = await post(twilioSignature(deployment.sandbox.token, receiptUrl, fields));
  assert.equal(good.status, 200);
  assert.deepEqual(await good.json(), { received: 1, applied: 1, duplicate: 0, late: 0, unknown: 0, ignored: 0 });
  await until(id, 'delivered');
  // Twilio retries callbacks: the same one again is a duplicate, not an error.
  const again = await post(twilioSignature(deployment.sandbox.token, receiptUrl, fields));
  assert.deepEqual(await again.json(), { received: 1, applied: 0, duplicate: 1, late: 0, unknown: 0, ignored: 0 });
});

test('Twilio sandbox: a request of the wrong shape is a 400 in Twilio’s error body', async () => {
  const sandbox = await startSandbox();
  const post = (fields: Record<string, string>) =>
    fetch(`${sandbox.url}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ACCOUNT_SID}:${sandbox.token}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(fields).toString(),
    });
  const noTo = await post({ From: '+15017122661', Body: 'hi' });
  assert.equal(noTo.status, 400);
  assert.deepEqual(await noTo.json(), {
    code: 21604,
    message: "A 'To' phone number is required.",
    more_info: 'https://www.twilio.com/docs/errors/21604',
    status: 400,
  });
  const noBody = await post({ To: '+4915112345678', From: '+15017122661' });
  assert.equal(((await noBody.json()) as { code: number }).code, 21602);
  const created = await post({ To: '+4915112345678', From: '+15017122661', Body: 'hi' });
  assert.equal(created.status, 201);
  assert.equal(((await created.json()) as { status: string }).status, 'queued');
});
