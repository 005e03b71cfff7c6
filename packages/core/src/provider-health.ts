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
