// Route choices end to end: the dispatcher routing by the recipient's number and by
// provider prices, against two sandbox providers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { documentedExample, saveThroughAdminApi } from './docs-examples.ts';
import { eventually, holdFor } from './harness.ts';
import { startDeployment, startSandbox, type Deployment, type RunningSandbox, untilConfigReloaded, LOOPBACK } from './services.ts';

const provider = (id: string, sandbox: RunningSandbox, prices = {}): ProviderInput => ({
  id,
  kind: 'http-sms',
  endpoint: sandbox.url,
  credentials: { token: sandbox.token },
  ratePerSecond: 1000,
  concurrency: 4,
  maxBatchSize: 100,
  lingerMs: 5,
  timeoutMs: 10_000,
  prices,
});

async function send(deployment: Deployment, phone: string, text: string): Promise<void> {
  const { status, body } = await deployment.api('POST', '/v1/messages', { channel: 'sms', recipient: { phone }, content: { text } });
  assert.equal(status, 202, JSON.stringify(body));
}

function texts(sandbox: RunningSandbox): string[] {
  return sandbox.received.list({}).map((sms) => sms.text);
}

async function useRoute(deployment: Deployment, route: object): Promise<void> {
  await saveStrategy(deployment.sql, deployment.tenantId, { name: 'sms-default', channel: 'sms', steps: [{ route }] }, { defaultForChannel: true });
}

test('a rules route sends by number prefix and country, first match winning, else by its default', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  const german = await startSandbox();
  const mobile = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, provider('de-sms', german));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('de-mobile', mobile));
  const changedAt = Date.now();
  await useRoute(deployment, {
    mode: 'rules',
    rules: [
      { match: { prefixes: ['+4915'] }, route: { mode: 'failover', providers: ['de-mobile'] } },
      { match: { countries: ['DE'] }, route: { mode: 'failover', providers: ['de-sms'] } },
    ],
    otherwise: { mode: 'failover', providers: ['sandbox-sms'] },
  });
  await untilConfigReloaded(deployment, changedAt);
  await send(deployment, '+4915112345678', 'mobile');
  await send(deployment, '+493012345678', 'landline');
  await send(deployment, '+79161234567', 'elsewhere');
  await eventually('all three to be sent', () =>
    Promise.resolve(german.received.size + mobile.received.size + deployment.sandbox.received.size === 3 ? true : undefined),
  );
  assert.deepEqual(texts(mobile), ['mobile']);
  assert.deepEqual(texts(german), ['landline']);
  assert.deepEqual(texts(deployment.sandbox), ['elsewhere']);
});

test('docs example: a least-cost route follows a price change within 2 s', async () => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK] });
  const other = await startSandbox();
  const prices = documentedExample('price-driven-split-prices') as Record<'sandbox-sms' | 'other-sms', Record<string, number>>;
  await upsertProvider(deployment.sql, deployment.tenantId, provider('sandbox-sms', deployment.sandbox, prices['sandbox-sms']));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('other-sms', other, prices['other-sms']));
  const strategy = documentedExample('price-driven-split') as { name: string };
  const savedAt = Date.now();
  await saveThroughAdminApi(deployment, strategy);
  await untilConfigReloaded(deployment, savedAt);
  const sendBy = async (phone: string, text: string) => {
    const { status, body } = await deployment.api('POST', '/v1/messages', { strategy: strategy.name, recipient: { phone }, content: { text } });
    assert.equal(status, 202, JSON.stringify(body));
  };
  await sendBy('+4915112345678', 'before');
  await sendBy('+14155550123', 'elsewhere');
  await eventually('the first two to be sent', () => Promise.resolve(deployment.sandbox.received.size === 2 ? true : undefined));
  assert.equal(other.received.size, 0, 'the dearer provider got nothing, and the unpriced one nothing for the US');

  await upsertProvider(deployment.sql, deployment.tenantId, provider('other-sms', other, { DE: 0.01 }));
  await holdFor(2000, 'the 2 s within which a route follows a price change');
  await sendBy('+4915112345678', 'after');
  await sendBy('+14155550123', 'elsewhere again');
  await eventually('the next two to be sent', () =>
    Promise.resolve(other.received.size + deployment.sandbox.received.size === 4 ? true : undefined),
  );
  assert.deepEqual(texts(other), ['after']);
  assert.deepEqual(texts(deployment.sandbox).sort(), ['before', 'elsewhere', 'elsewhere again']);
});
