import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseProvider, nextProvider, routeProviders, type Route } from './route.ts';

const failover: Route = { mode: 'failover', providers: ['a', 'b', 'c'] };
const weighted: Route = {
  mode: 'weighted',
  providers: [
    { id: 'a', weight: 1 },
    { id: 'b', weight: 3 },
  ],
};
const none = new Set<string>();
const always = (value: number) => () => value;

test('failover chooses the first provider in route order', () => {
  assert.equal(chooseProvider(failover, { unavailable: none, random: Math.random }), 'a');
});

test('failover skips unavailable providers', () => {
  assert.equal(chooseProvider(failover, { unavailable: new Set(['a']), random: Math.random }), 'b');
  assert.equal(
    chooseProvider(failover, { unavailable: new Set(['a', 'b']), random: Math.random }),
    'c',
  );
});

test('no provider is chosen when all are unavailable', () => {
  const all = new Set(['a', 'b', 'c']);
  assert.equal(chooseProvider(failover, { unavailable: all, random: Math.random }), undefined);
  assert.equal(chooseProvider(weighted, { unavailable: all, random: Math.random }), undefined);
  assert.equal(
    chooseProvider({ mode: 'failover', providers: [] }, { unavailable: none, random: Math.random }),
    undefined,
  );
});

test('after a failure failover moves to the next available provider and never wraps round', () => {
  assert.equal(nextProvider(failover, 'a', { unavailable: none, random: Math.random }), 'b');
  assert.equal(
    nextProvider(failover, 'a', { unavailable: new Set(['b']), random: Math.random }),
    'c',
  );
  assert.equal(nextProvider(failover, 'c', { unavailable: none, random: Math.random }), undefined);
});

test('after a failure of a provider not on the route failover starts from the top', () => {
  assert.equal(nextProvider(failover, 'zzz', { unavailable: none, random: Math.random }), 'a');
});

test('weighted choice is deterministic given random and follows the cumulative weights', () => {
  assert.equal(chooseProvider(weighted, { unavailable: none, random: always(0) }), 'a');
  assert.equal(chooseProvider(weighted, { unavailable: none, random: always(0.2499) }), 'a');
  assert.equal(chooseProvider(weighted, { unavailable: none, random: always(0.25) }), 'b');
  assert.equal(chooseProvider(weighted, { unavailable: none, random: always(0.9999) }), 'b');
  assert.equal(chooseProvider(weighted, { unavailable: none, random: always(1) }), 'b');
});

test('weighted choice over evenly spread random values matches the weights exactly', () => {
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const id = chooseProvider(weighted, { unavailable: none, random: always(i / 1000) }) ?? '';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(counts), { a: 250, b: 750 });
});

test('weighted choice renormalises over the available providers only', () => {
  assert.equal(
    chooseProvider(weighted, { unavailable: new Set(['b']), random: always(0.99) }),
    'a',
  );
  assert.equal(nextProvider(weighted, 'b', { unavailable: none, random: always(0.99) }), 'a');
  assert.equal(
    nextProvider(weighted, 'b', { unavailable: new Set(['a']), random: always(0) }),
    undefined,
  );
});

test('a keyed weighted choice is sticky per key and proportional to weight over many keys', () => {
  const context = { unavailable: none, random: always(0) };
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 4000; i++) {
    const key = `+4915100000${i}`;
    const id = chooseProvider(weighted, { ...context, key }) as 'a' | 'b';
    assert.equal(chooseProvider(weighted, { ...context, key }), id);
    counts[id] += 1;
  }
  assert.ok(Math.abs(counts.b / 4000 - 0.75) < 0.03, `b got ${counts.b} of 4000`);
});

test('a provider going unavailable moves only the keys it had under keyed choice', () => {
  const three: Route = {
    mode: 'weighted',
    providers: [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 1 },
      { id: 'c', weight: 1 },
    ],
  };
  for (let i = 0; i < 500; i++) {
    const key = `user-${i}`;
    const before = chooseProvider(three, { unavailable: none, random: always(0), key });
    const after = chooseProvider(three, { unavailable: new Set(['c']), random: always(0), key });
    if (before !== 'c') assert.equal(after, before, key);
  }
});

test('routeProviders lists every provider of the route in order', () => {
  assert.deepEqual(routeProviders(failover), ['a', 'b', 'c']);
  assert.deepEqual(routeProviders(weighted), ['a', 'b']);
});
