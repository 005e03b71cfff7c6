// Provider faults from the sandbox, each ending with the ledger: every accepted message
// ends sent (or, for a provider down past the TTL, expired), none is lost or stuck, and
// the provider sees each message once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider } from '@commstrat/config';
import type { SandboxBehaviour } from '@commstrat/sandbox';
import { ledgerOf, verdict } from './faults.ts';
import { setSandboxBehaviour, startDeployment, type Deployment } from './services.ts';
import { sms } from './requests.ts';
import { holdFor } from './harness.ts';


/** The sandbox provider with a short timeout, and a strategy that retries fast and often. */
async function faultyProviderDeployment(options: { timeoutMs?: number; attempts?: number; ratePerSecond?: number } = {}): Promise<Deployment> {
  const deployment = await startDeployment({ dispatcher: false });
  await upsertProvider(deployment.sql, deployment.tenantId, {
    id: 'sandbox-sms',
    kind: 'http-sms',
    endpoint: deployment.sandbox.url,
    credentials: { token: deployment.sandbox.token },
    ratePerSecond: options.ratePerSecond ?? 1000,
    concurrency: 4,
    maxBatchSize: 10,
    lingerMs: 10,
    timeoutMs: options.timeoutMs ?? 2000,
  });
  await saveStrategy(
    deployment.sql,
    deployment.tenantId,
    {
      name: 'sms-default',
      channel: 'sms',
      steps: [
        {
          route: { mode: 'failover', providers: ['sandbox-sms'] },
          retry: { max_attempts: options.attempts ?? 30, base_delay_ms: 100, max_delay_ms: 400 },
        },
      ],
    },
    { defaultForChannel: true },
  );
  return deployment;
}

async function postBatch(deployment: Deployment, count: number, extra: object = {}): Promise<string[]> {
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: Array.from({ length: count }, (_, i) => sms(`fault ${i}`, extra)),
  });
  assert.equal(status, 202, JSON.stringify(body));
  return body.accepted.map((item: { id: string }) => item.id);
}

/** Runs `count` messages through a provider behaving as `fault` for `faultMs`, then well. */
async function throughFault(
  fault: Partial<SandboxBehaviour>,
  faultMs: number,
  options: { timeoutMs?: number; ratePerSecond?: number; count?: number } = {},
) {
  const deployment = await faultyProviderDeployment(options);
  await setSandboxBehaviour(deployment.sandbox, fault);
  await deployment.startDispatcher({ DISPATCHER_CIRCUIT_OPEN_MS: '300' });
  const ids = await postBatch(deployment, options.count ?? 40);
  await holdFor(faultMs, "the provider's fault lasts this long under traffic");
  await setSandboxBehaviour(deployment.sandbox, { latency_ms: 0, error_rate: 0, malformed_rate: 0, drip_ms: 0, rate_per_second: 0 });
  const report = await ledgerOf(deployment, { rest: ids });
  return { deployment, ids, report };
}

test('provider timeouts: requests cut off at the timeout are retried and every message is sent once', async () => {
  const { report, deployment } = await throughFault({ latency_ms: 1500 }, 3000, { timeoutMs: 500 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 40, verdict(report));
  const timedOut = await deployment.db.collection('provider_exchanges').countDocuments({ response: /did not answer|no complete answer/ });
  assert.ok(timedOut > 0, 'some requests timed out');
});

test('a burst of 5xx: the failed requests are retried and every message is sent once', async () => {
  const { report, deployment } = await throughFault({ error_rate: 0.7 }, 2000);
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 40, verdict(report));
  assert.ok((await deployment.db.collection('provider_exchanges').countDocuments({ http_status: 503 })) > 0, 'the burst happened');
});

test('429 with Retry-After: refused requests wait and every message is sent once', async () => {
  // The provider takes 10 messages a second; the dispatcher's own limit would allow 1000.
  const { report, deployment } = await throughFault({ rate_per_second: 10 }, 3000, { count: 30 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 30, verdict(report));
  assert.ok((await deployment.db.collection('provider_exchanges').countDocuments({ http_status: 429 })) > 0, 'the provider refused some');
});

test('responses that drip slowly (within the timeout) are read whole: every message is sent once', async () => {
  // 16 bytes every 20 ms: a 10-message answer takes about 1.5 s, inside the 5 s timeout.
  const { report, deployment } = await throughFault({ drip_ms: 20 }, 4000, { timeoutMs: 5000, count: 20 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 20, verdict(report));
  const slow = await deployment.db.collection('provider_exchanges').findOne({ duration_ms: { $gte: 1000 }, http_status: 200 });
  assert.ok(slow !== null, 'some answers dripped for more than a second');
});

test('malformed bodies with a success status are retried, not taken as rejections: every message is sent', async () => {
  // Before the fix the adapter read such an answer as "every item missing" and failed them all.
  const { report, deployment } = await throughFault({ malformed_rate: 0.6 }, 2000);
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 40, verdict(report));
  assert.ok((await deployment.db.collection('provider_exchanges').countDocuments({ response: /bad gateway/ })) > 0, 'the provider sent garbage');
});

test('a provider down longer than the TTL: the messages end expired, none is sent late, none is lost', async () => {
  const deployment = await faultyProviderDeployment({ attempts: 100 });
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  await deployment.startDispatcher({ DISPATCHER_CIRCUIT_OPEN_MS: '300' });
  const ids = await postBatch(deployment, 20, { ttl: 3 });
  const report = await ledgerOf(deployment, { rest: ids }, { timeoutMs: 30_000 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['expired'], 20, verdict(report));
  assert.equal(deployment.sandbox.received.size, 0);
});
