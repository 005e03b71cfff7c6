import { hostname } from 'node:os';
import { parseAppConfig, tierConfigSchema, tierEnvMap, type TierConfig } from '@commstrat/core';
import { egressAllowFromConfig, type EgressAllowList } from '@commstrat/egress';

/** `port` (default 8081) serves /metrics and /health. */
export interface DispatcherConfig extends TierConfig {
  /** This replica's name in the consumer group. Default `<hostname>-<pid>`. */
  consumer: string;
  /** Most entries claimed per cycle, across lanes. Default 1 000. */
  claimCount: number;
  /** Most entries this replica holds claimed and unacknowledged. Default 5 000. */
  maxInFlight: number;
  /** For this long after a critical claim the lower lanes yield (0: never), ms. Default 1 000. */
  criticalYieldMs: number;
  /** Most entries the lower lanes hold claimed while they yield. Default 200. */
  criticalYieldInFlight: number;
  /** How long a claim waits on empty lanes, ms. Default 200. */
  blockMs: number;
  /** An entry pending on a consumer this long is taken over by another replica, ms. Default 30 000. */
  visibilityTimeoutMs: number;
  /** Shares of the shared lanes once `critical` is served (weighted round-robin). Defaults 8, 4, 1. */
  weightHigh: number;
  weightNormal: number;
  weightBulk: number;
  /** Consecutive failed requests that open a provider's circuit. Default 5. */
  circuitFailureThreshold: number;
  /** How long an open circuit stays open before one probe, ms. Default 30 000. */
  circuitOpenMs: number;
  /**
   * Key of the hash that names frequency-cap windows in Redis; the same on every
   * replica. Unset: a built-in value, which hides addresses from a casual look only.
   */
  contactHashSecret?: string;
  /** How often the replica publishes its circuits and config version to Redis (`commstrat inspect`), ms. Default 5 000. */
  heartbeatIntervalMs: number;
  /** Status callbacks (callback-worker.ts): sent by this replica. Default true. */
  callbacksEnabled: boolean;
  /** Time limit of one callback POST, ms. Default 5 000. */
  callbackTimeoutMs: number;
  /** Attempts per callback, the first included, before it is abandoned. Default 12. */
  callbackMaxAttempts: number;
  /** Delay after the first failed attempt, doubling after each, ms. Default 5 000. */
  callbackBaseDelayMs: number;
  /** Longest delay between two attempts, ms. Default 3 600 000 (1 h). */
  callbackMaxDelayMs: number;
  /** A callback not delivered this long after its status change is abandoned, ms. Default 86 400 000 (24 h). */
  callbackMaxAgeMs: number;
  /** Callback POSTs in flight at once on this replica. Default 64. */
  callbackConcurrency: number;
  /** Callback POSTs in flight at once to one tenant on this replica. Default 4. */
  callbackTenantConcurrency: number;
  /** Callbacks a second to one tenant, all replicas together. Default 50. */
  callbackTenantRate: number;
  /** How often the callback relay and an idle callback sender look for work, ms. Default 200. */
  callbackPollMs: number;
  /** The window a provider's late-delivery share is taken over, ms; the same as ingest's. Default 900 000 (15 min). */
  deliveryWindowMs: number;
  /** Late share at and below which a provider keeps its full routing weight. Default 0.15. */
  deliveryMaxLateShare: number;
  /** Fewer delivered receipts in the window say nothing (full weight). Default 20. */
  deliveryMinReceipts: number;
  /** The weight a provider late for twice the max share or more keeps, in (0, 1]. Default 0.1. */
  deliveryMinWeight: number;
  /** How long a provider's delivery weight takes to climb from its minimum back to 1, ms. Default 600 000 (10 min). */
  deliveryRecoveryMs: number;
  /** How often the shared delivery counts are read, ms. Default 5 000. */
  deliveryRefreshMs: number;
  /** `egressAllow` as read once at start-up: what the egress policy lets through besides public addresses. */
  egress: EgressAllowList;
}

const positive = (fallback: number) => ({ type: 'integer', minimum: 1, default: fallback });

const tier = tierConfigSchema(8081);
const schema = {
  type: 'object',
  required: tier.required,
  properties: {
    ...tier.properties,
    consumer: { type: 'string', minLength: 1, default: `${hostname()}-${process.pid}` },
    claimCount: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
    maxInFlight: positive(5000),
    criticalYieldMs: { type: 'integer', minimum: 0, maximum: 600000, default: 1000 },
    criticalYieldInFlight: positive(200),
    blockMs: { type: 'integer', minimum: 1, maximum: 60000, default: 200 },
    visibilityTimeoutMs: { type: 'integer', minimum: 100, default: 30000 },
    weightHigh: positive(8),
    weightNormal: positive(4),
    weightBulk: positive(1),
    circuitFailureThreshold: positive(5),
    circuitOpenMs: { type: 'integer', minimum: 10, default: 30000 },
    contactHashSecret: { type: 'string', minLength: 16 },
    heartbeatIntervalMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
    callbacksEnabled: { type: 'boolean', default: true },
    callbackTimeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
    callbackMaxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 12 },
    callbackBaseDelayMs: { type: 'integer', minimum: 10, default: 5000 },
    callbackMaxDelayMs: { type: 'integer', minimum: 10, default: 3600000 },
    callbackMaxAgeMs: { type: 'integer', minimum: 1000, default: 86400000 },
    callbackConcurrency: { type: 'integer', minimum: 1, maximum: 1000, default: 64 },
    callbackTenantConcurrency: { type: 'integer', minimum: 1, maximum: 100, default: 4 },
    callbackTenantRate: { type: 'number', exclusiveMinimum: 0, default: 50 },
    callbackPollMs: { type: 'integer', minimum: 10, maximum: 10000, default: 200 },
    deliveryWindowMs: { type: 'integer', minimum: 1000, maximum: 86400000, default: 900000 },
    deliveryMaxLateShare: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, default: 0.15 },
    deliveryMinReceipts: { type: 'integer', minimum: 1, default: 20 },
    deliveryMinWeight: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1 },
    deliveryRecoveryMs: { type: 'integer', minimum: 1, default: 600000 },
    deliveryRefreshMs: { type: 'integer', minimum: 50, maximum: 600000, default: 5000 },
  },
};

/** Reads the dispatcher configuration from the environment, once, at start-up. */
export function loadDispatcherConfig(
  env: Readonly<Record<string, string | undefined>>,
): Readonly<DispatcherConfig> {
  const config = parseAppConfig<Omit<DispatcherConfig, 'egress'>>(
    schema,
    {
      ...tierEnvMap('DISPATCHER'),
      consumer: 'DISPATCHER_CONSUMER',
      claimCount: 'DISPATCHER_CLAIM_COUNT',
      maxInFlight: 'DISPATCHER_MAX_IN_FLIGHT',
      criticalYieldMs: 'DISPATCHER_CRITICAL_YIELD_MS',
      criticalYieldInFlight: 'DISPATCHER_CRITICAL_YIELD_IN_FLIGHT',
      blockMs: 'DISPATCHER_BLOCK_MS',
      visibilityTimeoutMs: 'DISPATCHER_VISIBILITY_TIMEOUT_MS',
      weightHigh: 'DISPATCHER_WEIGHT_HIGH',
      weightNormal: 'DISPATCHER_WEIGHT_NORMAL',
      weightBulk: 'DISPATCHER_WEIGHT_BULK',
      circuitFailureThreshold: 'DISPATCHER_CIRCUIT_FAILURE_THRESHOLD',
      circuitOpenMs: 'DISPATCHER_CIRCUIT_OPEN_MS',
      contactHashSecret: 'COMMSTRAT_CONTACT_HASH_SECRET',
      heartbeatIntervalMs: 'DISPATCHER_HEARTBEAT_INTERVAL_MS',
      callbacksEnabled: 'DISPATCHER_CALLBACKS_ENABLED',
      callbackTimeoutMs: 'DISPATCHER_CALLBACK_TIMEOUT_MS',
      callbackMaxAttempts: 'DISPATCHER_CALLBACK_MAX_ATTEMPTS',
      callbackBaseDelayMs: 'DISPATCHER_CALLBACK_BASE_DELAY_MS',
      callbackMaxDelayMs: 'DISPATCHER_CALLBACK_MAX_DELAY_MS',
      callbackMaxAgeMs: 'DISPATCHER_CALLBACK_MAX_AGE_MS',
      callbackConcurrency: 'DISPATCHER_CALLBACK_CONCURRENCY',
      callbackTenantConcurrency: 'DISPATCHER_CALLBACK_TENANT_CONCURRENCY',
      callbackTenantRate: 'DISPATCHER_CALLBACK_TENANT_RATE',
      callbackPollMs: 'DISPATCHER_CALLBACK_POLL_MS',
      deliveryWindowMs: 'COMMSTRAT_DELIVERY_WINDOW_MS',
      deliveryMaxLateShare: 'DISPATCHER_DELIVERY_MAX_LATE_SHARE',
      deliveryMinReceipts: 'DISPATCHER_DELIVERY_MIN_RECEIPTS',
      deliveryMinWeight: 'DISPATCHER_DELIVERY_MIN_WEIGHT',
      deliveryRecoveryMs: 'DISPATCHER_DELIVERY_RECOVERY_MS',
      deliveryRefreshMs: 'DISPATCHER_DELIVERY_REFRESH_MS',
    },
    env,
  );
  return Object.freeze({ ...config, egress: egressAllowFromConfig(config.egressAllow) });
}
