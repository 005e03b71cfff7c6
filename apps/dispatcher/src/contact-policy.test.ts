import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Routing } from '@commstrat/config';
import type { QueuedMessage, Strategy } from '@commstrat/core';
import { createLogger, createRegistry, dispatcherMetrics } from '@commstrat/observability';
import type { CapAnswer, CapCheck, LaneEntry } from '@commstrat/queue';
import type { Work } from './batcher.ts';
import { ContactPolicyGate } from './contact-policy.ts';
import type { ProviderHandle } from './provider-registry.ts';

const strategy: Strategy = {
  name: 'campaign',
  channel: 'sms',
  contact_policy: { caps: [{ category: 'marketing', max: 1, per_seconds: 60, over: 'defer' }] },
  steps: [{ route: { mode: 'failover', providers: ['sms'] } }],
};
const routing: Routing = { strategy, version: 1, providers: new Map(), tenantTimeZone: 'UTC', stopList: new Set(['phone:+4915100000000']) };

/** A message to Ann, `marketing` unless `changes` say otherwise (`category: null`: none). */
function work(id: string, changes: Partial<Omit<QueuedMessage, 'category'>> & { category?: string | null } = {}): Work {
  const { category = 'marketing', ...rest } = changes;
  const message: QueuedMessage = {
    id,
    tenant_id: 't1',
    channel: 'sms',
    strategy: 'campaign',
    priority: 'normal',
    ...(category === null ? {} : { category }),
    recipient: { phone: '+4915112345678' },
    content: { text: 'offer' },
    expires_at: undefined,
    ...rest,
  };
  const entry: LaneEntry = { lane: message.priority, entryId: `e-${id}`, message };
  return { entry, routing, step: strategy.steps[0]!, provider: {} as ProviderHandle };
}

function gate(admit: (messages: readonly (readonly CapCheck[])[], now: number) => Promise<CapAnswer[]>) {
  return new ContactPolicyGate({
    caps: { admit },
    metrics: dispatcherMetrics(createRegistry('test')),
    logger: createLogger({ service: 'test', console: false }),
    random: () => 0.5,
  });
}

test('only capped messages are checked; the ones over a cap are deferred with the reason, the rest go', async () => {
  const asked: (readonly CapCheck[])[] = [];
  const policy = gate((messages) => {
    asked.push(...messages);
    return Promise.resolve(
      messages.map((checks, i): CapAnswer => (checks.length === 0 || i === 0 ? { admitted: true } : { admitted: false, allowedAt: 61_000, blocking: 0 })),
    );
  });
  const works = [work('a'), work('b'), work('c', { category: 'transactional' }), work('d', { priority: 'critical' })];
  const { admitted, heldBack } = await policy.admit(works, 1000);
  assert.deepEqual(admitted.map((w) => w.entry.message.id), ['a', 'c', 'd']);
  assert.deepEqual(asked.map((checks) => checks.length), [1, 1, 0, 0], 'other categories and critical have no checks');
  assert.equal(asked[0]?.[0]?.address, 'phone:+4915112345678');
  assert.equal(asked[0]?.[0]?.windowMs, 60_000);
  assert.deepEqual(heldBack.map(({ work, verdict }) => [work.entry.message.id, verdict.kind, verdict.kind === 'defer' && verdict.until, verdict.kind === 'defer' && verdict.cause]), [['b', 'defer', 61_000, 'frequency_cap']]);
  const [held] = heldBack;
  assert.match(held?.verdict.kind === 'defer' ? held.verdict.reason : '', /^frequency cap: at most 1 marketing sms per 60 s to this recipient; next allowed at /);
});

test('when the cap store fails, capped messages wait 2-4 s and are not sent uncapped; the others go', async () => {
  const policy = gate(() => Promise.reject(new Error('ECONNREFUSED')));
  const works = [work('a'), work('b', { category: null })];
  const { admitted, heldBack } = await policy.admit(works, 1000);
  assert.deepEqual(admitted.map((w) => w.entry.message.id), ['b']);
  assert.deepEqual(heldBack.map(({ work, verdict }) => [work.entry.message.id, verdict.kind === 'defer' && verdict.until]), [['a', 1000 + 2000 + 1000]]);
  const [held] = heldBack;
  assert.equal(held?.verdict.kind === 'defer' ? held.verdict.reason : '', 'waiting for the frequency-cap store; will retry');
});

test('the store is not asked when no message is capped', async () => {
  const policy = gate(() => assert.fail('no caps to check'));
  const works = [work('x', { category: null })];
  assert.deepEqual((await policy.admit(works, 0)).admitted, works);
});
