import { ConfigError } from './errors.ts';
import { PRIORITIES, type Priority } from './lanes.ts';

/** The lanes that share, by weight, whatever budget `critical` leaves over. */
export const SHARED_LANES = ['high', 'normal', 'bulk'] as const;

export type SharedLane = (typeof SHARED_LANES)[number];

/**
 * Relative share of each non-critical lane in one dispatch cycle. `critical` has no
 * weight: it is always served first, up to the whole budget.
 */
export type LaneWeights = Readonly<Record<SharedLane, number>>;

/**
 * Defaults: `high` 8, `normal` 4, `bulk` 1. With all three backlogged, of every 13
 * entries claimed after `critical`, high gets 8, normal 4 and bulk 1, interleaved (smooth
 * weighted round-robin), so bulk still moves while high is busy.
 */
export const DEFAULT_LANE_WEIGHTS: LaneWeights = Object.freeze({ high: 8, normal: 4, bulk: 1 });

/** Entries per lane: a backlog going in, claims coming out. A missing lane counts 0. */
export type LaneCounts = Readonly<Record<Priority, number>>;

/**
 * What smooth weighted round-robin carries from one cycle to the next: each shared
 * lane's running credit. Kept by the caller (one per dispatcher replica, in memory), so
 * shares hold across cycles even when the budget of one cycle is smaller than the sum
 * of the weights.
 */
export interface LaneSelectionState {
  readonly credit: Readonly<Record<SharedLane, number>>;
}

export const INITIAL_LANE_SELECTION_STATE: LaneSelectionState = Object.freeze({
  credit: Object.freeze({ high: 0, normal: 0, bulk: 0 }),
});

export interface LaneSelectionInput {
  /** Entries waiting per lane (e.g. consumer-group lag); negative or missing counts 0. */
  readonly backlog: Readonly<Partial<Record<Priority, number>>>;
  /** Most entries to claim this cycle, over all lanes. */
  readonly claimCount: number;
  /** State returned by the previous cycle. Default: a fresh start. */
  readonly state?: LaneSelectionState | undefined;
  /** Default DEFAULT_LANE_WEIGHTS. */
  readonly weights?: LaneWeights | undefined;
}

export interface LaneSelection {
  /** Entries to claim per lane; sums to at most `claimCount` and never exceeds a backlog. */
  readonly claims: LaneCounts;
  /** Pass into the next cycle. */
  readonly state: LaneSelectionState;
}

/**
 * How many entries to claim from each lane this cycle. `critical` first, up to the
 * budget; what is left goes to high/normal/bulk one entry at a time by smooth weighted
 * round-robin among the lanes that still have backlog, so budget a lane cannot use flows
 * to the others and no backlogged lane starves.
 *
 * Cost: O(claimCount × 3); claim counts are batch sizes (hundreds), not backlogs.
 */
export function selectLanes(input: LaneSelectionInput): LaneSelection {
  const weights = input.weights ?? DEFAULT_LANE_WEIGHTS;
  checkWeights(weights);
  const credit = { ...(input.state ?? INITIAL_LANE_SELECTION_STATE).credit };
  const left = {} as Record<Priority, number>;
  const claims = {} as Record<Priority, number>;
  for (const lane of PRIORITIES) {
    left[lane] = wholeCount(input.backlog[lane]);
    claims[lane] = 0;
  }
  let budget = wholeCount(input.claimCount);

  claims.critical = Math.min(left.critical, budget);
  budget -= claims.critical;

  while (budget > 0) {
    const eligible = SHARED_LANES.filter((lane) => claims[lane] < left[lane]);
    if (eligible.length === 0) break;
    let total = 0;
    let chosen: SharedLane | undefined;
    for (const lane of eligible) {
      credit[lane] += weights[lane];
      total += weights[lane];
      // Ties go to the lane listed first, i.e. the higher priority.
      if (chosen === undefined || credit[lane] > credit[chosen]) chosen = lane;
    }
    if (chosen === undefined) break;
    credit[chosen] -= total;
    claims[chosen] += 1;
    budget -= 1;
  }
  return { claims, state: { credit } };
}

function wholeCount(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

function checkWeights(weights: LaneWeights): void {
  // A zero weight would starve its lane whenever another has backlog, which is the one
  // thing weights are here to prevent; refuse it instead of serving it silently.
  const problems = SHARED_LANES.filter(
    (lane) => !(Number.isFinite(weights[lane]) && weights[lane] > 0),
  ).map((lane) => ({ path: `/lane_weights/${lane}`, message: 'must be a positive number' }));
  if (problems.length > 0) throw new ConfigError(problems);
}
