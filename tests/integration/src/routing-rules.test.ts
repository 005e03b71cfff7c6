// Route choices end to end: the dispatcher routing by the recipient's number and by
// provider prices, against two sandbox providers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { eventually } from './harness.ts';
import { startDeployment, startSandbox, type Deployment, type RunningSandbox } from './services.ts';

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
  const deployment = await startDeployment();
  const german = await startSandbox();
  const mobile = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, provider('de-sms', german));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('de-mobile', mobile));
  await useRoute(deployment, {
    mode: 'rules',
    rules: [
      { match: { prefixes: ['+4915'] }, route: { mode: 'failover', providers: ['de-mobile'] } },
      { match: { countries: ['DE'] }, route: { mode: 'failover', providers: ['de-sms'] } },
    ],
    otherwise: { mode: 'failover', providers: ['sandbox-sms'] },
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // the NOTIFY reaches the replicas
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

test('a least-cost route follows a price change within 2 s', async () => {
  const deployment = await startDeployment();
  const other = await startSandbox();
  await upsertProvider(deployment.sql, deployment.tenantId, provider('sandbox-sms', deployment.sandbox, { DE: 0.05, '*': 0.2 }));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('other-sms', other, { DE: 0.08 }));
  await useRoute(deployment, { mode: 'least_cost', providers: ['other-sms', 'sandbox-sms'] });
  await new Promise((resolve) => setTimeout(resolve, 500));
  await send(deployment, '+4915112345678', 'before');
  await eventually('the first to be sent', () => Promise.resolve(deployment.sandbox.received.size === 1 ? true : undefined));
  assert.equal(other.received.size, 0, 'the dearer provider got nothing');

  await upsertProvider(deployment.sql, deployment.tenantId, provider('other-sms', other, { DE: 0.01 }));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await send(deployment, '+4915112345678', 'after');
  await eventually('the second to be sent', () => Promise.resolve(other.received.size === 1 ? true : undefined));
  assert.deepEqual(texts(other), ['after']);
  assert.equal(deployment.sandbox.received.size, 1);
});
