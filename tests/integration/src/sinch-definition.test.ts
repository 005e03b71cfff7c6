import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderRejectedError, signReceiptBody } from '@commstrat/core';
import { DeclarativeHttpAdapter, shippedDefinitions } from '@commstrat/providers';
import { allowing, eventually, queuedMessage } from './harness.ts';
import { RECEIPT_SECRET, definitionDeployment, exchangesOf, retriesWaitForRetryAfter } from './definition-deployments.ts';
import { setSandboxBehaviour, startSandbox } from './services.ts';

const SERVICE_PLAN = 'jd63jf88477ll123ab4567cd89012ef3';
/** The callback login provisioned at Sinch for this account (its reports carry it as basic auth). */
const CALLBACK = { username: 'sinch-callbacks', password: 'callback-password-for-tests' };
const basicAuth = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** A tenant sending through the sinch-sms definition; the sandbox token is the API token. */
function sinch(receipts?: { status: 'delivered' | 'undelivered' | 'none'; error?: string }, apiToken?: string) {
  return definitionDeployment({
    kind: 'sinch-sms',
    id: 'sinch',
    credentials: (receiptUrl, sandbox) => ({
      service_plan_id: SERVICE_PLAN,
      api_token: apiToken ?? sandbox.token,
      from: '12345',
      callback_url: receiptUrl,
      callback_username: CALLBACK.username,
      callback_password: CALLBACK.password,
      receipt_secret: RECEIPT_SECRET,
    }),
    ...(receipts === undefined ? {} : { receipts: { ...receipts, basic: CALLBACK } }),
  });
}

test('Sinch: a batch per message, single and batch; recipient delivery reports end them delivered by "<batch id>:<recipient>"', async () => {
  const { deployment, send, sendBatch, until } = await sinch({ status: 'delivered' });
  const ids = [await send('single'), ...(await sendBatch(['one', 'two']))];
  const views = await Promise.all(ids.map((id) => until(id, 'delivered')));
  const received = deployment.sandbox.received.latest(10);
  for (const view of views) {
    assert.match(view.provider_message_id, /^[0-9A-Z]{26}:\d+$/);
    // The per-recipient id is the batch id and the recipient's digits, as the reports name it.
    assert.equal(view.provider_message_id.split(':')[1], view.recipient.phone.slice(1));
    assert.ok(received.some((m) => m.message_id === view.provider_message_id && m.client_ref === view.id));
  }
  assert.equal(new Set(received.map((m) => m.request_seq)).size, 3, 'one batch request per message');
  const [exchange] = await exchangesOf(deployment, ids[0]!);
  assert.equal(exchange?.http_status, 201);
  assert.deepEqual(JSON.parse(exchange?.request ?? '{}'), {
    from: '12345',
    to: ['+4915112345678'],
    body: 'single',
    delivery_report: 'per_recipient',
    callback_url: `${deployment.ingest.url}/v1/providers/acme/sinch/receipts`,
    client_reference: ids[0],
  });
  // The intermediate Dispatched report of each recipient is counted as ignored.
  const metrics = await (await fetch(`${deployment.ingest.url}/metrics`)).text();
  assert.match(metrics, /commstrat_receipts_total\{provider="acme\/sinch",outcome="ignored"[^}]*\} 3\n/);
});

test('Sinch: a Failed report ends the message failed with its status code', async () => {
  const { send, until } = await sinch({ status: 'undelivered', error: '402' });
  const failed = await until(await send('never arrives'), 'failed');
  assert.match(failed.timeline.at(-1).reason, /^undelivered: 402/);
});

test('Sinch: 400 syntax_invalid_parameter_format (a bad MSISDN) is permanent', async () => {
  const sandbox = await startSandbox();
  const definition = shippedDefinitions().get('sinch-sms');
  assert.ok(definition);
  const adapter = new DeclarativeHttpAdapter({
    id: 'acme/sinch',
    definition,
    baseUrl: sandbox.url,
    egress: allowing(sandbox.url),
    credentials: { service_plan_id: SERVICE_PLAN, api_token: sandbox.token, from: '12345' },
    timeoutMs: 3000,
  });
  test.after(() => adapter.close());
  // Ingest refuses such a number at intake; the adapter is called with it directly here.
  const result = await adapter.send([{ ...queuedMessage('normal'), recipient: { phone: '+0000' } }]);
  assert.ok(result.error instanceof ProviderRejectedError, String(result.error));
  assert.equal(result.exchange.httpStatus, 400);
  assert.equal(JSON.parse(result.exchange.response).code, 'syntax_invalid_parameter_format');
});

test('Sinch: a 5xx is retried, and the message is sent once the API answers again', async () => {
  const { deployment, send, until } = await sinch();
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  const id = await send('after an outage');
  await eventually('a 503 from Sinch', async () => ((await exchangesOf(deployment, id)).some((e) => e.http_status === 503) ? true : undefined));
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 0 });
  await until(id, 'sent');
  assert.equal((await exchangesOf(deployment, id)).at(-1)?.http_status, 201);
});

test('Sinch: 429 is rate limited, and the retry waits for Retry-After', async () => {
  await retriesWaitForRetryAfter(await sinch());
});

test('Sinch: a wrong API token (401) fails the message for good', async () => {
  const { deployment, send, until } = await sinch(undefined, 'not-the-token');
  const id = await send('misconfigured');
  await until(id, 'failed');
  assert.deepEqual((await exchangesOf(deployment, id)).map((e) => e.http_status), [401]);
});

test('Sinch: a report with a wrong basic login or a bad signature is refused; a list of reports applies', async () => {
  const { receiptUrl, send, until } = await sinch();
  const [first, second] = [await send('one'), await send('two', '+4915112345699')];
  const views = [await until(first, 'sent'), await until(second, 'sent')];
  const report = (view: { provider_message_id: string }, status: string) => {
    const [batchId, recipient] = view.provider_message_id.split(':');
    return { type: 'recipient_delivery_report_sms', batch_id: batchId, recipient, code: status === 'Delivered' ? 0 : 402, status, at: new Date().toISOString() };
  };
  const post = (reports: object, signature: (body: string) => string) => {
    const body = JSON.stringify(reports);
    return fetch(receiptUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'x-commstrat-signature': signature(body) }, body });
  };
  const postAs = (reports: object, authorization: string | undefined) =>
    fetch(receiptUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
      body: JSON.stringify(reports),
    });
  const reports = [report(views[0], 'Delivered'), report(views[1], 'Failed')];
  assert.equal((await postAs(reports, basicAuth(CALLBACK.username, 'wrong-password'))).status, 401);
  assert.equal((await postAs(reports, undefined)).status, 401);
  // A relay in front of ingest may sign them the generic way instead; a bad signature is refused too.
  const forged = await post(reports, (body) => signReceiptBody('wrong-secret', body, new Date()));
  assert.equal(forged.status, 401);
  assert.equal((await until(first, 'sent')).status, 'sent');
  const good = await postAs(reports, basicAuth(CALLBACK.username, CALLBACK.password));
  assert.equal(good.status, 200);
  assert.deepEqual(await good.json(), { received: 2, applied: 2, duplicate: 0, late: 0, unknown: 0, ignored: 0 });
  await until(first, 'delivered');
  await until(second, 'failed');
  // A report for a batch nobody sent is counted (and kept a while), never an error page.
  const stray = await post({ ...report(views[0], 'Delivered'), batch_id: '01ZZZZZZZZZZZZZZZZZZZZZZZZ' }, (body) =>
    signReceiptBody(RECEIPT_SECRET, body, new Date()),
  );
  assert.deepEqual(await stray.json(), { received: 1, applied: 0, duplicate: 0, late: 0, unknown: 1, ignored: 0 });
  // The generic format, signed the generic way (a relay), still works for this provider.
  const third = await until(await send('three', '+4915112345698'), 'sent');
  const generic = await post({ receipts: [{ provider_message_id: third.provider_message_id, status: 'delivered' }] }, (body) =>
    signReceiptBody(RECEIPT_SECRET, body, new Date()),
  );
  assert.deepEqual(await generic.json(), { received: 1, applied: 1, duplicate: 0, late: 0, unknown: 0 });
  await until(third.id, 'delivered');
});

test('Sinch sandbox: a batch of the wrong shape is a 400 in Sinch’s {code, text} body', async () => {
  const sandbox = await startSandbox();
  const post = (batch: object) =>
    fetch(`${sandbox.url}/xms/v1/${SERVICE_PLAN}/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sandbox.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
  const noBody = await post({ from: '12345', to: ['+4915112345678'] });
  assert.equal(noBody.status, 400);
  assert.equal(((await noBody.json()) as { code: string }).code, 'syntax_constraint_violation');
  const badReport = await post({ to: ['+4915112345678'], body: 'hi', delivery_report: 'sometimes' });
  assert.equal(((await badReport.json()) as { code: string }).code, 'syntax_invalid_parameter_format');
  const created = await post({ from: '12345', to: ['+4915112345678', '4915112345679'], body: 'hi' });
  assert.equal(created.status, 201);
  const batch = (await created.json()) as { id: string; type: string; to: string[] };
  assert.match(batch.id, /^[0-9A-Z]{26}$/);
  assert.equal(batch.type, 'mt_text');
  assert.deepEqual(batch.to, ['+4915112345678', '4915112345679']);
});

test('Sinch: a report body that is not UTF-8 or not JSON is a 400 saying which, and reports still apply after it', async () => {
  const { deployment, receiptUrl, send, until } = await sinch();
  const post = (body: string | Buffer) =>
    fetch(receiptUrl, { method: 'POST', headers: { authorization: basicAuth(CALLBACK.username, CALLBACK.password), 'content-type': 'application/json' }, body });
  const badBytes = await post(Buffer.from([0x5b, 0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d, 0x5d]));
  assert.equal(badBytes.status, 400);
  assert.equal(((await badBytes.json()) as { error: { code: string } }).error.code, 'invalid_encoding');
  const notJson = await post('{not json');
  assert.equal(notJson.status, 400);
  assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'malformed_json');
  const id = await send('after hostile reports');
  const [batchId, recipient] = ((await until(id, 'sent')).provider_message_id as string).split(':');
  const good = await post(JSON.stringify({ type: 'recipient_delivery_report_sms', batch_id: batchId, recipient, code: 0, status: 'Delivered', at: new Date().toISOString() }));
  assert.equal(good.status, 200);
  await until(id, 'delivered');
  assert.equal((await fetch(`${deployment.ingest.url}/health/live`)).status, 200);
});
