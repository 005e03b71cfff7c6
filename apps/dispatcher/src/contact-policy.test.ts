import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Routing } from '@commstrat/config';
import type { QueuedMessage, Strategy } from '@commstrat/core';
import type { Journal, StatusChange } from '@commstrat/journal';
import { createLogger, createRegistry, dispatcherMetrics } from '@commstrat/observability';
import type { CapAnswer, CapCheck, LaneEntry, LaneQueue } from '@commstrat/queue';
import { SettledSet } from './batch-recorder.ts';
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

/** A settled set whose writes the test reads back (journal and lanes are its only ports). */
function recordingSet() {
  const changes: StatusChange[] = [];
  const deferred: { message: QueuedMessage; dueAt: number }[] = [];
  const journal = {
    recordOutcomes: (_e: unknown, c: StatusChange[]) => Promise.resolve(void changes.push(...c)),
  } as unknown as Journal;
  const lanes = {
    settle: (s: { deferred: typeof deferred }) => Promise.resolve(void deferred.push(...s.deferred)),
  } as unknown as LaneQueue;
  return { settled: new SettledSet(journal, lanes), changes, deferred };
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
  const { settled, changes, deferred } = recordingSet();
  assert.equal(await policy.admit(works, settled, 1000), true);
  assert.deepEqual(works.map((w) => w.entry.message.id), ['a', 'c', 'd']);
  assert.deepEqual(asked.map((checks) => checks.length), [1, 1, 0, 0], 'other categories and critical have no checks');
  assert.equal(asked[0]?.[0]?.address, 'phone:+4915112345678');
  assert.equal(asked[0]?.[0]?.windowMs, 60_000);
  await settled.commit();
  assert.deepEqual(deferred.map((d) => [d.message.id, d.dueAt]), [['b', 61_000]]);
  assert.match(changes[0]?.event.reason ?? '', /^frequency cap: at most 1 marketing sms per 60 s to this recipient; next allowed at /);
});

test('when the cap store fails, capped messages wait 2-4 s and are not sent uncapped; the others go', async () => {
  const policy = gate(() => Promise.reject(new Error('ECONNREFUSED')));
  const works = [work('a'), work('b', { category: null })];
  const { settled, changes, deferred } = recordingSet();
  assert.equal(await policy.admit(works, settled, 1000), true);
  assert.deepEqual(works.map((w) => w.entry.message.id), ['b']);
  await settled.commit();
  assert.deepEqual(deferred.map((d) => [d.message.id, d.dueAt]), [['a', 1000 + 2000 + 1000]]);
  assert.equal(changes[0]?.event.reason, 'waiting for the frequency-cap store; will retry');
});

test('the store is not asked when no message is capped', async () => {
  const policy = gate(() => assert.fail('no caps to check'));
  const works = [work('x', { category: null })];
  assert.equal(await policy.admit(works, recordingSet().settled, 0), true);
});
