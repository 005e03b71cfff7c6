import assert from 'node:assert/strict';
import { test } from 'node:test';
import { phoneCountry } from './phone.ts';
import {
  NO_ERROR_STATS,
  errorRatio,
  providerHealthWeight,
  recordRequest,
} from './provider-health.ts';
import { chooseProvider, nextProvider, routeProviderRefs, routeProviders, type PriceTable, type Route } from './route.ts';

const none = new Set<string>();

/** mulberry32: a small seeded source, so a statistical test gives the same draws every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shares(route: Route, draws: number, context: Partial<Parameters<typeof chooseProvider>[1]> = {}): Map<string, number> {
  const random = seeded(42);
  const counts = new Map<string, number>();
  for (let i = 0; i < draws; i++) {
    const id = chooseProvider(route, { unavailable: none, random, ...context }) ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return new Map([...counts].map(([id, n]) => [id, n / draws]));
}

test('a 70/30 weighted split holds within ±3 % over 10 000 seeded draws', () => {
  const split = shares({ mode: 'weighted', providers: [{ id: 'a', weight: 70 }, { id: 'b', weight: 30 }] }, 10_000);
  assert.ok(Math.abs((split.get('a') ?? 0) - 0.7) <= 0.03, `a got ${split.get('a')}`);
  assert.ok(Math.abs((split.get('b') ?? 0) - 0.3) <= 0.03, `b got ${split.get('b')}`);
});

test('a three-way weighted split by recipient key holds within ±3 % and is sticky per recipient', () => {
  const route: Route = { mode: 'weighted', providers: [{ id: 'a', weight: 5 }, { id: 'b', weight: 3 }, { id: 'c', weight: 2 }] };
  const counts = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) {
    const key = `+4915${String(1_000_000 + i)}`;
    const id: string = chooseProvider(route, { unavailable: none, random: () => 0, key }) ?? 'none';
    assert.equal(chooseProvider(route, { unavailable: none, random: () => 0.99, key }), id, 'same recipient, same provider');
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  for (const [id, expected] of [['a', 0.5], ['b', 0.3], ['c', 0.2]] as const) {
    assert.ok(Math.abs((counts.get(id) ?? 0) / 10_000 - expected) <= 0.03, `${id} got ${counts.get(id)}`);
  }
});

const byCountry: Route = {
  mode: 'rules',
  rules: [
    { match: { prefixes: ['+4915', '+4916'] }, route: { mode: 'failover', providers: ['de-mobile'] } },
    { match: { countries: ['DE', 'AT'] }, route: { mode: 'failover', providers: ['dach', 'global'] } },
    { match: { countries: ['RU'], prefixes: ['+7916'] }, route: { mode: 'failover', providers: ['mts'] } },
  ],
  otherwise: { mode: 'failover', providers: ['global'] },
};

function recipient(phone: string) {
  return { phone, country: phoneCountry(phone) };
}

test('rules route by prefix and country, first match wins, with a default', () => {
  const choose = (phone: string) => chooseProvider(byCountry, { unavailable: none, random: Math.random, recipient: recipient(phone) });
  assert.equal(choose('+4915112345678'), 'de-mobile', 'the prefix rule comes first, though the country rule matches too');
  assert.equal(choose('+493012345678'), 'dach', 'German landline: the country rule');
  assert.equal(choose('+43664123456'), 'dach', 'Austria');
  assert.equal(choose('+79161234567'), 'mts', 'country and prefix both match');
  assert.equal(choose('+74951234567'), 'global', 'Russia but not the prefix: the default');
  assert.equal(choose('+14155550123'), 'global');
  assert.equal(chooseProvider(byCountry, { unavailable: none, random: Math.random }), 'global', 'no recipient: the default');
  assert.equal(
    chooseProvider(byCountry, { unavailable: new Set(['dach']), random: Math.random, recipient: recipient('+493012345678') }),
    'global',
    'the matched rule fails over within its own route',
  );
});

test('the country of a number comes from libphonenumber', () => {
  assert.equal(phoneCountry('+4915112345678'), 'DE');
  assert.equal(phoneCountry('+14155550123'), 'US');
  assert.equal(phoneCountry('+79161234567'), 'RU');
});

const prices = new Map<string, PriceTable>([
  ['cheap-de', { DE: 0.05, '*': 0.2 }],
  ['cheap-us', { US: 0.01, DE: 0.09 }],
  ['flat', { '*': 0.07 }],
  ['unpriced', {}],
]);
const leastCost: Route = { mode: 'least_cost', providers: ['unpriced', 'flat', 'cheap-us', 'cheap-de'] };

test('least cost picks the cheapest provider for the recipient country, then the next cheapest', () => {
  const context = (phone: string, unavailable = none) => ({ unavailable, random: Math.random, prices, recipient: recipient(phone) });
  assert.equal(chooseProvider(leastCost, context('+4915112345678')), 'cheap-de');
  assert.equal(chooseProvider(leastCost, context('+14155550123')), 'cheap-us');
  assert.equal(chooseProvider(leastCost, context('+33612345678')), 'flat', 'no country price: the * prices compete');
  assert.equal(chooseProvider(leastCost, context('+4915112345678', new Set(['cheap-de']))), 'flat');
  assert.equal(nextProvider(leastCost, 'cheap-de', context('+4915112345678')), 'flat');
  assert.equal(nextProvider(leastCost, 'flat', context('+4915112345678')), 'cheap-us');
  assert.equal(nextProvider(leastCost, 'cheap-us', context('+4915112345678')), 'unpriced', 'unpriced providers come last');
  assert.equal(nextProvider(leastCost, 'unpriced', context('+4915112345678')), undefined);
});

test('least cost follows a price change', () => {
  const changed = new Map(prices).set('flat', { '*': 0.01 });
  assert.equal(chooseProvider(leastCost, { unavailable: none, random: Math.random, prices: changed, recipient: recipient('+4915112345678') }), 'flat');
});

test('failover skips a provider at health 0 while another can take the message, and uses it when none can', () => {
  const route: Route = { mode: 'failover', providers: ['a', 'b'] };
  assert.equal(chooseProvider(route, { unavailable: none, random: Math.random, health: new Map([['a', 0]]) }), 'b');
  assert.equal(chooseProvider(route, { unavailable: new Set(['b']), random: Math.random, health: new Map([['a', 0]]) }), 'a');
});

test('a down-weighted provider gets its health as a share: failover and weighted', () => {
  const failover = shares({ mode: 'failover', providers: ['a', 'b'] }, 10_000, { health: new Map([['a', 0.25]]) });
  assert.ok(Math.abs((failover.get('a') ?? 0) - 0.25) <= 0.03, `a got ${failover.get('a')}`);
  const weighted = shares({ mode: 'weighted', providers: [{ id: 'a', weight: 1 }, { id: 'b', weight: 1 }] }, 10_000, {
    health: new Map([['a', 0.5]]),
  });
  // 1 × 0.5 against 1: a gets a third.
  assert.ok(Math.abs((weighted.get('a') ?? 0) - 1 / 3) <= 0.03, `a got ${weighted.get('a')}`);
});

test('health weight: an open circuit is 0, errors weigh down linearly, a provider back from open ramps up', () => {
  assert.equal(providerHealthWeight({ circuit: 'open', errorRatio: 0 }), 0);
  assert.equal(providerHealthWeight({ circuit: 'closed', errorRatio: 0 }), 1);
  assert.equal(providerHealthWeight({ circuit: 'closed', errorRatio: 0.25 }), 0.5);
  assert.equal(providerHealthWeight({ circuit: 'closed', errorRatio: 0.6 }), 0);
  const ramp = [0, 30_000, 60_000].map((closedForMs) => providerHealthWeight({ circuit: 'closed', errorRatio: 0, closedForMs }));
  assert.deepEqual(ramp, [0.1, 0.55, 1]);
});

test('the error ratio counts recent requests only, and says nothing from too few', () => {
  let stats = NO_ERROR_STATS;
  for (let i = 0; i < 5; i++) stats = recordRequest(stats, 1000, true);
  assert.equal(errorRatio(stats, 1000), 0, 'five requests are too few to judge');
  for (let i = 0; i < 15; i++) stats = recordRequest(stats, 1000, i % 3 === 0);
  assert.equal(errorRatio(stats, 1000), 10 / 20);
  // Two half-lives of successes later, the old failures weigh a quarter.
  for (let i = 0; i < 20; i++) stats = recordRequest(stats, 121_000, false);
  assert.ok(Math.abs(errorRatio(stats, 121_000) - 2.5 / 25) < 1e-9, String(errorRatio(stats, 121_000)));
});

test('the providers of a rules route are listed once each, with the path of every mention', () => {
  assert.deepEqual(routeProviders(byCountry), ['de-mobile', 'dach', 'global', 'mts']);
  assert.deepEqual(routeProviderRefs(byCountry).map((ref) => ref.path), [
    '/rules/0/route/providers/0',
    '/rules/1/route/providers/0',
    '/rules/1/route/providers/1',
    '/rules/2/route/providers/0',
    '/otherwise/providers/0',
  ]);
});
