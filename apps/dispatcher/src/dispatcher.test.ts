// The dispatcher carrying out verdicts, against fakes behind its ports (lanes, journal,
// routing, providers, rate, caps); the real servers are in tests/integration.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_CONSENT_SETTINGS,
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
  consent: DEFAULT_CONSENT_SETTINGS,
  exemptCategories: new Set(),
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

/** The same message in the critical lane. */
function critical(id: string): LaneEntry {
  const e = entry(id);
  return { ...e, lane: 'critical', message: { ...e.message, priority: 'critical' } };
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
  /** Claims after the first, one per later cycle. */
  later?: LaneEntry[][];
  /** The provider's first request is answered only once this settles. */
  firstAnswer?: Promise<void>;
  /** Each journal write of outcomes (not an empty one) resolves only once what this returns settles. */
  journalWrite?: () => Promise<void>;
  /** What the critical lane's own loop claims, one list per claim (started with `start`). */
  critical?: LaneEntry[][];
  criticalYield?: { ms: number; inFlight: number };
  /** The normal lane's depth as sampled (default: the first claim's size). */
  backlog?: number;
  clock?: () => number;
}) {
  const sent: { provider: string; ids: string[] }[] = [];
  const changes: StatusChange[] = [];
  const exchanges: ProviderExchange[] = [];
  /** For each journal write of outcomes: whether it went as urgent (critical entries). */
  const urgentWrites: boolean[] = [];
  const deferred: { message: QueuedMessage; dueAt: number }[] = [];
  const deadLetters: DeadLetterInput[] = [];
  const acks: string[] = [];
  const dropped: string[] = [];
  const logged: Readonly<Record<string, unknown>>[] = [];
  let claims = [options.claimed, ...(options.later ?? [])];
  /** The entries each claim of the lower lanes asked for, all lanes together. */
  const asked: number[] = [];
  let criticalClaims = options.critical ?? [];
  // A blocking claim that finds nothing: the loops started with `start` do not spin.
  const nothing = () => new Promise<LaneEntry[]>((resolve) => setTimeout(() => resolve([]), 1));
  const criticalLane: Pick<LanePort, 'claim'> = {
    claim: () => {
      const [next, ...rest] = criticalClaims;
      criticalClaims = rest;
      return next === undefined ? nothing() : Promise.resolve(next);
    },
  };
  const lanes: LanePort = {
    claim: nothing,
    claimLanes: (_consumer, wanted) => {
      asked.push(Object.values(wanted).reduce((sum, n) => sum + n, 0));
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
        send: async (messages) => {
          sent.push({ provider: config.id, ids: messages.map((m) => m.id) });
          if (sent.length === 1) await options.firstAnswer;
          const exchange = { request: '[]', response: '{}', httpStatus: 200, startedAt: new Date(NOW), durationMs: 3 };
          return { exchange, ...answer(messages) };
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
    depths: { get: () => Promise.resolve({ critical: 0, high: 0, normal: options.backlog ?? options.claimed.length, bulk: 0 }), invalidate: () => {} },
    waitingLanes: { shared: lanes, critical: criticalLane },
    urgent: { lanes, rateLimiter },
    journal: {
      findMessages: (ids) =>
        Promise.resolve(
          ids.flatMap((id) => {
            const status = options.journaled?.[id];
            return status === undefined ? [] : [{ id, status, step: 0, timeline: [] } as unknown as Message];
          }),
        ),
      recordOutcomes: async (e, c, o) => {
        urgentWrites.push(o?.urgent === true);
        if (e.length + c.length > 0) await options.journalWrite?.();
        exchanges.push(...e);
        changes.push(...c);
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
    preferences: { optedOut: () => Promise.resolve(new Map()) },
    metrics,
    logger: createLogger({ service: 'test', console: false, capture: (line) => logged.push(line) }),
    consumer: 'test-1',
    claimCount: 100,
    maxInFlight: 1000,
    blockMs: 1,
    visibilityTimeoutMs: 60_000,
    laneWeights: { high: 6, normal: 3, bulk: 1 },
    criticalYield: options.criticalYield ?? { ms: 0, inFlight: 1 },
    clock: options.clock ?? (() => NOW),
    random: () => 0.5,
  });
  /** One claim cycle, then a stop that sends what is batched and waits for every outcome. */
  const run = async () => {
    await dispatcher.cycle();
    await dispatcher.stop();
  };
  const statuses = () => changes.map((c) => `${c.messageId}:${c.event.status}`);
  return { dispatcher, run, sent, changes, exchanges, urgentWrites, deferred, deadLetters, acks, dropped, statuses, registry, logged, asked };
}

test('a critical batch\'s outcomes go to the journal as urgent, a bulk batch\'s do not', async () => {
  const urgent = world({ claimed: [critical('c1'), critical('c2')] });
  await urgent.run();
  assert.deepEqual(urgent.statuses(), ['c1:sending', 'c2:sending', 'c1:sent', 'c2:sent']);
  assert.ok(urgent.urgentWrites.length > 0 && urgent.urgentWrites.every(Boolean), `urgent writes: ${urgent.urgentWrites.join(',')}`);
  const bulk = world({ claimed: [entry('m1'), entry('m2')] });
  await bulk.run();
  assert.ok(bulk.urgentWrites.length > 0 && !bulk.urgentWrites.some(Boolean), `bulk writes: ${bulk.urgentWrites.join(',')}`);
});

test('critical messages claimed while a critical request is in flight go together in the next one', async () => {
  let answerFirst: () => void = () => undefined;
  const w = world({
    claimed: [critical('c1')],
    later: [[critical('c2')], [critical('c3')]],
    firstAnswer: new Promise<void>((resolve) => (answerFirst = resolve)),
  });
  await w.dispatcher.cycle(); // c1 goes, and its answer is held
  await w.dispatcher.cycle(); // c2 comes meanwhile
  await w.dispatcher.cycle(); // and c3
  assert.deepEqual(w.sent.map((s) => s.ids), [['c1']], 'nothing else while the critical slot is taken');
  answerFirst();
  await w.dispatcher.stop();
  assert.deepEqual(w.sent.map((s) => s.ids), [['c1'], ['c2', 'c3']]);
});

test('a critical request does not wait for the journal write of the one before, and waits once two answered ones are unjournaled', async () => {
  const held: (() => void)[] = [];
  const w = world({
    claimed: [critical('c1')],
    later: [[critical('c2')], [critical('c3')]],
    journalWrite: () => new Promise<void>((resolve) => held.push(resolve)),
  });
  const settled = () => new Promise((resolve) => setTimeout(resolve, 20));
  await w.dispatcher.cycle(); // c1 goes; its journal write is held
  await settled();
  await w.dispatcher.cycle(); // c2 goes all the same
  await settled();
  assert.deepEqual(w.sent.map((s) => s.ids), [['c1'], ['c2']], 'c2 did not wait for c1 to be journaled');
  await w.dispatcher.cycle(); // c3: two answered critical batches are unjournaled, so it waits
  await settled();
  assert.deepEqual(w.sent.map((s) => s.ids), [['c1'], ['c2']], 'no third critical request beyond the bound');
  held.shift()?.(); // c1 journaled
  await settled();
  assert.deepEqual(w.sent.map((s) => s.ids), [['c1'], ['c2'], ['c3']]);
  const stopping = w.dispatcher.stop();
  while (held.length > 0 || w.statuses().filter((s) => s.endsWith(':sent')).length < 3) {
    held.shift()?.();
    await settled();
  }
  await stopping;
  assert.deepEqual(w.statuses().filter((s) => s.endsWith(':sent')), ['c1:sent', 'c2:sent', 'c3:sent']);
});

test('for a while after a critical claim the lower lanes claim only up to the yield cap, and then fully again', async () => {
  let now = NOW;
  const w = world({ claimed: [], critical: [[critical('c1')]], criticalYield: { ms: 1000, inFlight: 10 }, backlog: 500, clock: () => now });
  await w.dispatcher.cycle();
  assert.equal(w.asked.at(-1), 100, 'no critical traffic yet: a whole claim (claimCount)');
  const yielding = async () => (await w.registry.getSingleMetric('commstrat_dispatch_critical_yield')?.get())?.values[0]?.value;
  assert.equal(await yielding(), 0);
  w.dispatcher.start();
  while (!w.acks.includes('c1')) await new Promise((resolve) => setTimeout(resolve, 1));
  await w.dispatcher.stop();
  now += 999;
  await w.dispatcher.cycle();
  assert.equal(w.asked.at(-1), 10, 'within 1 000 ms of the critical claim: the yield cap');
  assert.equal(await yielding(), 1);
  now += 1;
  await w.dispatcher.cycle();
  assert.equal(w.asked.at(-1), 100, 'the yield is over');
  assert.equal(await yielding(), 0);
});

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
