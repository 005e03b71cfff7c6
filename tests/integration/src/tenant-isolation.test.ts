// Invariant 6: a tenant never sees, lists, counts or cancels another tenant's messages,
// and its idempotency keys are its own. Another tenant's id answers exactly like an id
// that does not exist.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDeployment } from './services.ts';
import { sms } from './requests.ts';


test("a tenant cannot read, list, count, cancel or collide with another tenant's messages", async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const acme = deployment.api;
  const globex = await deployment.addTenant('globex');

  const single = await acme('POST', '/v1/messages', sms('acme one', { idempotency_key: 'order-1', tags: ['shared-tag'] }));
  assert.equal(single.status, 202);
  const batch = await acme('POST', '/v1/messages/batch', { messages: [sms('acme two'), sms('acme three')] });
  assert.equal(batch.status, 202);
  const nowhere = '01M8FJJBEY8YMD6ZQ85TW5Z8T5';

  // Read: another tenant's id is 404 not_found, the same answer as an id that does not exist.
  for (const path of [`/v1/messages/${single.body.id}`, `/v1/batches/${batch.body.batch_id}`]) {
    const seen = await globex('GET', path);
    assert.equal(seen.status, 404, path);
    assert.deepEqual(seen.body.error, (await globex('GET', path.replace(/[^/]+$/, nowhere))).body.error, path);
  }
  // List: nothing of acme's, with or without filters naming acme's batch or tag.
  for (const query of ['', `?batch_id=${batch.body.batch_id}`, '?tag=shared-tag', '?status=queued']) {
    const listed = await globex('GET', `/v1/messages${query}`);
    assert.equal(listed.status, 200, query);
    assert.deepEqual(listed.body.messages, [], query);
  }
  // Cancel: 404, and acme's message is still queued.
  const cancel = await globex('DELETE', `/v1/messages/${single.body.id}`);
  assert.equal(cancel.status, 404);
  assert.equal((await acme('GET', `/v1/messages/${single.body.id}`)).body.status, 'queued');
  // Idempotency keys are per tenant: globex's order-1 is a new message, not acme's.
  const sameKey = await globex('POST', '/v1/messages', sms('globex one', { idempotency_key: 'order-1' }));
  assert.equal(sameKey.status, 202);
  assert.notEqual(sameKey.body.id, single.body.id);
  // And acme sees only its own three messages, never globex's.
  const own = await acme('GET', '/v1/messages');
  assert.deepEqual(own.body.messages.map((m: { id: string }) => m.id).sort(), [single.body.id, ...batch.body.accepted.map((a: { id: string }) => a.id)].sort());
  assert.equal((await acme('GET', `/v1/messages/${sameKey.body.id}`)).status, 404);
});
