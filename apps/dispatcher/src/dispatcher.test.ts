// The dispatcher carrying out verdicts, against fakes behind its ports (lanes, journal,
// routing, providers, rate, caps); the real servers are in tests/integration.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DependencyUnavailableError,
  ProviderUnavailableError,
  validateStrategy,
  type Message,
  type MessageStatus,
  type QueuedMessage,
} from '@commstrat/core';
import type { Provider, Routing } from '@commstrat/config';
import type { ProviderExchange, StatusChange } from '@commstrat/journal';
import { createLogger, createRegistry, dispatcherMetrics } from '@commstrat/observability';
import type { SendResult } from '@commstrat/providers';
import type { DeadLetterInput, LaneEntry } from '@commstrat/queue';
import { Dispatcher } from './dispatcher.ts';
import type { LanePort } from './ports.ts';
import type { ProviderHandle } from './provider-registry.ts';

const NOW = Date.parse('2026-12-02T10:00:00Z');

function providerRow(id: string): Provider {
  return {
    id,
    kind: 'http-sms',
    endpoint: 'http://provider.invalid',
    credentials: {},
    ratePerSecond: 1000,
    concurrency: 2,
    maxBatchSize: 100,
    lingerMs: 0,
    timeoutMs: 1000,
    enabled: true,
    prices: {},
  };
}

const strategy = validateStrategy({
  name: 'otp',
  channel: 'sms',
  steps: [{ route: { mode: 'failover', providers: ['a', 'b'] }, retry: { max_attempts: 3, base_delay_ms: 1000, max_delay_ms: 1000 } }],
});
const routing: Routing = {
  strategy,
  version: 2,
  providers: new Map([['a', providerRow('a')], ['b', providerRow('b')]]),
  tenantTimeZone: 'UTC',
  stopList: new Set(),
};

function entry(id: string): LaneEntry {
  const message: QueuedMessage = {
    id,
    tenant_id: 't1',
    channel: 'sms',
    strategy: 'otp',
    priority: 'normal',
    recipient: { phone: '+4915112345678' },
    content: { text: 'code' },
    expires_at: undefined,
    created_at: new Date(NOW - 1000).toISOString(),
  };
  return { lane: 'normal', entryId: `e-${id}`, message };
}

type Answer = (messages: readonly QueuedMessage[]) => Omit<SendResult, 'exchange'>;

const accepted: Answer = (messages) => ({
  outcomes: messages.map((m) => ({ messageId: m.id, outcome: 'accepted', providerMessageId: `p-${m.id}` })),
});

/** A dispatcher over fakes: `claimed` is what the one claim returns; `answers` says what each provider answers. */
function world(options: {
  claimed: LaneEntry[];
  answers?: Partial<Record<string, Answer>>;
  down?: string[];
  cancelled?: string[];
  resolve?: () => Promise<Routing>;
  /** What the first reclaim finds pending on a dead replica, and the journal's status of each. */
  reclaimed?: LaneEntry[];
  journaled?: Record<string, MessageStatus>;
}) {
  const sent: { provider: string; ids: string[] }[] = [];
  const changes: StatusChange[] = [];
  const exchanges: ProviderExchange[] = [];
  const deferred: { message: QueuedMessage; dueAt: number }[] = [];
  const deadLetters: DeadLetterInput[] = [];
  const acks: string[] = [];
  const dropped: string[] = [];
  const logged: Readonly<Record<string, unknown>>[] = [];
  let claims = [options.claimed];
  const lanes: LanePort = {
    claim: () => Promise.resolve([]),
    claimLanes: () => {
      const [next = [], ...rest] = claims;
      claims = rest;
      return Promise.resolve(next);
    },
    markSending: () => Promise.resolve(new Set(options.cancelled ?? [])),
    settle: (outcome) => {
      deferred.push(...(outcome.deferred ?? []));
      deadLetters.push(...(outcome.deadLetters ?? []));
      acks.push(...(outcome.acks ?? []).map((e) => e.message.id));
      dropped.push(...(outcome.dropped ?? []));
      return Promise.resolve();
    },
    promoteDue: () => Promise.resolve(0),
    trimHandled: () => Promise.resolve(0),
    reclaim: () => {
      const found = options.reclaimed ?? [];
      options.reclaimed = [];
      return Promise.resolve(found);
    },
  };
  const handles = new Map<string, ProviderHandle>();
  const handle = (tenantId: string, config: Provider): ProviderHandle => {
    const key = `${tenantId}/${config.id}`;
    const found = handles.get(key);
    if (found !== undefined) return found;
    const answer = options.answers?.[config.id] ?? accepted;
    const made: ProviderHandle = {
      key,
      config,
      adapter: {
        id: key,
        send: (messages) => {
          sent.push({ provider: config.id, ids: messages.map((m) => m.id) });
          const exchange = { request: '[]', response: '{}', httpStatus: 200, startedAt: new Date(NOW), durationMs: 3 };
          return Promise.resolve({ exchange, ...answer(messages) });
        },
        close: () => {},
      },
      limit: ((fn: () => Promise<unknown>) => fn()) as ProviderHandle['limit'],
      urgentLimit: ((fn: () => Promise<unknown>) => fn()) as ProviderHandle['urgentLimit'],
    };
    handles.set(key, made);
    return made;
  };
  const registry = createRegistry('test');
  const metrics = dispatcherMetrics(registry);
  const rateLimiter = { take: (_key: string, requested: number) => Promise.resolve({ granted: requested, waitMs: 0 }) };
  const dispatcher = new Dispatcher({
    lanes,
    depths: { get: () => Promise.resolve({ critical: 0, high: 0, normal: options.claimed.length, bulk: 0 }), invalidate: () => {} },
    waitingLanes: { shared: lanes, critical: lanes },
    urgent: { lanes, rateLimiter },
    journal: {
      findMessages: (ids) =>
        Promise.resolve(
          ids.flatMap((id) => {
            const status = options.journaled?.[id];
            return status === undefined ? [] : [{ id, status, step: 0, timeline: [] } as unknown as Message];
          }),
        ),
      recordOutcomes: (e, c) => {
        exchanges.push(...e);
        changes.push(...c);
        return Promise.resolve();
      },
      moveToNextStep: () => Promise.resolve(false),
    },
    routing: { resolve: options.resolve ?? (() => Promise.resolve(routing)) },
    providers: {
      handle,
      available: (h) => !(options.down ?? []).includes(h.config.id),
      health: () => 1,
      beforeSend: () => {},
      afterSend: () => {},
    },
    rateLimiter,
    contactPolicy: { admit: (works) => Promise.resolve({ admitted: works.slice(), heldBack: [] }) },
    metrics,
    logger: createLogger({ service: 'test', console: false, capture: (line) => logged.push(line) }),
    consumer: 'test-1',
    claimCount: 100,
    maxInFlight: 1000,
    blockMs: 1,
    visibilityTimeoutMs: 60_000,
    laneWeights: { high: 6, normal: 3, bulk: 1 },
    clock: () => NOW,
    random: () => 0.5,
  });
  /** One claim cycle, then a stop that sends what is batched and waits for every outcome. */
  const run = async () => {
    await dispatcher.cycle();
    await dispatcher.stop();
  };
  const statuses = () => changes.map((c) => `${c.messageId}:${c.event.status}`);
  return { run, sent, changes, exchanges, deferred, deadLetters, acks, dropped, statuses, registry, logged };
}

test('a claimed message goes to its route provider, is journaled sending then sent, and only then acknowledged', async () => {
  const w = world({ claimed: [entry('m1'), entry('m2')] });
  await w.run();
  assert.deepEqual(w.sent, [{ provider: 'a', ids: ['m1', 'm2'] }]);
  assert.deepEqual(w.statuses(), ['m1:sending', 'm2:sending', 'm1:sent', 'm2:sent']);
  assert.equal(w.changes[0]?.event.strategy_version, 2);
  assert.equal(w.exchanges.length, 1);
  assert.deepEqual(w.acks, ['m1', 'm2']);
  assert.deepEqual(w.deferred, []);
});

test("a provider request's log line carries the id of its provider exchange, which the messages' events name too", async () => {
  const w = world({ claimed: [entry('m1'), entry('m2')] });
  await w.run();
  const lines = w.logged.filter((line) => line['message'] === 'provider request');
  assert.equal(lines.length, 1);
  const [exchange] = w.exchanges;
  assert.ok(exchange !== undefined);
  assert.equal(lines[0]?.['exchange_id'], exchange._id, 'the log line finds the exchange');
  assert.deepEqual(exchange.message_ids, ['m1', 'm2']);
  assert.ok(w.changes.every((c) => c.event.exchange_id === exchange._id));
  assert.equal(lines[0]?.['batch_id'], undefined, 'a provider request is not called a batch');
});

test('with the first provider down the route fails over to the next, and the failover is counted', async () => {
  const w = world({ claimed: [entry('m1')], down: ['a'] });
  await w.run();
  assert.deepEqual(w.sent, [{ provider: 'b', ids: ['m1'] }]);
  assert.match(await w.registry.metrics(), /commstrat_dispatch_failovers_total\{[^}]*provider="t1\/b"[^}]*\} 1\n/);
});

test('a retryable provider error puts the message back in the delayed set with its attempt counted', async () => {
  const failing: Answer = () => ({ outcomes: [], error: new ProviderUnavailableError('provider a answered 503') });
  const w = world({ claimed: [entry('m1')], answers: { a: failing } });
  await w.run();
  assert.deepEqual(w.statuses(), ['m1:sending', 'm1:scheduled']);
  assert.equal(w.changes[1]?.event.reason, 'attempt 2 after back-off: provider a answered 503');
  assert.deepEqual(w.deferred.map((d) => [d.message.id, d.message.attempts, d.dueAt >= NOW + 500]), [['m1', 1, true]]);
  assert.deepEqual(w.acks, ['m1']);
});

test('with no provider of the route available, a spent message goes to the dead-letter stream', async () => {
  const spent = entry('m1');
  const w = world({ claimed: [{ ...spent, message: { ...spent.message, attempts: 2 } }], down: ['a', 'b'] });
  await w.run();
  assert.deepEqual(w.sent, []);
  assert.deepEqual(w.statuses(), ['m1:failed']);
  assert.deepEqual(w.deadLetters.map((d) => [d.message.id, d.code, d.provider]), [['m1', 'provider_unavailable', undefined]]);
});

test('a message cancelled before it was claimed is dropped without a provider request', async () => {
  const w = world({ claimed: [entry('m1')], cancelled: ['m1'] });
  await w.run();
  assert.deepEqual(w.sent, []);
  assert.deepEqual(w.dropped, ['m1']);
  assert.deepEqual(w.changes, []);
});

test('a configuration store outage defers without spending an attempt', async () => {
  const outage = world({ claimed: [entry('m1')], resolve: () => Promise.reject(new DependencyUnavailableError('PostgreSQL')) });
  await outage.run();
  assert.deepEqual(outage.statuses(), ['m1:scheduled']);
  assert.equal(outage.changes[0]?.event.reason, 'waiting for the configuration store; will retry');
  assert.equal(outage.deferred[0]?.message.attempts, undefined);
  assert.equal(outage.deferred[0]?.dueAt, NOW + 3000);
});

test('a reclaimed entry the journal shows ended is acknowledged, not sent again; one it does not know goes again', async () => {
  const w = world({ claimed: [], reclaimed: [entry('done'), entry('lost')], journaled: { done: 'delivered' } });
  await w.run();
  assert.deepEqual(w.sent, [{ provider: 'a', ids: ['lost'] }]);
  assert.deepEqual(w.acks.sort(), ['done', 'lost']);
  assert.deepEqual(w.statuses(), ['lost:sending', 'lost:sent']);
});
