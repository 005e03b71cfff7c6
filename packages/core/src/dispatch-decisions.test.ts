import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  afterFailedAttempt,
  decideClaimed,
  reclaimVerdict,
  stepCaps,
  storeOutageVerdict,
  throttleDelayMs,
  timeVerdict,
  verdictsFor,
  type ClaimedInput,
  type PreferenceView,
  type ProviderView,
} from './dispatch-decisions.ts';
import type { QueuedMessage } from './message.ts';
import { validateStrategy, type Strategy } from './strategy.ts';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const UP: ProviderView = { available: true, health: 1 };
const DOWN: ProviderView = { available: false, health: 0 };

const single = validateStrategy({
  name: 'otp',
  channel: 'sms',
  steps: [{ route: { mode: 'failover', providers: ['a', 'b'] }, ttl_seconds: 300, retry: { max_attempts: 3, base_delay_ms: 1000, max_delay_ms: 8000 } }],
});

const cascade = validateStrategy({
  name: 'otp',
  channel: 'sms',
  steps: [
    { route: { mode: 'failover', providers: ['a'] }, retry: { max_attempts: 2, base_delay_ms: 100, max_delay_ms: 100 }, next: { on: 'failure' } },
    { route: { mode: 'failover', providers: ['b'] } },
  ],
});

function message(changes: Partial<QueuedMessage> = {}): QueuedMessage {
  return {
    id: 'm1',
    tenant_id: 't',
    channel: 'sms',
    strategy: 'otp',
    priority: 'normal',
    recipient: { phone: '+4915112345678' },
    content: { text: 'code' },
    expires_at: undefined,
    created_at: new Date(NOW - 1000).toISOString(),
    ...changes,
  };
}

function claimed(changes: Partial<ClaimedInput> = {}): ClaimedInput {
  return {
    message: message(),
    strategy: single,
    tenantTimeZone: 'UTC',
    stopList: new Set(),
    providers: new Map([['a', UP], ['b', UP]]),
    now: NOW,
    random: () => 0.5,
    ...changes,
  };
}

test('a claimed message goes to the first provider of its route; with that one down, to the next, noted as a failover', () => {
  assert.deepEqual(decideClaimed(claimed()), { kind: 'send', provider: 'a', failover: false });
  assert.deepEqual(decideClaimed(claimed({ providers: new Map([['a', DOWN], ['b', UP]]) })), { kind: 'send', provider: 'b', failover: true });
  // A provider the tenant does not have counts as down.
  assert.deepEqual(decideClaimed(claimed({ providers: new Map([['b', UP]]) })), { kind: 'send', provider: 'b', failover: true });
});

test('a claimed message past its TTL expires; one whose step does not exist fails', () => {
  const old = message({ created_at: new Date(NOW - 301_000).toISOString() });
  assert.deepEqual(decideClaimed(claimed({ message: old })), { kind: 'expire', reason: 'expired before it could be sent' });
  assert.deepEqual(decideClaimed(claimed({ message: message({ step: 4 }) })), { kind: 'fail', reason: 'cannot route: strategy "otp" has no step 4' });
});

test('outside its send window a message waits for the opening, unless it expires first', () => {
  const windowed = validateStrategy({
    name: 'news',
    channel: 'sms',
    steps: [{ route: { mode: 'failover', providers: ['a'] }, window: { start: '12:00', end: '18:00' } }],
  });
  const opening = Date.parse('2026-12-02T12:00:00Z');
  assert.deepEqual(decideClaimed(claimed({ strategy: windowed })), {
    kind: 'defer',
    cause: 'window',
    until: opening,
    reason: 'outside the send window; opens 2026-12-02T12:00:00.000Z',
  });
  const soon = message({ expires_at: new Date(NOW + 60_000).toISOString() });
  assert.deepEqual(decideClaimed(claimed({ strategy: windowed, message: soon })), { kind: 'expire', reason: 'expires before its send window opens' });
  // Right before the request the same rules say it waited.
  const late = timeVerdict({ message: message(), step: windowed.steps[0]!, tenantTimeZone: 'UTC', now: NOW, waited: true });
  assert.equal(late?.kind === 'defer' && late.reason.startsWith('send window closed while waiting; opens '), true);
});

test('a recipient on the stop list is suppressed unless the priority is exempt', () => {
  const stopList = new Set(['phone:+4915112345678']);
  assert.deepEqual(decideClaimed(claimed({ stopList })), { kind: 'suppress', reason: 'recipient opted out', cause: 'stop_list' });
  assert.equal(decideClaimed(claimed({ stopList, message: message({ priority: 'critical' }) })).kind, 'send');
});

/** Preferences of one phone: its opt-outs, or null (the store could not be read). */
function preferencesOf(optedOut: readonly string[] | null, exempt: readonly string[] = []): PreferenceView {
  return {
    exemptCategories: new Set(exempt),
    optedOut: (address) => (address.address !== '+4915112345678' ? undefined : optedOut === null ? null : new Set(optedOut)),
  };
}

test('a recipient who opted out of the category (or of every category) on the channel is suppressed; other categories go', () => {
  const marketing = message({ category: 'marketing' });
  assert.deepEqual(decideClaimed(claimed({ message: marketing, preferences: preferencesOf(['sms:marketing']) })), {
    kind: 'suppress',
    reason: 'recipient opted out of marketing on sms',
    cause: 'preference',
  });
  assert.deepEqual(decideClaimed(claimed({ message: message({ category: 'news' }), preferences: preferencesOf(['sms:marketing']) })).kind, 'send');
  // `*` (an inbound STOP) holds back every category, and messages without one.
  assert.deepEqual(decideClaimed(claimed({ message: message(), preferences: preferencesOf(['sms:*']) })), {
    kind: 'suppress',
    reason: 'recipient opted out of sms',
    cause: 'preference',
  });
  // An opt-out of e-mail says nothing of SMS.
  assert.equal(decideClaimed(claimed({ message: marketing, preferences: preferencesOf(['email:*']) })).kind, 'send');
  // Priority does not exempt a message from the recipient's own opt-out; an exempt category does.
  assert.equal(decideClaimed(claimed({ message: message({ priority: 'critical' }), preferences: preferencesOf(['sms:*']) })).kind, 'suppress');
  assert.equal(decideClaimed(claimed({ message: message({ category: 'otp' }), preferences: preferencesOf(['sms:*'], ['otp']) })).kind, 'send');
  assert.equal(decideClaimed(claimed({ message: message({ category: 'consent' }), preferences: preferencesOf(['sms:*']) })).kind, 'send');
});

test('an opted-out step of a cascade moves on to the next step instead of ending the message', () => {
  assert.deepEqual(decideClaimed(claimed({ strategy: cascade, preferences: preferencesOf(['sms:*']) })), {
    kind: 'next_step',
    step: 1,
    reason: 'recipient opted out of sms; moving on',
    suppressed: 'preference',
  });
  // On the last step it ends suppressed.
  assert.equal(decideClaimed(claimed({ strategy: cascade, message: message({ step: 1 }), preferences: preferencesOf(['sms:*']) })).kind, 'suppress');
});

test('preferences that could not be read hold a message back a few seconds; an exempt category does not wait', () => {
  const verdict = decideClaimed(claimed({ preferences: preferencesOf(null) }));
  assert.equal(verdict.kind === 'defer' && verdict.cause === 'preferences_unavailable', true, JSON.stringify(verdict));
  assert.equal(verdict.kind === 'defer' && verdict.reason, 'waiting for the preference store; will retry');
  assert.equal(decideClaimed(claimed({ message: message({ category: 'otp' }), preferences: preferencesOf(null, ['otp']) })).kind, 'send');
});

test('no provider available: a failed attempt, retried after back-off, then dead-lettered, or the next step of a cascade', () => {
  const none = new Map([['a', DOWN], ['b', DOWN]]);
  const first = decideClaimed(claimed({ providers: none }));
  assert.deepEqual(first, {
    kind: 'defer',
    cause: 'no_provider',
    until: NOW + 750,
    reason: 'attempt 2 after back-off: no provider of the route is available',
    attempts: 1,
  });
  const last = decideClaimed(claimed({ providers: none, message: message({ attempts: 2 }) }));
  assert.deepEqual(last, {
    kind: 'fail',
    reason: 'gave up after 3 attempts: no provider of the route is available',
    deadLetter: { code: 'provider_unavailable', attempts: 3 },
  });
  const moved = decideClaimed(claimed({ strategy: cascade, providers: new Map([['a', DOWN]]), message: message({ attempts: 1 }) }));
  assert.deepEqual(moved, { kind: 'next_step', step: 1, reason: 'gave up after 2 attempts: no provider of the route is available' });
});

test('a provider answer: accepted ones are sent, refused ones fail, or move on when the step says so', () => {
  const messages = [
    { message: message({ id: 'x' }), strategy: single, step: single.steps[0]! },
    { message: message({ id: 'y' }), strategy: cascade, step: cascade.steps[0]! },
    { message: message({ id: 'z' }), strategy: single, step: single.steps[0]! },
  ];
  const verdicts = verdictsFor({
    answer: {
      outcomes: [
        { messageId: 'x', outcome: 'accepted' },
        { messageId: 'y', outcome: 'rejected', reason: 'absent subscriber' },
        { messageId: 'z', outcome: 'rejected', reason: 'blocked' },
        { messageId: 'unknown', outcome: 'accepted' },
      ],
    },
    messages,
    providerId: 'a',
    providerKey: 't/a',
    now: NOW,
    random: () => 0.5,
  });
  assert.deepEqual(verdicts, [
    { messageId: 'x', verdict: { kind: 'sent' } },
    { messageId: 'y', verdict: { kind: 'next_step', step: 1, reason: 'provider a rejected it: absent subscriber' } },
    { messageId: 'z', verdict: { kind: 'fail', reason: 'provider a rejected it: blocked' } },
  ]);
});

test('a failed request: a retryable error is retried no sooner than Retry-After, then dead-lettered with its code and provider', () => {
  const answer = { outcomes: [], error: { retryable: true, message: 'provider a answered 503', code: 'provider_unavailable' as const, retryAfterSeconds: 5 } };
  const input = { answer, providerId: 'a', providerKey: 't/a', now: NOW, random: () => 0.5 };
  const [first] = verdictsFor({ ...input, messages: [{ message: message(), strategy: single, step: single.steps[0]! }] });
  assert.deepEqual(first?.verdict, { kind: 'defer', cause: 'retry', until: NOW + 5000, reason: 'attempt 2 after back-off: provider a answered 503', attempts: 1 });
  const [last] = verdictsFor({ ...input, messages: [{ message: message({ attempts: 2 }), strategy: single, step: single.steps[0]! }] });
  assert.deepEqual(last?.verdict, {
    kind: 'fail',
    reason: 'gave up after 3 attempts: provider a answered 503',
    deadLetter: { code: 'provider_unavailable', provider: 't/a', attempts: 3 },
  });
  const permanent = { outcomes: [], error: { retryable: false, message: 'provider a refused the batch', code: 'provider_rejected' as const } };
  const [refused] = verdictsFor({ ...input, answer: permanent, messages: [{ message: message(), strategy: single, step: single.steps[0]! }] });
  assert.deepEqual(refused?.verdict, { kind: 'fail', reason: 'provider a refused the batch' });
});

test('a failed attempt without a strategy (it could not be read) never moves on', () => {
  const verdict = afterFailedAttempt({
    message: message({ attempts: 4 }),
    strategy: undefined,
    step: { route: { mode: 'failover', providers: [] } },
    now: NOW,
    random: () => 0,
    reason: 'internal error while routing',
    cause: 'retry',
  });
  assert.deepEqual(verdict, { kind: 'fail', reason: 'gave up after 5 attempts: internal error while routing', deadLetter: { code: 'provider_unavailable', attempts: 5 } });
});

test('a store outage waits 2-4 s without spending an attempt', () => {
  assert.deepEqual(storeOutageVerdict('config_unavailable', NOW, () => 0.5), {
    kind: 'defer',
    cause: 'config_unavailable',
    until: NOW + 3000,
    reason: 'waiting for the configuration store; will retry',
  });
  assert.equal(storeOutageVerdict('frequency_cap', NOW, () => 0.999).until, NOW + 3998);
});

test('caps per step: the SMS step of a cascade counts its own cap, the push step does not', () => {
  const strategy: Strategy = validateStrategy({
    name: 'reach',
    channel: 'push',
    contact_policy: { caps: [{ category: 'marketing', max: 10, per_seconds: 86_400, over: 'defer' }] },
    steps: [
      { route: { mode: 'failover', providers: ['p'] }, next: { on: 'failure' } },
      {
        channel: 'sms',
        route: { mode: 'failover', providers: ['s'] },
        contact_policy: { caps: [{ category: 'marketing', channel: 'sms', max: 3, per_seconds: 86_400, over: 'defer' }] },
      },
    ],
  });
  const push = stepCaps(strategy, { priority: 'normal', category: 'marketing' });
  assert.deepEqual([push.channel, push.caps.map((cap) => cap.max)], ['push', [10]]);
  const sms = stepCaps(strategy, { step: 1, priority: 'normal', category: 'marketing' });
  assert.deepEqual([sms.channel, sms.caps.map((cap) => cap.max)], ['sms', [10, 3]]);
  // The strategy's exemptions hold for a step's caps, and no category counts against none.
  assert.deepEqual(stepCaps(strategy, { step: 1, priority: 'critical', category: 'marketing' }).caps, []);
  assert.deepEqual(stepCaps(strategy, { step: 1, priority: 'normal' }).caps, []);
});

test('caps per step are validated with their paths', () => {
  const invalid = {
    name: 'reach',
    channel: 'push',
    contact_policy: { caps: [{ category: 'marketing', channel: 'sms', max: 5, per_seconds: 3600, over: 'drop' }] },
    steps: [
      {
        route: { mode: 'failover', providers: ['p'] },
        contact_policy: { caps: [{ category: 'marketing', channel: 'sms', max: 3, per_seconds: 86_400, over: 'defer' }] },
        next: { on: 'failure' },
      },
      {
        channel: 'sms',
        route: { mode: 'failover', providers: ['s'] },
        contact_policy: {
          caps: [
            { category: 'marketing', channel: 'sms', max: 3, per_seconds: 3600, over: 'defer' },
            { category: 'promo', max: 0, per_seconds: 60, over: 'defer' },
          ],
        },
      },
    ],
  };
  assert.throws(
    () => validateStrategy(invalid),
    (error: { problems?: { path: string }[] }) => {
      assert.deepEqual(error.problems?.map((p) => p.path), ['/steps/1/contact_policy/caps/1/max']);
      return true;
    },
  );
  const schemaValid = { ...invalid, steps: [invalid.steps[0], { ...invalid.steps[1], contact_policy: { caps: [invalid.steps[1]!.contact_policy.caps[0]] } }] };
  assert.throws(
    () => validateStrategy(schemaValid),
    (error: { problems?: { path: string }[] }) => {
      assert.deepEqual(error.problems?.map((p) => p.path).sort(), [
        '/steps/0/contact_policy/caps/0/channel',
        '/steps/1/contact_policy/caps/0',
      ]);
      return true;
    },
  );
  assert.throws(() => validateStrategy({ ...invalid, steps: [{ route: { mode: 'failover', providers: ['p'] }, contact_policy: {} }] }), /contact_policy/);
});

test('a reclaimed entry goes again unless the journal shows it ended (dropped) or sent (carried on as its receipt timer)', () => {
  assert.equal(reclaimVerdict({}, undefined), 'again');
  assert.equal(reclaimVerdict({}, 'sending'), 'again');
  assert.equal(reclaimVerdict({}, 'scheduled'), 'again');
  assert.equal(reclaimVerdict({}, 'next_step'), 'again');
  assert.equal(reclaimVerdict({}, 'sent'), 'as_timer');
  for (const ended of ['delivered', 'failed', 'expired', 'cancelled', 'rejected'] as const) assert.equal(reclaimVerdict({}, ended), 'drop');
  // A cascade timer reads the journal itself.
  assert.equal(reclaimVerdict({ receipt_timer: 0 }, 'delivered'), 'again');
});

test('a throttled batch part waits until a useful share of it can go, never less than the bucket says', () => {
  assert.equal(throttleDelayMs(50, 100, 10, 3), 100); // a burst of 10 at 100/s
  assert.equal(throttleDelayMs(2, 100, 10, 3), 20);
  assert.equal(throttleDelayMs(2, 100, 10, 40), 40);
  assert.equal(throttleDelayMs(1, 1_000_000, 10, 0), 1);
});
