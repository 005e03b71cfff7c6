// Health from delivery receipts end to end: a weighted route over two sandbox providers,
// one of which accepts everything but delivers half of it late (the sandbox delays those
// receipts). Ingest counts the late share in Redis; both dispatcher replicas read it,
// take routing weight from the slow provider, and give it back gradually once it is on
// time again. The times are scaled down by the settings (late after 300 ms, a 6 s window,
// a 6 s recovery), and the test waits on the weight gauges, never on guessed times.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { eventually, holdFor } from './harness.ts';
import { startDeployment, startSandbox, type Deployment, type RunningSandbox, LOOPBACK } from './services.ts';

const SECRET = 'delivery-health-receipt-secret';

const provider = (id: string, sandbox: RunningSandbox): ProviderInput => ({
  id,
  kind: 'http-sms',
  endpoint: sandbox.url,
  credentials: { token: sandbox.token, receipt_secret: SECRET },
  ratePerSecond: 1000,
  concurrency: 4,
  maxBatchSize: 100,
  lingerMs: 5,
  timeoutMs: 10_000,
});

/** Has a sandbox report every message delivered: `late_share` of them after `late_delay_ms`. */
async function reportAs(deployment: Deployment, sandbox: RunningSandbox, id: string, late: { share: number; delayMs: number }): Promise<void> {
  const url = `${deployment.ingest.url}/v1/providers/${deployment.tenantId}/${id}/receipts`;
  const response = await fetch(`${sandbox.url}/_sandbox/receipts`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ url, secret: SECRET, status: 'delivered', delay_ms: 20, late_share: late.share, late_delay_ms: late.delayMs }),
  });
  assert.equal(response.status, 200, await response.text());
}

let phoneCounter = 0;
/** A recipient of its own per message: the weighted route is sticky per phone number. */
function nextPhone(): string {
  phoneCounter += 1;
  return `+49151${String(10_000_000 + Math.floor(Math.random() * 80_000_000) + phoneCounter).padStart(8, '0')}`;
}

/** Sends `count` messages a few at a time; answers the provider each went to, once all are sent. */
async function phase(deployment: Deployment, name: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 5) {
    const messages = Array.from({ length: Math.min(5, count - i) }, () => ({ strategy: 'spread', recipient: { phone: nextPhone() }, content: { text: `${name} ${i}` } }));
    const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages });
    assert.equal(status, 202, JSON.stringify(body));
    ids.push(...body.accepted.map((item: { id: string }) => item.id));
    await holdFor(50, 'batches spread over time, so receipts come in meanwhile');
  }
  return eventually(`the ${name} messages to be sent`, async () => {
    const views = await Promise.all(ids.map(async (id) => (await deployment.api('GET', `/v1/messages/${id}`)).body as { status: string; provider?: string }));
    return views.every((view) => view.status === 'sent' || view.status === 'delivered') ? views.map((view) => view.provider ?? '') : undefined;
  }, 60_000);
}

/** A gauge of one provider on a dispatcher replica (undefined: not exported). */
async function gauge(url: string, name: string, providerKey: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name}\\{[^}]*provider="${providerKey.replace('/', '\\/')}"[^}]*\\} (\\S+)$`, 'm').exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

test('a provider that delivers late loses routing weight on every replica, and gets it back gradually once on time', { timeout: 180_000 }, async (t) => {
  const settings = {
    COMMSTRAT_DELIVERY_LATE_AFTER_MS: '300',
    COMMSTRAT_DELIVERY_WINDOW_MS: '6000',
    DISPATCHER_DELIVERY_MIN_RECEIPTS: '10',
    DISPATCHER_DELIVERY_RECOVERY_MS: '6000',
    DISPATCHER_DELIVERY_REFRESH_MS: '200',
  };
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false, env: settings });
  const [sandboxA, sandboxB] = await Promise.all([startSandbox(), startSandbox()]);
  await upsertProvider(deployment.sql, deployment.tenantId, provider('a', sandboxA));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('b', sandboxB));
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'spread',
    channel: 'sms',
    steps: [{ route: { mode: 'weighted', providers: [{ id: 'a', weight: 50 }, { id: 'b', weight: 50 }] } }],
  });
  await reportAs(deployment, sandboxA, 'a', { share: 0.5, delayMs: 1000 });
  await reportAs(deployment, sandboxB, 'b', { share: 0, delayMs: 0 });
  const replicas = [await deployment.startDispatcher(), await deployment.startDispatcher()];

  // Slow: half of a's receipts come a second late (late from 300 ms on).
  const slow = await phase(deployment, 'slow', 80);
  assert.ok(slow.filter((p) => p === 'a').length > 15, `a took its share before its receipts came: ${slow.filter((p) => p === 'a').length}`);
  const degraded = await eventually('both replicas to weigh a down', async () => {
    const weights = await Promise.all(replicas.map((replica) => gauge(replica.url, 'commstrat_provider_delivery_weight', 'acme/a')));
    return weights.every((weight) => weight !== undefined && weight <= 0.2) ? weights : undefined;
  }, 30_000, 100);
  const share = await gauge(replicas[0]!.url, 'commstrat_provider_late_delivery_share', 'acme/a');
  assert.ok(share !== undefined && share > 0.15, `a's late share, above the 15 % it may have: ${share}`);
  assert.equal(await gauge(replicas[1]!.url, 'commstrat_provider_delivery_weight', 'acme/b'), 1, 'b keeps its weight');

  const whileSlow = await phase(deployment, 'while slow', 60);
  const slowShare = whileSlow.filter((p) => p === 'a').length / whileSlow.length;
  // Healthy it would be about half; at a tenth of b's weight about 9 %.
  assert.ok(slowShare < 0.25, `a's share while it delivers late: ${slowShare}`);

  // On time again: the weight climbs over the recovery time instead of jumping back.
  await reportAs(deployment, sandboxA, 'a', { share: 0, delayMs: 0 });
  const seen = new Set<number>();
  const recovered = await eventually('a to get its full weight back', async () => {
    await phase(deployment, 'recovering', 5);
    const weight = await gauge(replicas[0]!.url, 'commstrat_provider_delivery_weight', 'acme/a');
    if (weight !== undefined) seen.add(Math.round(weight * 100) / 100);
    return weight === 1 ? true : undefined;
  }, 90_000, 100);
  assert.ok(recovered);
  const between = [...seen].filter((weight) => weight > 0.15 && weight < 0.95);
  assert.ok(between.length >= 2, `weights seen on the way back: ${[...seen].sort().join(', ')}`);
  t.diagnostic(`degraded ${degraded.join(', ')}, late share ${share}, a's share while slow ${slowShare}, on the way back ${[...seen].sort().join(', ')}`);
});
