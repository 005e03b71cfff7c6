import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Provider } from '@commstrat/config';
import { EgressPolicy } from '@commstrat/egress';
import { createRegistry, dispatcherMetrics } from '@commstrat/observability';
import { ProviderRegistry } from './provider-registry.ts';

const row = (changes: Partial<Provider> = {}): Provider => ({
  id: 'sms',
  kind: 'http-sms',
  endpoint: 'http://127.0.0.1:1',
  credentials: { token: 't' },
  ratePerSecond: 100,
  concurrency: 2,
  maxBatchSize: 100,
  lingerMs: 5,
  timeoutMs: 1000,
  enabled: true,
  prices: {},
  ...changes,
});

test('a reloaded row keeps its handle, and failures survive reloads and changes of the row', () => {
  const registry = new ProviderRegistry(dispatcherMetrics(createRegistry('test')), { failureThreshold: 2, openMs: 60_000 }, new EgressPolicy());
  const first = registry.handle('t1', row());
  const reloaded = registry.handle('t1', row()); // the routing cache's new object, same content
  assert.equal(reloaded.limit, first.limit, 'the same concurrency limit');
  assert.equal(reloaded.adapter, first.adapter);

  registry.beforeSend(first, 0);
  registry.afterSend(first, 1, true); // a send that started on the old handle
  const changed = registry.handle('t1', row({ timeoutMs: 2000 }));
  assert.notEqual(changed.adapter, first.adapter, 'a changed row gets a new adapter');
  registry.beforeSend(changed, 2);
  registry.afterSend(changed, 3, true);
  assert.equal(registry.available(changed, 4), false, 'two failures in a row open the circuit');
  assert.equal(registry.available(registry.handle('t2', row()), 4), true, 'other tenants are not affected');
});

test('health: errors weigh a provider down, an open circuit is 0, and a provider back from open ramps up', () => {
  const registry = new ProviderRegistry(dispatcherMetrics(createRegistry('test')), { failureThreshold: 3, openMs: 1000 }, new EgressPolicy());
  const handle = registry.handle('t1', row());
  assert.equal(registry.health(handle, 0), 1);
  // 12 requests, 3 failed (not in a row): a quarter fail, the circuit stays closed.
  for (let i = 0; i < 12; i++) {
    registry.beforeSend(handle, 0);
    registry.afterSend(handle, 0, i % 4 === 0);
  }
  assert.equal(registry.health(handle, 0), 0.5);
  for (let i = 0; i < 3; i++) registry.afterSend(handle, 0, true);
  assert.equal(registry.health(handle, 0), 0, 'three in a row opened the circuit');
  registry.beforeSend(handle, 1000); // the probe
  registry.afterSend(handle, 1000, false);
  const justBack = registry.health(handle, 1000);
  assert.ok(justBack > 0 && justBack <= 0.1, `a provider just back gets a small share (${justBack})`);
  assert.ok(registry.health(handle, 31_000) > justBack, 'and more as time passes');
});
