// The narrow faces of the servers and registries the dispatcher works through: what it
// calls and nothing more, so its unit tests put fakes behind them (dispatcher.test.ts)
// and the real classes (packages/queue, packages/journal, ProviderRegistry) fit as they are.
import type { LaneWeights } from '@commstrat/core';
import type { RoutingCache } from '@commstrat/config';
import type { Journal, PreferenceStore } from '@commstrat/journal';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { LaneEntry, LaneReader, ProviderRateLimiter, SampledDepths } from '@commstrat/queue';
import type { ContactPolicyGate } from './contact-policy.ts';
import type { ProviderRegistry } from './provider-registry.ts';

/** The lane operations the dispatcher uses: claims, markers, settling, housekeeping. */
export type LanePort = Pick<LaneReader, 'claim' | 'claimLanes' | 'markSending' | 'settle' | 'promoteDue' | 'trimHandled' | 'reclaim'>;

/** The journal writes and reads the dispatcher makes. */
export type JournalPort = Pick<Journal, 'findMessages' | 'recordOutcomes' | 'moveToNextStep'>;

/** The routing snapshot of a message's tenant and strategy (RoutingCache). */
export type RoutingPort = Pick<RoutingCache, 'resolve'>;

/** The provider's shared rate (the token bucket in Redis). */
export type RatePort = Pick<ProviderRateLimiter, 'take'>;

/** Adapters, limits, circuits and health per provider (ProviderRegistry). */
export type ProviderPort = Pick<ProviderRegistry, 'handle' | 'available' | 'health' | 'beforeSend' | 'afterSend'>;

export interface DispatcherDeps {
  /** Lane operations that never wait (claims without BLOCK, acks, deferrals). */
  readonly lanes: LanePort;
  /** The process's shared sample of the lane depths, for weighted lane selection. */
  readonly depths: Pick<SampledDepths, 'get' | 'invalidate'>;
  /**
   * Blocking claims, each on its own connection: `shared` waits on the other lanes when
   * all are empty, `critical` is the critical lane's own loop, which waits on that lane
   * alone and so takes a critical message the moment it arrives, whatever the other
   * lanes are doing.
   */
  readonly waitingLanes: { readonly shared: Pick<LanePort, 'claim'>; readonly critical: Pick<LanePort, 'claim'> };
  /**
   * The critical lane's other Redis operations (markers, rate tokens, acks) on a
   * connection of their own, so they never queue behind the other lanes' large claims
   * and acks; their journal writes go through the journal's urgent writer likewise.
   */
  readonly urgent: { readonly lanes: LanePort; readonly rateLimiter: RatePort };
  readonly journal: JournalPort;
  readonly routing: RoutingPort;
  readonly providers: ProviderPort;
  readonly rateLimiter: RatePort;
  /** The stop list and frequency caps of each message's strategy. */
  readonly contactPolicy: Pick<ContactPolicyGate, 'admit'>;
  /** The recipients' opt-outs: one lookup per claimed batch. */
  readonly preferences: Pick<PreferenceStore, 'optedOut'>;
  readonly metrics: DispatcherMetrics;
  readonly logger: Logger;
  readonly consumer: string;
  /** Most entries claimed per cycle, over all lanes. */
  readonly claimCount: number;
  /** Most entries held claimed and unacknowledged. */
  readonly maxInFlight: number;
  /**
   * While critical messages flow (this replica claimed one within `ms`), the lower lanes
   * claim only while fewer than `inFlight` entries are held. `ms` 0: they never yield.
   */
  readonly criticalYield: { readonly ms: number; readonly inFlight: number };
  /** Longest wait for new entries when the lanes are empty, ms. */
  readonly blockMs: number;
  /** Entries pending on a consumer longer than this are reclaimed, ms. */
  readonly visibilityTimeoutMs: number;
  readonly laneWeights: LaneWeights;
  /** The time; injectable so tests can move it (send windows, expiry). */
  readonly clock?: () => number;
  /** Random numbers for weighted routes and jitter; injectable for tests. */
  readonly random?: () => number;
}

/** The Redis operations for these entries: the critical lane's own when all are critical. */
export function laneOps(deps: DispatcherDeps, entries: readonly LaneEntry[]): { readonly lanes: LanePort; readonly rateLimiter: RatePort } {
  return entries.length > 0 && entries.every((entry) => entry.lane === 'critical') ? deps.urgent : deps;
}
