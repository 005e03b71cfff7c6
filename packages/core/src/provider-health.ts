/**
 * How much traffic a provider should get given how it has been doing, as pure
 * functions over plain state: the dispatcher keeps one ErrorStats per provider and
 * passes the resulting weights to chooseProvider (ProviderChoiceContext.health).
 * All times are ms since the epoch.
 */
import type { CircuitStatus } from './circuit-breaker.ts';

export interface ProviderHealthOptions {
  /** Recent error ratio at and above which a provider gets weight 0 (skipped while another can take it). Default 0.5. */
  readonly maxErrorRatio?: number;
  /** Fewer recent requests than this say nothing: the error ratio counts as 0. Default 10. */
  readonly minRequests?: number;
  /** Half-life of the request and error counts, ms: how fast old outcomes stop counting. Default 60 000. */
  readonly halfLifeMs?: number;
  /** After its circuit closes again, how long a provider takes to get its full share back, ms. Default 60 000. */
  readonly rampMs?: number;
  /** The share a provider gets right after its circuit closed again, in (0, 1]. Default 0.1. */
  readonly rampStartShare?: number;
}

export const DEFAULT_PROVIDER_HEALTH_OPTIONS: Required<ProviderHealthOptions> = Object.freeze({
  maxErrorRatio: 0.5,
  minRequests: 10,
  halfLifeMs: 60_000,
  rampMs: 60_000,
  rampStartShare: 0.1,
});

/** Exponentially decayed counts of a provider's recent requests and of those that failed. */
export interface ErrorStats {
  readonly requests: number;
  readonly errors: number;
  /** When the counts were last decayed. */
  readonly at: number;
}

export const NO_ERROR_STATS: ErrorStats = Object.freeze({ requests: 0, errors: 0, at: 0 });

/** The counts after one more request, `failed` or not. */
export function recordRequest(
  stats: ErrorStats,
  now: number,
  failed: boolean,
  options: ProviderHealthOptions = {},
): ErrorStats {
  const decayed = decay(stats, now, options);
  return { requests: decayed.requests + 1, errors: decayed.errors + (failed ? 1 : 0), at: now };
}

/** The recent share of failed requests, in [0, 1]; 0 while there are too few to tell. */
export function errorRatio(stats: ErrorStats, now: number, options: ProviderHealthOptions = {}): number {
  const { requests, errors } = decay(stats, now, options);
  const minRequests = options.minRequests ?? DEFAULT_PROVIDER_HEALTH_OPTIONS.minRequests;
  return requests < minRequests ? 0 : errors / requests;
}

export interface ProviderHealthInput {
  readonly circuit: CircuitStatus;
  readonly errorRatio: number;
  /** How long ago the circuit closed after having been open; absent: it never opened (or long ago). */
  readonly closedForMs?: number | undefined;
}

/**
 * The provider's health weight in [0, 1]. Open circuit: 0. Otherwise falls linearly
 * from 1 at no errors to 0 at `maxErrorRatio`, and for `rampMs` after the circuit
 * closed again grows from `rampStartShare` to 1, so a provider that just came back gets
 * a small share first instead of the whole load it failed under.
 */
export function providerHealthWeight(input: ProviderHealthInput, options: ProviderHealthOptions = {}): number {
  const o = { ...DEFAULT_PROVIDER_HEALTH_OPTIONS, ...options };
  if (input.circuit === 'open') return 0;
  const byErrors = Math.max(0, 1 - input.errorRatio / o.maxErrorRatio);
  const since = input.closedForMs;
  const byRecovery =
    since === undefined || since >= o.rampMs ? 1 : o.rampStartShare + ((1 - o.rampStartShare) * Math.max(0, since)) / o.rampMs;
  return byErrors * byRecovery;
}

function decay(stats: ErrorStats, now: number, options: ProviderHealthOptions): ErrorStats {
  if (now <= stats.at) return stats;
  const halfLifeMs = options.halfLifeMs ?? DEFAULT_PROVIDER_HEALTH_OPTIONS.halfLifeMs;
  const factor = 0.5 ** ((now - stats.at) / halfLifeMs);
  return { requests: stats.requests * factor, errors: stats.errors * factor, at: now };
}

// --- Delivery speed: from delivery receipts (ingest), shared by every replica (Redis) ---
// A provider that takes messages but delivers them late is not failing any request, so
// neither its circuit nor its error ratio sees it. Its receipts do: ingest counts, per
// provider and time bucket, the delivered receipts and those that came later than
// `lateAfterMs` after the message was sent; a dispatcher sums the buckets of the window
// and turns the late share into a weight that multiplies the provider's health weight.

export interface DeliverySpeedOptions {
  /** How late a delivery counts as late: its receipt this long after the send or later, ms. Default 300 000 (5 min). */
  readonly lateAfterMs?: number;
  /** The window the late share is taken over, ms. Default 900 000 (15 min). */
  readonly windowMs?: number;
  /** Late share at and below which a provider keeps its full weight. Default 0.15. */
  readonly maxLateShare?: number;
  /** Fewer delivered receipts in the window say nothing: full weight. Default 20. */
  readonly minReceipts?: number;
  /**
   * The weight a provider late for twice `maxLateShare` (or more) keeps, in (0, 1]: not
   * 0, so the trickle it still gets shows when it delivers on time again. Default 0.1.
   */
  readonly minWeight?: number;
  /** How long its weight takes to climb from `minWeight` back to 1 once its late share is low again, ms. Default 600 000 (10 min). */
  readonly recoveryMs?: number;
}

export const DEFAULT_DELIVERY_SPEED_OPTIONS: Required<DeliverySpeedOptions> = Object.freeze({
  lateAfterMs: 300_000,
  windowMs: 900_000,
  maxLateShare: 0.15,
  minReceipts: 20,
  minWeight: 0.1,
  recoveryMs: 600_000,
});

/** Delivered receipts and, of them, the late ones. */
export interface DeliveryCounts {
  readonly delivered: number;
  readonly late: number;
}

/**
 * The length of the buckets receipts are counted in, ms: a thirtieth of the window (at
 * least a second), so the window's edge is exact to a thirtieth of it and a provider
 * costs at most about 60 counters in Redis.
 */
export function deliveryBucketMs(windowMs: number): number {
  return Math.max(1000, Math.round(windowMs / 30));
}

/** Whether a delivery sent at `sentAt` and reported at `deliveredAt` (ms) was late. */
export function isLateDelivery(sentAt: number, deliveredAt: number, options: DeliverySpeedOptions = {}): boolean {
  return deliveredAt - sentAt >= (options.lateAfterMs ?? DEFAULT_DELIVERY_SPEED_OPTIONS.lateAfterMs);
}

/** The counts of the buckets (by their start, ms) that lie in the window ending at `now`. */
export function countsInWindow(buckets: ReadonlyMap<number, DeliveryCounts>, now: number, windowMs: number): DeliveryCounts {
  let delivered = 0;
  let late = 0;
  const from = now - windowMs;
  for (const [start, counts] of buckets) {
    // A bucket counts while any part of it is in the window.
    if (start + deliveryBucketMs(windowMs) <= from || start > now) continue;
    delivered += counts.delivered;
    late += counts.late;
  }
  return { delivered, late };
}

/** The late share of the window, or undefined while there are too few receipts to tell. */
export function lateShare(counts: DeliveryCounts, options: DeliverySpeedOptions = {}): number | undefined {
  const minReceipts = options.minReceipts ?? DEFAULT_DELIVERY_SPEED_OPTIONS.minReceipts;
  return counts.delivered < minReceipts || counts.delivered === 0 ? undefined : Math.min(1, counts.late / counts.delivered);
}

/**
 * The weight a late share calls for: 1 up to `maxLateShare`, falling linearly to
 * `minWeight` at twice it, `minWeight` beyond. Undefined share (too few receipts): 1.
 */
export function lateDeliveryWeight(share: number | undefined, options: DeliverySpeedOptions = {}): number {
  const o = { ...DEFAULT_DELIVERY_SPEED_OPTIONS, ...options };
  if (share === undefined || share <= o.maxLateShare) return 1;
  const over = (share - o.maxLateShare) / Math.max(o.maxLateShare, Number.EPSILON);
  return over >= 1 ? o.minWeight : 1 - (1 - o.minWeight) * over;
}

/** A provider's delivery weight and when it was set (ms): what replicas share to ramp it back up. */
export interface DeliveryWeightState {
  readonly weight: number;
  readonly at: number;
}

/**
 * The provider's next delivery weight: it falls to what the late share calls for at
 * once, and climbs back at most (1 − minWeight) per `recoveryMs`, so a provider that
 * was slow gets its traffic back gradually, not all at once. `previous` undefined: the
 * weight the share calls for.
 */
export function nextDeliveryWeight(
  previous: DeliveryWeightState | undefined,
  counts: DeliveryCounts,
  now: number,
  options: DeliverySpeedOptions = {},
): DeliveryWeightState {
  const o = { ...DEFAULT_DELIVERY_SPEED_OPTIONS, ...options };
  const target = lateDeliveryWeight(lateShare(counts, o), o);
  if (previous === undefined || target <= previous.weight) return { weight: target, at: now };
  const elapsed = Math.max(0, now - previous.at);
  const climbed = previous.weight + ((1 - o.minWeight) * elapsed) / o.recoveryMs;
  return { weight: Math.min(target, climbed), at: now };
}
