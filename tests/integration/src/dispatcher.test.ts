import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import { newId, type QueuedMessage } from '@commstrat/core';
import { eventually, holdFor } from './harness.ts';
import { setSandboxBehaviour, startDeployment, startSandbox, type Deployment, LOOPBACK } from './services.ts';
import { sms, postMessage as post, untilStatus } from './requests.ts';



async function statusOf(deployment: Deployment, id: string): Promise<{ status: string; timeline: { status: string; reason?: string; provider?: string }[] }> {
  return (await deployment.api('GET', `/v1/messages/${id}`)).body;
}


/** Saves a new version of the tenant's default SMS strategy. */
async function useStrategy(deployment: Deployment, step: object): Promise<void> {
  await saveStrategy(deployment.sql, deployment.tenantId, { name: 'sms-default', channel: 'sms', steps: [step] }, { defaultForChannel: true });
}

const fastRetry = (maxAttempts: number) => ({ max_attempts: maxAttempts, base_delay_ms: 100, max_delay_ms: 200 });

test('a critical message overtakes a bulk backlog of 100 000', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false, routing: { ratePerSecond: 1_000_000, maxBatchSize: 500, lingerMs: 5 } });
  const filler = (i: number): QueuedMessage => ({
    id: newId(),
    tenant_id: deployment.tenantId,
    channel: 'sms',
    strategy: undefined,
    priority: 'bulk',
    recipient: { phone: '+79161234567' },
    content: { text: `bulk ${i}` },
    expires_at: undefined,
  });
  for (let start = 0; start < 100_000; start += 10_000) {
    await deployment.lanes.enqueue(Array.from({ length: 10_000 }, (_, i) => filler(start + i)));
  }
  await deployment.startDispatcher();
  await eventually('the dispatcher to be working through the backlog', () =>
    Promise.resolve(deployment.sandbox.received.size > 0 ? true : undefined),
  );
  const critical = await post(deployment, sms('critical', { priority: 'critical' }));
  await untilStatus(deployment, critical, 'sent');
  const bulkLeft = (await deployment.lanes.depths()).bulk;
  assert.ok(bulkLeft > 50_000, `the critical message was sent while ${bulkLeft} bulk entries still waited`);
});

test('a critical batch has a request slot of its own: it never waits for a bulk request to come back', async () => {
  // One slot, and a provider that takes 2 s to answer: without a slot of its own the
  // critical message would go only once the bulk request is back, 2 s after it.
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], routing: { concurrency: 1, lingerMs: 1 } });
  await setSandboxBehaviour(deployment.sandbox, { latency_ms: 2000 });
  const bulk = await post(deployment, sms('bulk first', { priority: 'bulk' }));
  // The sandbox shows a request only once it answers it: nothing tells that the bulk
  // request is in flight, so the critical one goes well inside its 2 s.
  await holdFor(300, 'the bulk request is in flight at the provider, which holds it 2 s');
  const critical = await post(deployment, sms('critical second', { priority: 'critical' }));
  await untilStatus(deployment, critical, 'sent');
  await untilStatus(deployment, bulk, 'sent');
  const [bulkArrival] = deployment.sandbox.received.list({ clientRef: bulk });
  const [criticalArrival] = deployment.sandbox.received.list({ clientRef: critical });
  assert.ok(bulkArrival !== undefined && criticalArrival !== undefined);
  assert.ok(
    criticalArrival.received_at - bulkArrival.received_at < 1000,
    `the critical message arrived ${criticalArrival.received_at - bulkArrival.received_at} ms after the bulk one; ` +
      'with a slot of its own it goes while the bulk request is in flight, about 300 ms after it',
  );
});

test('batches leave full at the max batch size, and a part-full batch leaves after the linger', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false, routing: { maxBatchSize: 10, lingerMs: 400 } });
  const { body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: Array.from({ length: 25 }, (_, i) => sms(`m${i}`)),
  });
  const claimedAt = Date.now();
  await deployment.startDispatcher();
  await eventually('all 25 to arrive', () => Promise.resolve(deployment.sandbox.received.size === 25 ? true : undefined));
  const requests = new Map<number, number[]>();
  for (const sms of deployment.sandbox.received.list({})) {
    const times = requests.get(sms.request_seq) ?? [];
    times.push(sms.received_at);
    requests.set(sms.request_seq, times);
  }
  const sizes = [...requests.values()].map((times) => times.length).sort((a, b) => b - a);
  assert.deepEqual(sizes, [10, 10, 5]);
  const partial = [...requests.values()].find((times) => times.length === 5);
  assert.ok((partial?.[0] ?? 0) - claimedAt >= 350, 'the part-full batch waited for its linger');
  assert.equal(body.accepted.length, 25);
});

test('a message outside its send window waits for the opening and is sent then, not before', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  // A window that opens two hours from now (UTC), so "now" is outside it.
  const start = new Date(Date.now() + 2 * 3600_000);
  const hhmm = (date: Date) => date.toISOString().slice(11, 16);
  await useStrategy(deployment, {
    route: { mode: 'failover', providers: ['sandbox-sms'] },
    window: { start: hhmm(start), end: hhmm(new Date(start.getTime() + 3600_000)), time_zone: 'UTC' },
    ttl_seconds: 86_400,
  });
  // The dispatcher's clock runs at real speed from an offset the test moves.
  let offset = 0;
  await deployment.startDispatcher({}, { clock: () => Date.now() + offset });
  const id = await post(deployment, sms('in the window'));
  const deferred = await untilStatus(deployment, id, 'scheduled');
  assert.match(deferred.timeline.at(-1)?.reason ?? '', /outside the send window; opens/);
  await holdFor(500, 'nothing may be sent outside the window meanwhile');
  assert.equal(deployment.sandbox.received.list({ clientRef: id }).length, 0, 'nothing sent outside the window');

  offset = new Date(`${start.toISOString().slice(0, 16)}:00.000Z`).getTime() + 1000 - Date.now(); // jump to the opening
  await untilStatus(deployment, id, 'sent');
  assert.equal(deployment.sandbox.received.list({ clientRef: id }).length, 1);
});

test('a message past its expiry is never sent and ends expired with the reason', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  const id = await post(deployment, sms('too late', { ttl: 60 }));
  await deployment.startDispatcher({}, { clock: () => Date.now() + 120_000 });
  const expired = await untilStatus(deployment, id, 'expired');
  assert.match(expired.timeline.at(-1)?.reason ?? '', /expired/);
  assert.equal(deployment.sandbox.received.size, 0);
});

test('a provider error is retried with back-off and the message is then sent', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  await useStrategy(deployment, { route: { mode: 'failover', providers: ['sandbox-sms'] }, retry: fastRetry(5) });
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  await deployment.startDispatcher();
  const id = await post(deployment, sms('retry me'));
  const retrying = await untilStatus(deployment, id, 'scheduled');
  assert.match(retrying.timeline.at(-1)?.reason ?? '', /attempt 2 after back-off: .*503/);
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 0 });
  const sent = await untilStatus(deployment, id, 'sent');
  assert.ok(sent.timeline.filter((event) => event.status === 'sending').length >= 2, 'sent on a later attempt');
});

test('when a provider keeps failing its circuit opens and the route fails over to the next provider', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  const backup = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'backup-sms',
    kind: 'http-sms',
    endpoint: backup.url,
    credentials: { token: backup.token },
    ratePerSecond: 1000,
    concurrency: 2,
    maxBatchSize: 100,
    lingerMs: 10,
    timeoutMs: 5000,
  });
  await useStrategy(deployment, { route: { mode: 'failover', providers: ['sandbox-sms', 'backup-sms'] }, retry: fastRetry(10) });
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  const dispatcher = await deployment.startDispatcher({ DISPATCHER_CIRCUIT_FAILURE_THRESHOLD: '2', DISPATCHER_CIRCUIT_OPEN_MS: '60000' });
  const id = await post(deployment, sms('fail over'));
  const sent = await untilStatus(deployment, id, 'sent');
  assert.equal(sent.timeline.at(-1)?.provider, 'backup-sms');
  assert.equal(backup.received.list({ clientRef: id }).length, 1);
  assert.equal(deployment.sandbox.received.size, 0);
  const metrics = await (await fetch(`${dispatcher.url}/metrics`)).text();
  assert.match(metrics, /commstrat_dispatch_failovers_total\{provider="acme\/backup-sms"[^}]*\} [1-9]/);
  assert.match(metrics, /commstrat_provider_circuit_state\{provider="acme\/sandbox-sms"[^}]*\} 2/);
});

test('a message that exhausts its attempts is dead-lettered and ends failed', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  await useStrategy(deployment, { route: { mode: 'failover', providers: ['sandbox-sms'] }, retry: fastRetry(2) });
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  await deployment.startDispatcher();
  const id = await post(deployment, sms('doomed'));
  const failed = await untilStatus(deployment, id, 'failed');
  assert.match(failed.timeline.at(-1)?.reason ?? '', /gave up after 2 attempts/);
  // The journal is written before Redis: the dead letter follows the status by a moment.
  await eventually('the dead letter', async () => ((await deployment.lanes.deadLetterCount()) === 1 ? true : undefined));
});

test('a provider that refuses an item permanently fails it without retrying', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  // Variables without a template or a text: nothing to send, which the sandbox, like a real SMS API, refuses.
  const id = await post(deployment, { ...sms('x'), content: { variables: { code: '1234' } } });
  const failed = await untilStatus(deployment, id, 'failed');
  assert.match(failed.timeline.at(-1)?.reason ?? '', /rejected it: empty_text/);
  assert.equal(await deployment.lanes.deadLetterCount(), 0);
});

test('a message that expires while it waits for rate tokens is never sent late', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false, routing: { ratePerSecond: 1, maxBatchSize: 10, lingerMs: 0 } });
  const { body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: Array.from({ length: 6 }, (_, i) => sms(`m${i}`, { ttl: 2 })),
  });
  const acceptedAt = Date.now();
  await deployment.startDispatcher();
  const ids: string[] = body.accepted.map((item: { id: string }) => item.id);
  const final = await eventually('every message to end sent or expired', async () => {
    const states = await Promise.all(ids.map(async (id) => (await statusOf(deployment, id)).status));
    return states.every((state) => state === 'sent' || state === 'expired') ? states : undefined;
  });
  assert.ok(final.includes('expired'), `some expired while throttled: ${final.join(',')}`);
  for (const sent of deployment.sandbox.received.list({})) {
    assert.ok(sent.received_at <= acceptedAt + 2000 + 50, 'nothing reached the provider after its expiry');
  }
});
