import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from './errors.ts';
import { DEFAULT_RETRY_POLICY } from './retry.ts';
import { stepRetryPolicy, validateStrategy } from './strategy.ts';

const smsDefault = () => ({
  name: 'sms-default',
  channel: 'sms',
  steps: [
    { route: { mode: 'failover', providers: ['sandbox-sms', 'backup-sms'] }, ttl_seconds: 86_400 },
  ],
});

/** The problems a ValidationError names, as "path: message" lines. */
function problemsOf(input: unknown): string[] {
  try {
    validateStrategy(input);
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected a ValidationError');
}

test('a failover strategy with one step is accepted as it is', () => {
  assert.deepEqual(validateStrategy(smsDefault()), smsDefault());
});

test('a weighted strategy with a window and a retry policy is accepted', () => {
  const strategy = validateStrategy({
    name: 'promo.v2',
    channel: 'sms',
    steps: [
      {
        route: {
          mode: 'weighted',
          providers: [
            { id: 'a', weight: 3 },
            { id: 'b', weight: 1 },
          ],
        },
        window: { start: '09:00', end: '21:00', days: [1, 2, 3, 4, 5], time_zone: 'Europe/Berlin' },
        retry: { max_attempts: 3, base_delay_ms: 500, max_delay_ms: 60_000 },
      },
    ],
  });
  assert.equal(strategy.steps[0]?.route.mode, 'weighted');
});

test('retry fields left out are filled from the default retry policy', () => {
  const strategy = validateStrategy({
    ...smsDefault(),
    steps: [{ ...smsDefault().steps[0], retry: { max_attempts: 2 } }],
  });
  const step = strategy.steps[0];
  assert.ok(step !== undefined);
  assert.deepEqual(step.retry, { max_attempts: 2, base_delay_ms: 1000, max_delay_ms: 300_000 });
  assert.deepEqual(stepRetryPolicy(step), {
    maxAttempts: 2,
    baseDelayMs: 1000,
    maxDelayMs: 300_000,
  });
});

test('a step without retry uses the default retry policy', () => {
  const step = validateStrategy(smsDefault()).steps[0];
  assert.ok(step !== undefined);
  assert.equal(stepRetryPolicy(step), DEFAULT_RETRY_POLICY);
});

test('unknown properties are refused at every level, naming the property', () => {
  assert.deepEqual(problemsOf({ ...smsDefault(), colour: 'red' }), [
    '/colour: is not an allowed property',
  ]);
  assert.deepEqual(
    problemsOf({ ...smsDefault(), steps: [{ ...smsDefault().steps[0], delay: 5 }] }),
    ['/steps/0/delay: is not an allowed property'],
  );
  assert.deepEqual(
    problemsOf({
      ...smsDefault(),
      steps: [{ route: { mode: 'failover', providers: ['a'], cost: 1 } }],
    }),
    ['/steps/0/route/cost: is not an allowed property'],
  );
});

test('missing name, channel and steps are each named', () => {
  assert.deepEqual(problemsOf({}), [
    '/name: is required',
    '/channel: is required',
    '/steps: is required',
  ]);
});

test('steps hold from 1 to 10 steps (a cascade)', () => {
  assert.deepEqual(problemsOf({ ...smsDefault(), steps: [] }), [
    '/steps: must NOT have fewer than 1 items',
  ]);
  const step = smsDefault().steps[0];
  assert.equal(validateStrategy({ ...smsDefault(), steps: [step, step] }).steps.length, 2);
  assert.deepEqual(problemsOf({ ...smsDefault(), steps: Array.from({ length: 11 }, () => step) }), [
    '/steps: must NOT have more than 10 items',
  ]);
});

test('an unknown or missing route mode is named at /route/mode', () => {
  assert.deepEqual(
    problemsOf({ ...smsDefault(), steps: [{ route: { mode: 'cheapest', providers: ['a'] } }] }),
    ['/steps/0/route/mode: must be one of: failover, weighted, rules, least_cost'],
  );
  assert.deepEqual(problemsOf({ ...smsDefault(), steps: [{ route: { providers: ['a'] } }] }), [
    '/steps/0/route/mode: is required',
  ]);
});

test('a weighted route needs positive weights and distinct provider ids', () => {
  const route = (providers: unknown) => ({
    ...smsDefault(),
    steps: [{ route: { mode: 'weighted', providers } }],
  });
  assert.deepEqual(problemsOf(route([{ id: 'a', weight: 0 }])), [
    '/steps/0/route/providers/0/weight: must be > 0',
  ]);
  assert.deepEqual(
    problemsOf(
      route([
        { id: 'a', weight: 1 },
        { id: 'a', weight: 2 },
      ]),
    ),
    ['/steps/0/route/providers/1/id: is listed twice'],
  );
});

test('a failover route may not list a provider twice', () => {
  const input = {
    ...smsDefault(),
    steps: [{ route: { mode: 'failover', providers: ['a', 'a'] } }],
  };
  assert.equal(
    problemsOf(input)[0]?.startsWith('/steps/0/route/providers: must NOT have duplicate items'),
    true,
  );
});

test('a window needs HH:MM times, ISO weekdays and a known time zone', () => {
  const withWindow = (window: unknown) => ({
    ...smsDefault(),
    steps: [{ ...smsDefault().steps[0], window }],
  });
  assert.deepEqual(problemsOf(withWindow({ start: '9:00', end: '21:00' })), [
    '/steps/0/window/start: must be a local time "HH:MM" (00:00-23:59)',
  ]);
  assert.deepEqual(problemsOf(withWindow({ start: '09:00', end: '21:00', days: [0] })), [
    '/steps/0/window/days/0: must be >= 1',
  ]);
  assert.deepEqual(
    problemsOf(withWindow({ start: '09:00', end: '21:00', time_zone: 'Europe/Atlantis' })),
    ['/steps/0/window/time_zone: is not a known IANA time zone: Europe/Atlantis'],
  );
});

test('a retry policy whose base delay exceeds its maximum is refused', () => {
  const input = {
    ...smsDefault(),
    steps: [{ ...smsDefault().steps[0], retry: { base_delay_ms: 10_000, max_delay_ms: 5000 } }],
  };
  assert.deepEqual(problemsOf(input), [
    '/steps/0/retry/base_delay_ms: must not exceed max_delay_ms',
  ]);
});

test('ttl_seconds must be a positive whole number of seconds', () => {
  const input = { ...smsDefault(), steps: [{ ...smsDefault().steps[0], ttl_seconds: 0 }] };
  assert.deepEqual(problemsOf(input), ['/steps/0/ttl_seconds: must be >= 1']);
});

const ruled = (route: unknown) => ({ ...smsDefault(), steps: [{ route }] });

test('a rules route by country and prefix with a least-cost default is accepted', () => {
  const input = ruled({
    mode: 'rules',
    rules: [
      { match: { prefixes: ['+4915', '+4916'] }, route: { mode: 'failover', providers: ['mobile-de'] } },
      { match: { countries: ['DE', 'AT'] }, route: { mode: 'weighted', providers: [{ id: 'a', weight: 7 }, { id: 'b', weight: 3 }] } },
    ],
    otherwise: { mode: 'least_cost', providers: ['a', 'b', 'c'] },
  });
  assert.deepEqual(validateStrategy(input), input);
});

test('a rules route names each wrong field of its rules by path', () => {
  assert.deepEqual(
    problemsOf(
      ruled({
        mode: 'rules',
        rules: [
          { match: { countries: ['de'] }, route: { mode: 'failover', providers: ['a'] } },
          { match: {}, route: { mode: 'rules', rules: [], otherwise: { mode: 'failover', providers: ['a'] } } },
          { match: { prefixes: ['4915'] }, route: { mode: 'weighted', providers: [{ id: 'a', weight: 1 }, { id: 'a', weight: 2 }] } },
        ],
        otherwise: { mode: 'least_cost', providers: [] },
      }),
    ).sort(),
    [
      '/steps/0/route/otherwise/providers: must NOT have fewer than 1 items',
      '/steps/0/route/rules/0/match/countries/0: must be an ISO 3166-1 alpha-2 country code in capitals, e.g. "DE"',
      '/steps/0/route/rules/1/match: must NOT have fewer than 1 properties',
      '/steps/0/route/rules/1/route/mode: must be one of: failover, weighted, least_cost',
      '/steps/0/route/rules/2/match/prefixes/0: must be an E.164 prefix: "+" and 1-15 digits, e.g. "+4915"',
    ],
  );
  assert.deepEqual(problemsOf(ruled({ mode: 'rules', rules: [{ match: { countries: ['DE'] }, route: { mode: 'failover', providers: ['a'] } }] })), [
    '/steps/0/route/otherwise: is required',
  ]);
});

test('a weighted route under a rule lists a provider once', () => {
  assert.deepEqual(
    problemsOf(
      ruled({
        mode: 'rules',
        rules: [{ match: { countries: ['DE'] }, route: { mode: 'weighted', providers: [{ id: 'a', weight: 1 }, { id: 'a', weight: 2 }] } }],
        otherwise: { mode: 'failover', providers: ['a'] },
      }),
    ),
    ['/steps/0/route/rules/0/route/providers/1/id: is listed twice'],
  );
});

test('cascade steps: a next rule on the last step, a first step on another channel and an unknown rule are refused', () => {
  const route = { mode: 'failover', providers: ['a'] };
  assert.deepEqual(
    problemsOf({
      name: 'otp',
      channel: 'sms',
      steps: [
        { channel: 'push', route, next: { on: 'no_receipt', within_seconds: 60 } },
        { route, next: { on: 'failure' } },
      ],
    }),
    ['/steps/0/channel: the first step sends on the strategy\'s channel (sms)', '/steps/1/next: the last step has no step to move on to'],
  );
  assert.deepEqual(problemsOf({ name: 'otp', channel: 'sms', steps: [{ route, next: { on: 'timeout' } }, { route }] }), [
    '/steps/0/next/on: must be one of: failure, no_receipt',
  ]);
  assert.deepEqual(problemsOf({ name: 'otp', channel: 'sms', steps: [{ route, next: { on: 'no_receipt' } }, { route }] }), [
    '/steps/0/next/within_seconds: is required',
  ]);
});
