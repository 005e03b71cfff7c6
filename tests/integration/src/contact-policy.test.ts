import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy } from '@commstrat/config';
import type { FrequencyCap } from '@commstrat/core';
import { Redis } from 'ioredis';
import { eventually, stackEnv, holdFor } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';

const ANN = '+4915112345678';
const BOB = '+4915187654321';

/** The tenant's `campaign` strategy: the sandbox provider, under these caps. */
async function campaign(deployment: Deployment, caps: FrequencyCap[], extra: Record<string, unknown> = {}): Promise<void> {
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'campaign',
    channel: 'sms',
    contact_policy: { caps },
    steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ...extra }],
  });
}

const sms = (phone: string, text: string, more: Record<string, unknown> = {}) => ({
  strategy: 'campaign',
  category: 'marketing',
  recipient: { phone },
  content: { text },
  ...more,
});

async function postBatch(deployment: Deployment, messages: unknown[]): Promise<string[]> {
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages });
  assert.equal(status, 202, JSON.stringify(body));
  assert.equal(body.rejected.length, 0, JSON.stringify(body.rejected));
  return body.accepted.map((item: { id: string }) => item.id);
}

async function messages(deployment: Deployment, ids: readonly string[]) {
  return Promise.all(ids.map(async (id) => (await deployment.api('GET', `/v1/messages/${id}`)).body));
}

/** Waits until none of `ids` is still on its way: each sent, or held back with a reason. */
async function settledAll(deployment: Deployment, ids: readonly string[], done: (status: string, reason: string) => boolean) {
  return eventually(
    'every message to be sent or held back',
    async () => {
      const found = await messages(deployment, ids);
      return found.every((m) => m.status === 'sent' || done(m.status, m.timeline.at(-1)?.reason ?? '')) ? found : undefined;
    },
    30_000,
  );
}

async function threeReplicas(deployment: Deployment): Promise<void> {
  // Small claims and one-message batches, so the three replicas share the work.
  await Promise.all(
    ['r1', 'r2', 'r3'].map((consumer) => deployment.startDispatcher({ DISPATCHER_CONSUMER: consumer, DISPATCHER_CLAIM_COUNT: '2' })),
  );
}

test('a cap of 3 marketing SMS a day holds across three replicas: 10 to one number, exactly 3 sent, 7 deferred a day', async () => {
  const deployment = await startDeployment({ dispatcher: false, routing: { maxBatchSize: 1, lingerMs: 0 } });
  await campaign(deployment, [{ category: 'marketing', channel: 'sms', max: 3, per_seconds: 86_400, over: 'defer' }]);
  await threeReplicas(deployment);
  const ids = await postBatch(deployment, [
    ...Array.from({ length: 10 }, (_, i) => sms(ANN, `offer ${i}`)),
    sms(ANN, 'your order shipped', { category: 'transactional' }),
    sms(ANN, 'your code is 1234', { priority: 'critical' }),
    sms(BOB, 'offer for Bob'),
  ]);
  const marketing = ids.slice(0, 10);
  const found = await settledAll(deployment, marketing, (status, reason) => status === 'scheduled' && /frequency cap/.test(reason));
  assert.ok(found.every((m) => m.category === 'marketing'), 'the category is journaled and shown');
  const sent = found.filter((m) => m.status === 'sent');
  const deferred = found.filter((m) => m.status === 'scheduled');
  assert.equal(sent.length, 3, 'exactly the cap was sent');
  assert.equal(deferred.length, 7);
  const firstSent = Math.min(...sent.map((m) => Date.parse(m.timeline.find((e: { status: string }) => e.status === 'sent').at)));
  for (const message of deferred) {
    const reason: string = message.timeline.at(-1).reason;
    assert.match(reason, /^frequency cap: at most 3 marketing sms per 86400 s to this recipient; next allowed at /);
    const allowedAt = Date.parse(reason.replace(/^.*next allowed at /, ''));
    assert.ok(Math.abs(allowedAt - (firstSent + 86_400_000)) < 2000, 'deferred until a day after the first counted send');
  }
  // The other category, critical, and another recipient are not held by Ann's cap.
  await eventually('the others to be sent', async () =>
    (await messages(deployment, ids.slice(10))).every((m) => m.status === 'sent') ? true : undefined,
  );
  await holdFor(500, 'no capped message may be sent meanwhile');
  assert.equal(deployment.sandbox.received.list({ to: ANN }).length, 3 + 2, 'three offers, the shipping note and the code');
  assert.equal(deployment.sandbox.received.list({ to: BOB }).length, 1);
  // No address in any Redis key name.
  const redis = new Redis(stackEnv().redisUrl);
  const keys = await redis.keys(`${deployment.env['COMMSTRAT_REDIS_PREFIX'] ?? 'none'}*`).finally(() => redis.quit());
  assert.ok(keys.some((key) => key.includes(':cap:')), `a cap window is kept: ${keys.join(', ')}`);
  assert.ok(keys.every((key) => !key.includes('4915112345678')), 'no phone number in key names');
});

test('a cap that drops: over it a message ends failed with the cap as its reason, never sent', async () => {
  const deployment = await startDeployment({ dispatcher: false, routing: { maxBatchSize: 1, lingerMs: 0 } });
  await campaign(deployment, [{ category: 'marketing', max: 3, per_seconds: 3600, over: 'drop' }]);
  await threeReplicas(deployment);
  const ids = await postBatch(deployment, Array.from({ length: 10 }, (_, i) => sms(ANN, `flash sale ${i}`)));
  const found = await settledAll(deployment, ids, (status) => status === 'failed');
  assert.equal(found.filter((m) => m.status === 'sent').length, 3);
  const failed = found.filter((m) => m.status === 'failed');
  assert.equal(failed.length, 7);
  for (const message of failed) {
    assert.equal(message.timeline.at(-1).reason, 'frequency cap: at most 3 marketing sms per 3600 s to this recipient; dropped');
  }
  assert.equal(deployment.sandbox.received.list({ to: ANN }).length, 3);
});
