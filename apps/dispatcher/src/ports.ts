// The narrow faces of the servers and registries the dispatcher works through: what it
// calls and nothing more, so its unit tests put fakes behind them (dispatcher.test.ts)
// and the real classes (packages/queue, packages/journal, ProviderRegistry) fit as they are.
import type { RoutingCache } from '@commstrat/config';
import type { Journal } from '@commstrat/journal';
import type { LaneQueue, ProviderRateLimiter } from '@commstrat/queue';
import type { ProviderRegistry } from './provider-registry.ts';

/** The lane operations the dispatcher uses: claims, markers, settling, housekeeping. */
export type LanePort = Pick<LaneQueue, 'claim' | 'claimLanes' | 'markSending' | 'settle' | 'promoteDue' | 'trimHandled' | 'reclaim'>;

/** The journal writes and reads the dispatcher makes. */
export type JournalPort = Pick<Journal, 'findMessages' | 'recordOutcomes' | 'moveToNextStep'>;

/** The routing snapshot of a message's tenant and strategy (RoutingCache). */
export type RoutingPort = Pick<RoutingCache, 'resolve'>;

/** The provider's shared rate (the token bucket in Redis). */
export type RatePort = Pick<ProviderRateLimiter, 'take'>;

/** Adapters, limits, circuits and health per provider (ProviderRegistry). */
export type ProviderPort = Pick<ProviderRegistry, 'handle' | 'available' | 'health' | 'beforeSend' | 'afterSend'>;
