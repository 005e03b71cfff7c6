import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signReceiptBody } from '@commstrat/core';
import { eventually } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';
import { sms } from './requests.ts';

const SECRET = 'receipt-secret-for-tests';

/** A deployment whose sandbox provider has a receipt secret and reports as `status` says. */
async function withReceipts(status: 'delivered' | 'undelivered' | 'none') {
  const deployment = await startDeployment();
  await deployment.sql`UPDATE providers SET credentials = credentials || ${deployment.sql.json({ receipt_secret: SECRET })}
    WHERE tenant_id = ${deployment.tenantId}`;
  const url = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/sandbox-sms/receipts`;
  const answer = await fetch(`${deployment.sandbox.url}/_sandbox/receipts`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, secret: SECRET, status, delay_ms: 50 }),
  });
  assert.equal(answer.status, 200);
  return { deployment, url };
}

async function sent(deployment: Deployment, text: string) {
  const { body } = await deployment.api('POST', '/v1/messages', sms(text));
  return eventually(`message ${body.id} to be sent`, async () => {
    const { body: message } = await deployment.api('GET', `/v1/messages/${body.id}`);
    return message.status === 'sent' ? message : undefined;
  });
}

/** POSTs receipts as a provider would, signed (or as `signature` says). */
async function postReceipts(url: string, receipts: object[], signature?: (body: string) => string) {
  const body = JSON.stringify({ receipts });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-commstrat-signature': (signature ?? ((b) => signReceiptBody(SECRET, b, new Date())))(body) },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

test('a delivered receipt from the provider ends the message delivered; a late one changes nothing', async () => {
  const { deployment, url } = await withReceipts('delivered');
  const { body } = await deployment.api('POST', '/v1/messages', sms('reported'));
  const delivered = await eventually('the receipt to arrive', async () => {
    const { body: message } = await deployment.api('GET', `/v1/messages/${body.id}`);
    return message.status === 'delivered' ? message : undefined;
  });
  assert.deepEqual(
    delivered.timeline.map((e: { status: string }) => e.status),
    ['accepted', 'queued', 'sending', 'sent', 'delivered'],
  );
  // The same receipt again, and an undelivered one after it: both answered 200, neither counts.
  const again = await postReceipts(url, [
    { provider_message_id: delivered.provider_message_id, status: 'delivered' },
    { provider_message_id: delivered.provider_message_id, status: 'undelivered', error: 'expired' },
    { provider_message_id: 'sbx_nobody', status: 'delivered' },
  ]);
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, { received: 3, applied: 0, duplicate: 1, late: 1, unknown: 1 });
  const { body: after } = await deployment.api('GET', `/v1/messages/${body.id}`);
  assert.equal(after.status, 'delivered');
  assert.equal(after.timeline.length, 5);
  const metrics = await (await fetch(`${deployment.ingest.url}/metrics`)).text();
  assert.match(metrics, /commstrat_receipts_total\{provider="acme\/sandbox-sms",outcome="parked"[^}]*\} 1\n/);
});

test('an undelivered receipt ends the message failed with the provider error', async () => {
  const { deployment } = await withReceipts('undelivered');
  const { body } = await deployment.api('POST', '/v1/messages', sms('not reported as delivered'));
  const failed = await eventually('the receipt to arrive', async () => {
    const { body: message } = await deployment.api('GET', `/v1/messages/${body.id}`);
    return message.status === 'failed' ? message : undefined;
  });
  assert.match(failed.timeline.at(-1).reason, /^undelivered: absent_subscriber/);
});

test('receipts with a bad signature, a stale timestamp or a replayed signature are refused with 401', async () => {
  const { deployment, url } = await withReceipts('none');
  const message = await sent(deployment, 'signed');
  const receipt = [{ provider_message_id: message.provider_message_id, status: 'delivered' }];
  const forged = await postReceipts(url, receipt, (body) => signReceiptBody('wrong-secret', body, new Date()));
  assert.equal(forged.status, 401);
  assert.equal((forged.body['error'] as { code: string }).code, 'unauthorized');
  const stale = await postReceipts(url, receipt, (body) => signReceiptBody(SECRET, body, new Date(Date.now() - 3_600_000)));
  assert.equal(stale.status, 401);
  assert.match((stale.body['error'] as { message: string }).message, /stale/);
  const unsigned = await postReceipts(url, receipt, () => '');
  assert.equal(unsigned.status, 401);
  const otherProvider = await postReceipts(url.replace('sandbox-sms', 'nobody'), receipt);
  assert.equal(otherProvider.status, 401);

  const signature = signReceiptBody(SECRET, JSON.stringify({ receipts: receipt }), new Date());
  const first = await postReceipts(url, receipt, () => signature);
  assert.equal(first.status, 200);
  assert.equal(first.body['applied'], 1);
  const replayed = await postReceipts(url, receipt, () => signature);
  assert.equal(replayed.status, 401);
  assert.match((replayed.body['error'] as { message: string }).message, /replayed/);
  // The same signature respelt (`t=0<T>` reads as T and signs as T) is not a new one.
  for (const respelt of [signature.replace('t=', 't=0'), signature.replace('t=', 't=000')]) {
    const again = await postReceipts(url, receipt, () => respelt);
    assert.equal(again.status, 401, respelt);
    assert.match((again.body['error'] as { message: string }).message, /signature malformed/);
  }
  const { body: after } = await deployment.api('GET', `/v1/messages/${message.id}`);
  assert.equal(after.status, 'delivered');
});

test('a tenant cannot finish another tenant\'s message with its own provider\'s receipts', async () => {
  const { deployment } = await withReceipts('none');
  const message = await sent(deployment, 'ours');
  await deployment.addTenant('rival');
  await deployment.sql`UPDATE providers SET credentials = credentials || ${deployment.sql.json({ receipt_secret: SECRET })}
    WHERE tenant_id = 'rival'`;
  const rivalUrl = `${deployment.ingest.url}/v1/providers/rival/sandbox-sms/receipts`;
  const answer = await postReceipts(rivalUrl, [{ provider_message_id: message.provider_message_id, status: 'delivered' }]);
  assert.equal(answer.status, 200);
  assert.equal(answer.body['unknown'], 1);
  const { body: after } = await deployment.api('GET', `/v1/messages/${message.id}`);
  assert.equal(after.status, 'sent');
});

test('a receipt that overtakes the journal write of its message\'s sent is kept and applied once it is sent', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  await deployment.sql`UPDATE providers SET credentials = credentials || ${deployment.sql.json({ receipt_secret: SECRET })}
    WHERE tenant_id = ${deployment.tenantId}`;
  const url = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/sandbox-sms/receipts`;
  const { body } = await deployment.api('POST', '/v1/messages', sms('fast provider'));
  const early = await postReceipts(url, [{ provider_message_id: 'sbx_early', status: 'delivered' }]);
  assert.deepEqual(early.body, { received: 1, applied: 0, duplicate: 0, late: 0, unknown: 1 });
  // The batch's outcome reaches the journal only now.
  await deployment.journal.recordStatusChanges([
    { messageId: body.id, event: { status: 'sending', at: new Date(), provider: 'sandbox-sms' } },
    { messageId: body.id, event: { status: 'sent', at: new Date(), provider: 'sandbox-sms', provider_message_id: 'sbx_early' } },
  ]);
  const delivered = await eventually('the kept receipt to be applied', async () => {
    const { body: message } = await deployment.api('GET', `/v1/messages/${body.id}`);
    return message.status === 'delivered' ? message : undefined;
  });
  assert.equal(delivered.timeline.at(-1).status, 'delivered');
});
