import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from './errors.ts';
import type { Priority } from './lanes.ts';
import {
  DEFAULT_LANE_WEIGHTS,
  INITIAL_LANE_SELECTION_STATE,
  selectLanes,
  type LaneSelectionState,
} from './lane-selection.ts';

const plenty = { critical: 0, high: 1000, normal: 1000, bulk: 1000 };

/** Runs `cycles` cycles with a constant backlog and sums the claims per lane. */
function run(
  cycles: number,
  claimCount: number,
  backlog: Partial<Record<Priority, number>>,
): { totals: Record<Priority, number>; perCycle: Record<Priority, number>[] } {
  let state: LaneSelectionState = INITIAL_LANE_SELECTION_STATE;
  const totals = { critical: 0, high: 0, normal: 0, bulk: 0 };
  const perCycle = [];
  for (let i = 0; i < cycles; i++) {
    const selection = selectLanes({ backlog, claimCount, state });
    state = selection.state;
    perCycle.push({ ...selection.claims });
    for (const lane of Object.keys(totals) as Priority[]) totals[lane] += selection.claims[lane];
  }
  return { totals, perCycle };
}

test('critical entries are claimed first, up to the whole budget', () => {
  const { claims } = selectLanes({ backlog: { ...plenty, critical: 250 }, claimCount: 100 });
  assert.deepEqual(claims, { critical: 100, high: 0, normal: 0, bulk: 0 });
});

test('budget left after critical is shared by the other lanes', () => {
  const { claims } = selectLanes({ backlog: { ...plenty, critical: 9 }, claimCount: 22 });
  assert.deepEqual(claims, { critical: 9, high: 8, normal: 4, bulk: 1 });
});

test('with every lane backlogged the shares follow the default weights 8:4:1', () => {
  assert.deepEqual(DEFAULT_LANE_WEIGHTS, { high: 8, normal: 4, bulk: 1 });
  const { totals } = run(13, 10, plenty);
  assert.deepEqual(totals, { critical: 0, high: 80, normal: 40, bulk: 10 });
});

test('a one-entry budget still gives bulk its share over a window of cycles (no starvation)', () => {
  const { totals } = run(13, 1, plenty);
  assert.deepEqual(totals, { critical: 0, high: 8, normal: 4, bulk: 1 });
  const { totals: longer } = run(130, 1, plenty);
  assert.ok(longer.bulk >= 10, `bulk got ${longer.bulk} of 130`);
});

test('a backlogged high lane is served in every cycle once the budget is 2 or more', () => {
  const { perCycle } = run(50, 2, plenty);
  assert.ok(perCycle.every((claims) => claims.high >= 1));
});

test('budget unused by empty lanes flows to the lanes that have entries', () => {
  assert.deepEqual(selectLanes({ backlog: { bulk: 500 }, claimCount: 100 }).claims, {
    critical: 0,
    high: 0,
    normal: 0,
    bulk: 100,
  });
  assert.deepEqual(selectLanes({ backlog: { high: 3, normal: 1000 }, claimCount: 100 }).claims, {
    critical: 0,
    high: 3,
    normal: 97,
    bulk: 0,
  });
});

test('the total never exceeds the budget and no lane is asked for more than it holds', () => {
  let state = INITIAL_LANE_SELECTION_STATE;
  for (let i = 0; i < 500; i++) {
    const backlog = {
      critical: (i * 7) % 5,
      high: (i * 13) % 40,
      normal: (i * 3) % 17,
      bulk: i % 60,
    };
    const claimCount = (i * 11) % 50;
    const selection = selectLanes({ backlog, claimCount, state });
    state = selection.state;
    const { claims } = selection;
    const total = claims.critical + claims.high + claims.normal + claims.bulk;
    assert.ok(total <= claimCount, `cycle ${i}: ${total} > ${claimCount}`);
    assert.equal(
      total,
      Math.min(claimCount, backlog.critical + backlog.high + backlog.normal + backlog.bulk),
    );
    for (const lane of ['critical', 'high', 'normal', 'bulk'] as const)
      assert.ok(claims[lane] <= backlog[lane]);
  }
});

test('a zero budget, empty backlog or nonsense counts claim nothing', () => {
  const none = { critical: 0, high: 0, normal: 0, bulk: 0 };
  assert.deepEqual(selectLanes({ backlog: plenty, claimCount: 0 }).claims, none);
  assert.deepEqual(selectLanes({ backlog: {}, claimCount: 100 }).claims, none);
  assert.deepEqual(
    selectLanes({ backlog: { high: -5, bulk: Number.NaN }, claimCount: 100 }).claims,
    none,
  );
});

test('the state passed in is not modified', () => {
  const state = { credit: { high: 1, normal: 2, bulk: 3 } };
  selectLanes({ backlog: plenty, claimCount: 10, state });
  assert.deepEqual(state, { credit: { high: 1, normal: 2, bulk: 3 } });
});

test('custom weights change the shares', () => {
  let state = INITIAL_LANE_SELECTION_STATE;
  const totals = { high: 0, normal: 0, bulk: 0 };
  for (let i = 0; i < 10; i++) {
    const selection = selectLanes({
      backlog: plenty,
      claimCount: 3,
      state,
      weights: { high: 1, normal: 1, bulk: 1 },
    });
    state = selection.state;
    totals.high += selection.claims.high;
    totals.normal += selection.claims.normal;
    totals.bulk += selection.claims.bulk;
  }
  assert.deepEqual(totals, { high: 10, normal: 10, bulk: 10 });
});

test('a zero or negative weight is refused as a configuration error naming the lane', () => {
  assert.throws(
    () =>
      selectLanes({ backlog: plenty, claimCount: 10, weights: { high: 8, normal: 0, bulk: -1 } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.map((p) => p.path).join() === '/lane_weights/normal,/lane_weights/bulk',
  );
});
