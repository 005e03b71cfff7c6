import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from './harness.ts';
import { setSandboxBehaviour, spawnApp, startDeployment } from './services.ts';
import { sms } from './requests.ts';


test('entries of a replica killed with SIGKILL mid-batch are reclaimed and every message is sent', async () => {
  const deployment = await startDeployment({ dispatcher: false, routing: { maxBatchSize: 20, lingerMs: 10 } });
  // A slow provider, so the replica dies with batches in flight.
  await setSandboxBehaviour(deployment.sandbox, { latency_ms: 1500 });
  const { body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: Array.from({ length: 60 }, (_, i) => sms(`m${i}`)),
  });
  const ids: string[] = body.accepted.map((item: { id: string }) => item.id);

  const { child: victim, exited } = spawnApp('dispatcher', {
    ...deployment.env,
    DISPATCHER_PORT: '0',
    DISPATCHER_CONSUMER: 'victim',
  });
  await eventually('the replica to have claimed everything', async () =>
    (await deployment.lanes.pendingCount()).normal === 60 ? true : undefined,
  );
  await eventually('its first requests to be at the provider', () => Promise.resolve(deployment.sandbox.received.size > 0 ? true : undefined));
  victim.kill('SIGKILL');
  await exited;
  assert.ok(deployment.sandbox.received.size < 60, 'killed before it could finish');

  await setSandboxBehaviour(deployment.sandbox, { latency_ms: 0 });
  await deployment.startDispatcher({ DISPATCHER_CONSUMER: 'survivor', DISPATCHER_VISIBILITY_TIMEOUT_MS: '1000' });
  await eventually(
    'every message to be sent',
    async () => {
      const listed = await deployment.api('GET', '/v1/messages?limit=100&status=sent');
      return listed.body.messages.length === 60 ? true : undefined;
    },
    30_000,
  );
  for (const id of ids) {
    assert.ok(deployment.sandbox.received.list({ clientRef: id }).length >= 1, `message ${id} reached the provider`);
  }
  // Outcomes are journaled before the ack: the last acks follow the last status by a moment.
  await eventually('every entry to be acknowledged', async () =>
    Object.values(await deployment.lanes.pendingCount()).every((count) => count === 0) ? true : undefined,
  );
  assert.deepEqual(await deployment.lanes.pendingCount(), { critical: 0, high: 0, normal: 0, bulk: 0 });
});

test('three replicas together never exceed the provider rate in any one-second window (+5%)', async () => {
  const rate = 100;
  const deployment = await startDeployment({
    dispatcher: false,
    routing: { ratePerSecond: rate, maxBatchSize: 10, lingerMs: 5, concurrency: 4 },
  });
  const total = 500;
  const { status } = await deployment.api('POST', '/v1/messages/batch', {
    messages: Array.from({ length: total }, (_, i) => sms(`m${i}`)),
  });
  assert.equal(status, 202);
  await Promise.all(['r1', 'r2', 'r3'].map((consumer) => deployment.startDispatcher({ DISPATCHER_CONSUMER: consumer })));
  await eventually('every message to arrive', () => Promise.resolve(deployment.sandbox.received.size >= total ? true : undefined), 30_000);

  const arrivals = deployment.sandbox.received.list({}).map((sms) => sms.received_at).sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < arrivals.length; i++) {
    while ((arrivals[i] ?? 0) - (arrivals[j] ?? 0) >= 1000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  assert.ok(worst <= rate * 1.05, `at most ${rate * 1.05} in any 1-second window, saw ${worst}`);
  const seconds = ((arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0)) / 1000;
  // Small rates shred batches (the bucket's burst is 2.5% of the rate), so the replicas
  // use somewhat less than the rate; they must not be starved either.
  assert.ok(total / seconds >= rate * 0.5, `the replicas used the rate: ${(total / seconds).toFixed(0)}/s`);
});

test('a replica stopped with SIGTERM finishes its batches in flight before it exits', async () => {
  const deployment = await startDeployment({ dispatcher: false, routing: { maxBatchSize: 10, lingerMs: 10 } });
  await setSandboxBehaviour(deployment.sandbox, { latency_ms: 1000 });
  await deployment.api('POST', '/v1/messages/batch', { messages: Array.from({ length: 30 }, (_, i) => sms(`m${i}`)) });
  const { child: replica, exited } = spawnApp('dispatcher', {
    ...deployment.env,
    DISPATCHER_PORT: '0',
    DISPATCHER_MAX_IN_FLIGHT: '30',
  });
  await eventually('the replica to have claimed everything', async () =>
    (await deployment.lanes.pendingCount()).normal === 30 ? true : undefined,
  );
  replica.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
  assert.equal(deployment.sandbox.received.size, 30, 'every claimed message was sent');
  assert.deepEqual(await deployment.lanes.pendingCount(), { critical: 0, high: 0, normal: 0, bulk: 0 }, 'and acked');
});

test('a reclaimed entry whose outcome the journal already holds is acknowledged, not sent again', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { body } = await deployment.api('POST', '/v1/messages/batch', { messages: [sms('recorded'), sms('not recorded')] });
  const [recorded, pending] = body.accepted.map((item: { id: string }) => item.id) as [string, string];
  // A replica claimed both, recorded the first one's outcome, and died before the ack.
  await deployment.lanes.ensureGroup();
  const claimed = await deployment.lanes.claim('dead', 10, 0, ['normal']);
  assert.equal(claimed.length, 2);
  await deployment.journal.recordStatusChanges([
    { messageId: recorded, event: { status: 'sending', at: new Date(), provider: 'sandbox-sms' } },
    { messageId: recorded, event: { status: 'sent', at: new Date(), provider: 'sandbox-sms', provider_message_id: 'sbx_before' } },
  ]);
  await deployment.startDispatcher({ DISPATCHER_CONSUMER: 'survivor', DISPATCHER_VISIBILITY_TIMEOUT_MS: '500' });
  await eventually('the other message to be sent', async () => {
    const { body: message } = await deployment.api('GET', `/v1/messages/${pending}`);
    return message.status === 'sent' ? true : undefined;
  });
  await eventually('both entries to be acknowledged', async () =>
    (await deployment.lanes.pendingCount()).normal === 0 ? true : undefined,
  );
  assert.equal(deployment.sandbox.received.list({ clientRef: recorded }).length, 0, 'not sent a second time');
  assert.equal(deployment.sandbox.received.list({ clientRef: pending }).length, 1);
  const { body: message } = await deployment.api('GET', `/v1/messages/${recorded}`);
  assert.equal(message.provider_message_id, 'sbx_before');
});
