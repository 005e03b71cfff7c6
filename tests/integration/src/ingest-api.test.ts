import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from './harness.ts';
import { startDeployment } from './services.ts';
import { sms } from './requests.ts';


test('a batch of good messages is accepted whole with 202 and one id per item', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const messages = Array.from({ length: 50 }, (_, i) => sms(`m${i}`, { tags: ['promo'] }));
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages });
  assert.equal(status, 202);
  assert.equal(body.accepted.length, 50);
  assert.deepEqual(body.rejected, []);
  assert.deepEqual(body.accepted.map((a: { index: number }) => a.index), [...Array(50).keys()]);
  assert.equal(new Set(body.accepted.map((a: { id: string }) => a.id)).size, 50);

  const batch = await deployment.api('GET', `/v1/batches/${body.batch_id}`);
  assert.equal(batch.status, 200);
  assert.equal(batch.body.accepted, 50);
  assert.deepEqual(batch.body.by_status, { queued: 50 });
});

test('a mixed batch accepts the good items and reports the bad ones by index, code and path', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const messages = [sms('ok 0'), sms('bad phone', { recipient: { phone: '+7123' } }), sms('ok 2'), { channel: 'sms' }];
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages });
  assert.equal(status, 207);
  assert.deepEqual(body.accepted.map((a: { index: number }) => a.index), [0, 2]);
  assert.deepEqual(
    body.rejected.map((r: { index: number; error: { code: string; problems: { path: string }[] } }) => [
      r.index,
      r.error.code,
      r.error.problems.map((p) => p.path),
    ]),
    [
      [1, 'invalid_phone_number', ['/recipient/phone']],
      [3, 'validation_failed', ['/recipient', '/content']],
    ],
  );
  const batch = await deployment.api('GET', `/v1/batches/${body.batch_id}`);
  assert.equal(batch.body.accepted, 2);
  assert.equal(batch.body.rejected, 2);
});

test('an atomic batch with one bad item is refused with 422 and nothing is accepted', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const messages = [sms('ok'), sms('bad', { priority: 'asap' })];
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages, atomic: true });
  assert.equal(status, 422);
  assert.equal(body.error.code, 'batch_rejected');
  assert.deepEqual(body.error.problems.map((p: { path: string }) => p.path), ['/messages/1/priority']);
  assert.deepEqual(body.rejected.map((r: { index: number }) => r.index), [1]);
  const listed = await deployment.api('GET', '/v1/messages');
  assert.deepEqual(listed.body.messages, [], 'nothing journaled');
});

test('batch envelope errors: too many messages is 413, a missing array is 422', async () => {
  const deployment = await startDeployment({ dispatcher: false, env: { INGEST_MAX_BATCH_MESSAGES: '3' } });
  const tooMany = await deployment.api('POST', '/v1/messages/batch', { messages: [1, 2, 3, 4].map((i) => sms(`m${i}`)) });
  assert.equal(tooMany.status, 413);
  assert.equal(tooMany.body.error.code, 'batch_too_large');
  const missing = await deployment.api('POST', '/v1/messages/batch', { message: [] });
  assert.equal(missing.status, 422);
  assert.deepEqual(missing.body.error.problems.map((p: { path: string }) => p.path).sort(), ['/message', '/messages']);
});

test('messages are listed newest first, filtered by status and tag, and paged', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { body } = await deployment.api('POST', '/v1/messages', sms(`m${i}`, { tags: [i % 2 === 0 ? 'even' : 'odd'] }));
    ids.push(body.id);
  }
  const first = await deployment.api('GET', '/v1/messages?limit=2');
  assert.deepEqual(first.body.messages.map((m: { id: string }) => m.id), [ids[4], ids[3]]);
  const second = await deployment.api('GET', `/v1/messages?limit=2&after=${first.body.next_after}`);
  assert.deepEqual(second.body.messages.map((m: { id: string }) => m.id), [ids[2], ids[1]]);
  const even = await deployment.api('GET', '/v1/messages?tag=even&status=queued');
  assert.deepEqual(even.body.messages.map((m: { id: string }) => m.id), [ids[4], ids[2], ids[0]]);
  const bad = await deployment.api('GET', '/v1/messages?status=lost&limit=0');
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.error.problems.map((p: { path: string }) => p.path).sort(), ['/limit', '/status']);
});

test('a queued message can be cancelled, is never sent, and cannot be cancelled twice', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { body } = await deployment.api('POST', '/v1/messages', sms('cancel me'));
  const cancelled = await deployment.api('DELETE', `/v1/messages/${body.id}`);
  assert.equal(cancelled.status, 200);
  assert.equal(cancelled.body.status, 'cancelled');
  const again = await deployment.api('DELETE', `/v1/messages/${body.id}`);
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, 'conflict');

  // A dispatcher started now claims the entry, sees the cancel and does not send it.
  await deployment.startDispatcher();
  await eventually('the lane to be drained', async () =>
    (await deployment.lanes.depths()).normal === 0 ? true : undefined,
  );
  assert.equal(deployment.sandbox.received.list({ clientRef: body.id }).length, 0);
  const after = await deployment.api('GET', `/v1/messages/${body.id}`);
  assert.equal(after.body.status, 'cancelled');
});

test('a message being sent cannot be cancelled; once sent, listings and batch counts show it sent', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { body } = await deployment.api('POST', '/v1/messages/batch', { messages: [sms('one'), sms('two')] });
  const [first, second] = body.accepted.map((item: { id: string }) => item.id);
  await deployment.lanes.markSending([first]); // what a dispatcher does when it claims it
  const refused = await deployment.api('DELETE', `/v1/messages/${first}`);
  assert.equal(refused.status, 409);
  assert.match(refused.body.error.message, /sending/);

  await deployment.startDispatcher();
  await eventually('both messages to be sent', async () => {
    const { body: batch } = await deployment.api('GET', `/v1/batches/${body.batch_id}`);
    return batch.by_status.sent === 2 ? batch : undefined;
  });
  const sent = await deployment.api('GET', '/v1/messages?status=sent');
  assert.deepEqual(sent.body.messages.map((m: { id: string }) => m.id).sort(), [first, second].sort());
  assert.deepEqual((await deployment.api('GET', '/v1/messages?status=queued')).body.messages, []);
  const view = await deployment.api('GET', `/v1/messages/${second}`);
  assert.deepEqual(view.body.timeline.map((e: { status: string }) => e.status), ['accepted', 'queued', 'sending', 'sent']);
  assert.equal((await deployment.api('DELETE', `/v1/messages/${second}`)).status, 409);
});

test('another tenant can neither cancel a message nor see its batch', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { body } = await deployment.api('POST', '/v1/messages/batch', { messages: [sms('mine')] });
  const other = await deployment.addTenant('globex');
  assert.equal((await other('DELETE', `/v1/messages/${body.accepted[0].id}`)).status, 404);
  assert.equal((await other('GET', `/v1/batches/${body.batch_id}`)).status, 404);
  assert.equal((await deployment.api('GET', `/v1/messages/${body.accepted[0].id}`)).body.status, 'queued');
});

test('the OpenAPI document is served from the validation schemas, with a docs page', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { documentedMessageRequestSchema, messageRequestSchema } = await import('@commstrat/core');
  const response = await fetch(`${deployment.ingest.url}/openapi.json`);
  assert.equal(response.status, 200);
  const document = (await response.json()) as any;
  assert.equal(document.openapi, '3.1.0');
  assert.deepEqual(document.components.schemas.MessageRequest, JSON.parse(JSON.stringify(documentedMessageRequestSchema())));
  // The validation schema, plus the rules checked in code: every field as validated.
  assert.deepEqual(Object.keys(document.components.schemas.MessageRequest.properties), Object.keys(messageRequestSchema.properties));
  assert.deepEqual(document.components.schemas.MessageRequest.required, messageRequestSchema.required);
  assert.ok(document.paths['/v1/messages/batch'].post.responses['207']);

  const page = await fetch(`${deployment.ingest.url}/docs`);
  assert.match(await page.text(), /SwaggerUIBundle\(\{ url: '\/openapi.json'/);
  const asset = await fetch(`${deployment.ingest.url}/docs/assets/swagger-ui-bundle.js`);
  assert.equal(asset.status, 200);
  await asset.arrayBuffer();
});
