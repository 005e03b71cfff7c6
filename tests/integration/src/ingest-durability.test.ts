import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { IdempotencyStore } from '@commstrat/queue';
import { eventually, freePort, testRedis, holdFor } from './harness.ts';
import { spawnApp, startDeployment, type Deployment } from './services.ts';
import { sms } from './requests.ts';



/** Runs the real ingest process with a failpoint; it dies while handling one POST. */
async function crashIngestDuringPost(deployment: Deployment, failpoint: string): Promise<void> {
  const port = await freePort();
  const { exited } = spawnApp('ingest', { ...deployment.env, INGEST_PORT: String(port), INGEST_FAILPOINT: failpoint });
  await eventually('the ingest process to listen', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => undefined);
    return response?.ok === true ? true : undefined;
  });
  const post = await fetch(`http://127.0.0.1:${port}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${deployment.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(sms(`crash at ${failpoint}`)),
  }).catch((error: unknown) => error);
  assert.ok(post instanceof Error, 'the producer got no answer: the process died mid-request');
  const [code] = await exited;
  assert.equal(code, 137);
}

for (const failpoint of ['exit-after-journal', 'exit-after-enqueue']) {
  test(`a crash ${failpoint.replace('exit-', '').replaceAll('-', ' ')} is repaired by the recovery pass, enqueuing the message once`, async () => {
    const deployment = await startDeployment({ dispatcher: false });
    await crashIngestDuringPost(deployment, failpoint);
    const [journaled] = (await deployment.api('GET', '/v1/messages')).body.messages;
    assert.equal(journaled.status, 'queued', 'the journal write happened before the crash');
    const before = (await deployment.lanes.depths()).normal;
    assert.equal(before, failpoint === 'exit-after-journal' ? 0 : 1);

    // A restarted replica runs the recovery pass at once (no grace for the test).
    await deployment.startIngest({ INGEST_RECOVERY_GRACE_MS: '0', INGEST_RECOVERY_INTERVAL_MS: '200' });
    await eventually('the message to be in its lane', async () =>
      (await deployment.lanes.depths()).normal === 1 ? true : undefined,
    );
    // Further passes (and another replica) change nothing: the request is marked done.
    await deployment.startIngest({ INGEST_RECOVERY_GRACE_MS: '0', INGEST_RECOVERY_INTERVAL_MS: '200' });
    await holdFor(800, 'further recovery passes may run and must change nothing');
    assert.equal((await deployment.lanes.depths()).normal, 1);

    await deployment.startDispatcher();
    await eventually('the recovered message to be sent', async () => {
      const { body } = await deployment.api('GET', `/v1/messages/${journaled.id}`);
      return body.status === 'sent' ? body : undefined;
    });
    assert.equal(deployment.sandbox.received.list({ clientRef: journaled.id }).length, 1);
  });
}

test('a crash between the request and its messages leaves neither journaled where the server has transactions', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  await crashIngestDuringPost(deployment, 'exit-after-request');
  const { db } = deployment;
  assert.equal(await db.collection('requests').countDocuments(), 0, 'the request was rolled back with its transaction');
  assert.equal(await db.collection('messages').countDocuments(), 0);
  assert.equal((await deployment.lanes.depths()).normal, 0);
});

test('the same idempotency key returns the original id and enqueues nothing new', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { redis } = await testRedis();
  const first = await deployment.api('POST', '/v1/messages', sms('once', { idempotency_key: 'order-42' }));
  const second = await deployment.api('POST', '/v1/messages', sms('once', { idempotency_key: 'order-42' }));
  assert.equal(first.status, 202);
  assert.equal(second.status, 202);
  assert.equal(second.body.id, first.body.id);
  assert.equal((await deployment.lanes.depths()).normal, 1);

  const batch = await deployment.api('POST', '/v1/messages/batch', {
    messages: [sms('once', { idempotency_key: 'order-42' }), sms('new', { idempotency_key: 'order-43' })],
  });
  assert.equal(batch.status, 202);
  assert.deepEqual(batch.body.accepted[0], { index: 0, id: first.body.id, status: 'queued', duplicate: true });
  assert.notEqual(batch.body.accepted[1].id, first.body.id);
  assert.equal((await deployment.lanes.depths()).normal, 2);

  const other = await deployment.addTenant('globex');
  const theirs = await other('POST', '/v1/messages', sms('theirs', { idempotency_key: 'order-42' }));
  assert.notEqual(theirs.body.id, first.body.id, 'keys are per tenant');

  // A key held by a request still being accepted (reserved, not completed) is a 409.
  const store = new IdempotencyStore(redis, { prefix: String(deployment.env['COMMSTRAT_REDIS_PREFIX']) });
  assert.equal((await store.reserve(deployment.tenantId, 'order-44')).status, 'new');
  const busy = await deployment.api('POST', '/v1/messages', sms('busy', { idempotency_key: 'order-44' }));
  assert.equal(busy.status, 409);
  assert.equal(busy.body.error.code, 'idempotency_in_progress');
  assert.deepEqual(busy.body.error.problems.map((p: { path: string }) => p.path), ['/idempotency_key']);

  // An atomic batch with such a key is refused whole: nothing of it is accepted.
  const depth = (await deployment.lanes.depths()).normal;
  const atomic = await deployment.api('POST', '/v1/messages/batch', {
    atomic: true,
    messages: [sms('fine'), sms('busy', { idempotency_key: 'order-44' })],
  });
  assert.equal(atomic.status, 422);
  assert.equal(atomic.body.error.code, 'batch_rejected');
  assert.equal((await deployment.lanes.depths()).normal, depth);
});

test('a tenant over its request rate gets 429 with Retry-After', async () => {
  const deployment = await startDeployment({
    dispatcher: false,
    env: { INGEST_TENANT_RATE_PER_SECOND: '2', INGEST_TENANT_BURST: '2' },
  });
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await deployment.api('GET', '/v1/messages'));
  assert.deepEqual(answers.map((a) => a.status), [200, 200, 429, 429]);
  assert.equal(answers[2]?.body.error.code, 'rate_limited');
  const limited = await fetch(`${deployment.ingest.url}/v1/messages`, {
    headers: { authorization: `Bearer ${deployment.apiKey}` },
  });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  await limited.text();
});

test('intake sheds load with 503 when the lanes are over their cap, and nothing is accepted', async () => {
  const deployment = await startDeployment({ dispatcher: false, env: { INGEST_LANE_CAP: '3' } });
  for (let i = 0; i < 4; i++) {
    assert.equal((await deployment.api('POST', '/v1/messages', sms(`m${i}`))).status, 202);
    await holdFor(300, 'past the 250 ms a lane-depth sample is kept: the next request sees this one');
  }
  const shed = await deployment.api('POST', '/v1/messages', sms('one too many'));
  assert.equal(shed.status, 503);
  assert.equal(shed.body.error.code, 'lanes_full');
  const listed = await deployment.api('GET', '/v1/messages');
  assert.equal(listed.body.messages.length, 4);
});

test('with Redis down, intake answers 503 and keeps nothing half-accepted', async (t) => {
  // A Redis of this test's own, so it can be stopped without disturbing other tests.
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  t.after(() => redis.kill('SIGKILL'));
  const deployment = await startDeployment({
    dispatcher: false,
    env: { COMMSTRAT_REDIS_URL: `redis://127.0.0.1:${port}` },
  });
  const ok = await deployment.api('POST', '/v1/messages', sms('before the outage'));
  assert.equal(ok.status, 202);

  redis.kill('SIGKILL');
  await once(redis, 'exit');
  await holdFor(300, 'past the 250 ms a lane-depth sample is kept: the next request asks Redis');
  const down = await deployment.api('POST', '/v1/messages', sms('during the outage'));
  assert.equal(down.status, 503);
  assert.equal(down.body.error.code, 'dependency_unavailable');

  const ready = await fetch(`${deployment.ingest.url}/health/ready`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as any).checks.redis.status, 'down');

  // Whatever the journal holds of the refused request is marked rejected, never queued.
  const listed = await deployment.api('GET', '/v1/messages?status=queued');
  assert.deepEqual(listed.body.messages.map((m: { id: string }) => m.id), [ok.body.id]);
});
