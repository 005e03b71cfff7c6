import {
  CLOSED_CIRCUIT,
  NO_ERROR_STATS,
  canSend,
  errorRatio,
  providerHealthWeight,
  recordRequest,
  circuitStatus,
  recordFailure,
  recordSend,
  recordSuccess,
  type CircuitBreakerOptions,
  type CircuitState,
  type ErrorStats,
} from '@commstrat/core';
import { isDeepStrictEqual } from 'node:util';
import type { Provider } from '@commstrat/config';
import type { EgressPolicy } from '@commstrat/egress';
import type { DispatcherMetrics } from '@commstrat/observability';
import {
  DeclarativeHttpAdapter,
  HttpSmsAdapter,
  SmtpAdapter,
  WebhookAdapter,
  shippedDefinitions,
  type ProviderAdapter,
} from '@commstrat/providers';
import pLimit, { type LimitFunction } from 'p-limit';

/** One tenant's provider as this replica talks to it. */
export interface ProviderHandle {
  /** `<tenant>/<provider>`: providers are named per tenant. */
  readonly key: string;
  readonly config: Provider;
  readonly adapter: ProviderAdapter;
  /** Caps this replica's requests in flight to the provider. */
  readonly limit: LimitFunction;
  /**
   * The critical lane's own request slot, beyond `limit`: a critical batch never waits
   * for a bulk request to come back (under a backlog every `limit` slot is busy). The
   * provider's rate still applies to it; its concurrency is exceeded by one per replica.
   */
  readonly urgentLimit: LimitFunction;
}

/** Request slots (and kept-alive connections) each replica keeps for critical batches. */
const URGENT_SLOTS = 1;

const CIRCUIT_GAUGE = { closed: 0, 'half-open': 1, open: 2 } as const;

/**
 * Adapters, concurrency limits and circuit breakers per (tenant, provider), built from
 * the providers' PostgreSQL rows. The routing cache reloads the rows every few seconds
 * as new objects: a handle is rebuilt only when a row's content changed, and circuit
 * state is kept by provider key, apart from the handles, so neither a reload nor a
 * change forgets failures (a send in flight on an old handle still counts). Circuit
 * state is per replica: each replica learns a provider is down from its own failures.
 */
export class ProviderRegistry {
  private readonly handles = new Map<string, ProviderHandle>();
  private readonly circuits = new Map<string, CircuitState>();
  /** Recent requests and failures per provider key, for health-aware routing. */
  private readonly errors = new Map<string, ErrorStats>();
  /** When a provider's circuit last closed after being open: its share ramps up from then. */
  private readonly recoveredAt = new Map<string, number>();
  private readonly options: CircuitBreakerOptions;
  private readonly metrics: DispatcherMetrics;
  private readonly egress: EgressPolicy;

  /** `egress` checks every connection an adapter opens (the provider rows' endpoints are tenants' URLs). */
  constructor(metrics: DispatcherMetrics, options: CircuitBreakerOptions, egress: EgressPolicy) {
    this.metrics = metrics;
    this.options = options;
    this.egress = egress;
  }

  handle(tenantId: string, config: Provider): ProviderHandle {
    const key = `${tenantId}/${config.id}`;
    const existing = this.handles.get(key);
    if (existing?.config === config) return existing;
    if (existing !== undefined && isDeepStrictEqual(existing.config, config)) {
      // The same row reloaded: same adapter and limit, and the new object compared by
      // identity from now on.
      const same = { ...existing, config };
      this.handles.set(key, same);
      return same;
    }
    const handle: ProviderHandle = {
      key,
      config,
      adapter: buildAdapter(key, config, this.egress),
      limit: pLimit(config.concurrency),
      urgentLimit: pLimit(URGENT_SLOTS),
    };
    this.handles.set(key, handle);
    return handle;
  }

  /**
   * Closes every adapter's connections, once nothing is sent any more. A handle replaced
   * after a change is not closed: a send may still be using it, and its idle connections
   * end when the provider closes them.
   */
  close(): void {
    for (const handle of this.handles.values()) handle.adapter.close();
  }

  /** Enabled, and its circuit lets a request through now. */
  available(handle: ProviderHandle, now: number): boolean {
    return handle.config.enabled && canSend(this.circuit(handle), now);
  }

  beforeSend(handle: ProviderHandle, now: number): void {
    this.circuits.set(handle.key, recordSend(this.circuit(handle), now, this.options));
    this.publish(handle, now);
  }

  /** Only failures of the provider itself (timeouts, 5xx, 429) count against its circuit. */
  afterSend(handle: ProviderHandle, now: number, providerFailed: boolean): void {
    const circuit = this.circuit(handle);
    const next = providerFailed ? recordFailure(circuit, now, this.options) : recordSuccess(circuit, now);
    if (circuit.status !== 'closed' && next.status === 'closed') this.recoveredAt.set(handle.key, now);
    this.circuits.set(handle.key, next);
    this.errors.set(handle.key, recordRequest(this.errors.get(handle.key) ?? NO_ERROR_STATS, now, providerFailed));
    this.publish(handle, now);
  }

  /**
   * The provider's health weight in [0, 1] for routing (providerHealthWeight): from its
   * circuit, its recent error ratio on this replica, and how long since it came back.
   */
  health(handle: ProviderHandle, now: number): number {
    const recovered = this.recoveredAt.get(handle.key);
    return providerHealthWeight({
      circuit: circuitStatus(this.circuit(handle), now),
      errorRatio: errorRatio(this.errors.get(handle.key) ?? NO_ERROR_STATS, now),
      closedForMs: recovered === undefined ? undefined : now - recovered,
    });
  }

  /** Every provider's circuit as this replica sees it now, for the replica heartbeat. */
  circuitStates(now: number): { provider: string; state: ReturnType<typeof circuitStatus> }[] {
    return [...this.circuits.entries()]
      .map(([provider, circuit]) => ({ provider, state: circuitStatus(circuit, now) }))
      .sort((a, b) => a.provider.localeCompare(b.provider));
  }

  private circuit(handle: ProviderHandle): CircuitState {
    return this.circuits.get(handle.key) ?? CLOSED_CIRCUIT;
  }

  private publish(handle: ProviderHandle, now: number): void {
    this.metrics.circuit(handle.key, CIRCUIT_GAUGE[circuitStatus(this.circuit(handle), now)]);
  }
}

function buildAdapter(key: string, config: Provider, egress: EgressPolicy): ProviderAdapter {
  const credential = (name: string): string | undefined => {
    const value = config.credentials[name];
    return typeof value === 'string' ? value : undefined;
  };
  // A connection for each request slot, the critical lane's own included.
  const concurrency = config.concurrency + URGENT_SLOTS;
  switch (config.kind) {
    case 'http-sms':
      return new HttpSmsAdapter({
        id: key,
        baseUrl: config.endpoint,
        token: credential('token') ?? '',
        egress,
        timeoutMs: config.timeoutMs,
        concurrency,
      });
    case 'smtp':
      // The row's endpoint is the SMTP server's URL; credentials hold the sender and
      // the login (checked when the row is saved: packages/config checkProvider).
      return new SmtpAdapter({
        id: key,
        url: config.endpoint,
        from: credential('from') ?? '',
        user: credential('user'),
        password: credential('password'),
        egress,
        timeoutMs: config.timeoutMs,
        concurrency,
      });
    case 'webhook':
      // The endpoint is the tenant's URL; credentials.secret signs every delivery.
      return new WebhookAdapter({
        id: key,
        url: config.endpoint,
        secret: credential('secret') ?? '',
        egress,
        timeoutMs: config.timeoutMs,
        concurrency,
      });
    default: {
      // Any other kind names a provider definition: one of the tenant's stored ones at the
      // version the row is pinned to (it comes with the row, so a re-pin is a changed
      // row and rebuilds the handle), or else a shipped one (packages/providers/definitions).
      // A new API shape is data, not an adapter class.
      const definition = config.storedDefinition?.definition ?? shippedDefinitions().get(config.kind);
      if (definition === undefined) throw new Error(`provider ${key}: no adapter or definition of kind "${config.kind}"`);
      return new DeclarativeHttpAdapter({
        id: key,
        definition,
        baseUrl: config.endpoint,
        credentials: config.credentials,
        egress,
        timeoutMs: config.timeoutMs,
        concurrency,
      });
    }
  }
}
