import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type LabelValues,
} from 'prom-client';

/** A registry for one process, with Node's default metrics and a `service` label. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'commstrat_' });
  return registry;
}

/** HTTP request durations by route and status; every tier with an HTTP API has it. */
export function httpMetrics(registry: Registry) {
  return {
    requestDuration: new Histogram({
      name: 'commstrat_http_request_duration_seconds',
      help: 'HTTP request duration by method, route and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
export type HttpMetrics = ReturnType<typeof httpMetrics>;

/** How the tiers label their series. */
export interface MetricsOptions {
  /**
   * Label series by tenant: `tenant` on the ingest counters, and the tenant part of the
   * dispatcher's `provider` label (`acme/sms-main`). Default true; switch it off where
   * tenants are many, so the series count does not grow with them.
   */
  readonly tenantLabel?: boolean;
}

// Labels are bounded by construction: source, priority, lane, reason (an error code),
// outcome and provider (the configured ids). Message ids, recipients and request ids are
// never labels; they belong in the journal and the logs.

/** Metrics of the ingest tier. */
export function ingestMetrics(registry: Registry, options: MetricsOptions = {}) {
  const tenantLabel = options.tenantLabel !== false;
  // The type keeps `tenant` so callers pass it either way; without the label it is dropped.
  const withTenant = <L extends string>(names: readonly L[]): readonly L[] =>
    tenantLabel ? names : names.filter((name) => name !== 'tenant');
  const dropTenant = ({ tenant: _dropped, ...rest }: LabelValues<string>) => rest;
  const byTenant = <M extends Counter<string>>(metric: M) =>
    tenantLabel ? metric : relabel(metric, dropTenant);
  return {
    ...httpMetrics(registry),
    messagesAccepted: byTenant(
      new Counter({
        name: 'commstrat_messages_accepted_total',
        help: 'Messages accepted (journaled and enqueued), by source, tenant and priority.',
        labelNames: withTenant(['source', 'tenant', 'priority'] as const),
        registers: [registry],
      }),
    ),
    messagesRejected: byTenant(
      new Counter({
        name: 'commstrat_messages_rejected_total',
        help: 'Messages rejected, by source, tenant and reason (error code).',
        labelNames: withTenant(['source', 'tenant', 'reason'] as const),
        registers: [registry],
      }),
    ),
    smsParts: new Counter({
      name: 'commstrat_sms_parts_total',
      help: 'SMS parts (segments) of accepted messages, by encoding (gsm-7, ucs-2): what providers will bill.',
      labelNames: ['encoding'] as const,
      registers: [registry],
    }),
    kafkaConsumerLag: new Gauge({
      name: 'commstrat_kafka_consumer_lag',
      help: 'Records of an assigned partition not yet accepted: high watermark minus next offset to consume.',
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
    }),
    kafkaRecordsRejected: new Counter({
      name: 'commstrat_kafka_records_rejected_total',
      help: 'Records written to the Kafka rejected topic (whole records and single bad batch items), by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    kafkaRetries: new Counter({
      name: 'commstrat_kafka_retries_total',
      help: 'Kafka records retried because a dependency failed (not committed, not rejected), by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    kafkaPaused: new Gauge({
      name: 'commstrat_kafka_paused',
      help: '1 while Kafka intake is paused because the lanes are over their cap, else 0.',
      registers: [registry],
    }),
    kafkaBackpressurePauses: new Counter({
      name: 'commstrat_kafka_backpressure_pauses_total',
      help: 'Times Kafka intake paused its partitions because the lanes were over their cap.',
      registers: [registry],
    }),
    receipts: new Counter({
      name: 'commstrat_receipts_total',
      help: 'Delivery receipts received, by provider (<tenant>/<provider>) and outcome: applied, duplicate, late, parked (no message known yet: tried again), unknown (still none after 10 min), or refused (bad signature, stale, replayed); ignored: an intermediate report of a provider (e.g. Twilio sent), mapped by its definition.',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
  };
}
export type IngestMetrics = ReturnType<typeof ingestMetrics>;

/** Metrics of the dispatcher tier. */
export function dispatcherMetrics(registry: Registry, options: MetricsOptions = {}) {
  // Without the tenant label, `acme/sms-main` is counted as `sms-main`.
  const providerOnly = (labels: LabelValues<string>) => {
    const provider = labels['provider'];
    return typeof provider === 'string'
      ? { ...labels, provider: provider.slice(provider.indexOf('/') + 1) }
      : labels;
  };
  const bounded = <M extends Counter<string> | Gauge<string> | Histogram<string>>(metric: M) =>
    options.tenantLabel === false ? relabel(metric, providerOnly) : metric;
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    bounded(new Counter({ name, help, labelNames, registers: [registry] }));
  return {
    messagesDispatched: counter(
      'commstrat_messages_dispatched_total',
      'Messages handed to providers, by provider and outcome (accepted, rejected, error).',
      ['provider', 'outcome'],
    ),
    batchSize: bounded(
      new Histogram({
        name: 'commstrat_dispatch_batch_size',
        help: 'Messages per provider request.',
        labelNames: ['provider'] as const,
        buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
        registers: [registry],
      }),
    ),
    providerRequestDuration: bounded(
      new Histogram({
        name: 'commstrat_provider_request_duration_seconds',
        help: 'Duration of provider requests, by provider and outcome.',
        labelNames: ['provider', 'outcome'] as const,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      }),
    ),
    throttled: counter(
      'commstrat_dispatch_throttled_total',
      'Messages held back because their provider had no rate tokens left.',
      ['provider'],
    ),
    deferred: counter(
      'commstrat_dispatch_deferred_total',
      'Messages put back in the delayed set, by reason (window, retry, no_provider, frequency_cap).',
      ['reason'],
    ),
    retries: counter(
      'commstrat_dispatch_retries_total',
      'Messages scheduled for another attempt.',
      ['provider'],
    ),
    cascadeMoves: counter(
      'commstrat_cascade_moves_total',
      'Messages a dispatcher moved on to their next strategy step, by reason (failure, no_receipt).',
      ['reason'],
    ),
    failovers: counter(
      'commstrat_dispatch_failovers_total',
      'Messages routed past an unavailable provider to the next of their route.',
      ['provider'],
    ),
    contactPolicy: counter(
      'commstrat_contact_policy_total',
      'Messages the contact policy held back, by outcome (deferred, dropped, expired: over a frequency cap; opted_out: on the stop list).',
      ['outcome'],
    ),
    expired: counter(
      'commstrat_messages_expired_total',
      'Messages that reached their expiry unsent.',
      [],
    ),
    deadLettered: counter(
      'commstrat_messages_dead_lettered_total',
      'Messages that exhausted their attempts and went to the dead-letter stream.',
      ['provider'],
    ),
    circuitState: bounded(
      new Gauge({
        name: 'commstrat_provider_circuit_state',
        help: 'Circuit breaker per provider on this replica: 0 closed, 1 half-open, 2 open.',
        labelNames: ['provider'] as const,
        registers: [registry],
      }),
    ),
    acceptToProvider: new Histogram({
      name: 'commstrat_accept_to_provider_seconds',
      help: 'Time from acceptance to the provider answering the request that carried the message, by lane.',
      labelNames: ['lane'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
      registers: [registry],
    }),
    reclaimed: counter(
      'commstrat_dispatch_reclaimed_total',
      'Entries taken over from a replica that held them past the visibility timeout.',
      [],
    ),
    inFlight: new Gauge({
      name: 'commstrat_dispatch_in_flight',
      help: 'Entries claimed by this replica and not yet acknowledged.',
      registers: [registry],
    }),
  };
}
export type DispatcherMetrics = ReturnType<typeof dispatcherMetrics>;

/**
 * The routing configuration a replica serves: how old its oldest snapshot is (sampled
 * at scrape time; it grows while PostgreSQL cannot be read) and how many reads failed.
 */
export function configCacheMetrics(registry: Registry, oldestAgeSeconds: () => number) {
  new Gauge({
    name: 'commstrat_config_age_seconds',
    help: 'Age of the oldest routing configuration snapshot this replica serves (since it was read from PostgreSQL).',
    registers: [registry],
    collect() {
      this.set(oldestAgeSeconds());
    },
  });
  return {
    refreshFailures: new Counter({
      name: 'commstrat_config_refresh_failures_total',
      help: 'Reads of the routing configuration from PostgreSQL that failed; the last snapshot kept serving.',
      registers: [registry],
    }),
  };
}

/** Lane lag (age of the oldest unacknowledged entry) and pending count, sampled at scrape time. */
export function laneLagGauges(
  registry: Registry,
  sample: () => Promise<{ ageMs: Record<string, number>; pending: Record<string, number> }>,
): void {
  let last: Promise<{ ageMs: Record<string, number>; pending: Record<string, number> }> | undefined;
  // Both gauges are collected in one scrape; share one sample between them.
  const once = () => (last ??= sample().finally(() => setTimeout(() => (last = undefined), 100)));
  new Gauge({
    name: 'commstrat_lane_lag_seconds',
    help: 'Age of the oldest entry not yet acknowledged, per lane.',
    labelNames: ['lane'] as const,
    registers: [registry],
    async collect() {
      const { ageMs } = await once().catch(() => ({ ageMs: {} }));
      for (const [lane, age] of Object.entries(ageMs)) this.set({ lane }, age / 1000);
    },
  });
  new Gauge({
    name: 'commstrat_lane_pending',
    help: 'Entries claimed by a dispatcher and not yet acknowledged, per lane.',
    labelNames: ['lane'] as const,
    registers: [registry],
    async collect() {
      const { pending } = await once().catch(() => ({ pending: {} }));
      for (const [lane, count] of Object.entries(pending)) this.set({ lane }, count);
    },
  });
}

/** Lane depth (entries in each lane stream), sampled at scrape time. */
export function laneDepthGauge(registry: Registry, sample: () => Promise<Record<string, number>>) {
  return new Gauge({
    name: 'commstrat_lane_depth',
    help: 'Messages in each priority lane not yet handled: waiting to be claimed plus claimed and not acknowledged.',
    labelNames: ['lane'] as const,
    registers: [registry],
    async collect() {
      const depths = await sample().catch(() => ({}));
      for (const [lane, depth] of Object.entries(depths)) this.set({ lane }, depth);
    },
  });
}

type Recorder = (this: unknown, ...args: unknown[]) => unknown;

/** Rewrites the labels of every inc/dec/set/observe call of `metric` (in place). */
function relabel<M extends object>(
  metric: M,
  rewrite: (labels: LabelValues<string>) => LabelValues<string>,
): M {
  const methods = metric as unknown as Record<string, Recorder | undefined>;
  for (const name of ['inc', 'dec', 'set', 'observe']) {
    const original = methods[name];
    if (typeof original !== 'function') continue;
    methods[name] = function (this: unknown, ...args: unknown[]) {
      const [first, ...rest] = args;
      const labelled = typeof first === 'object' && first !== null;
      return labelled
        ? original.call(this, rewrite(first as LabelValues<string>), ...rest)
        : original.apply(this, args);
    };
  }
  return metric;
}

// --- Status callbacks (apps/dispatcher/src/callback-worker.ts) -------------------------
// No tenant label: a tenant's callbacks are looked up in MongoDB `callbacks`.

/** Metrics of the status-callback worker of a dispatcher replica. */
export function callbackMetrics(registry: Registry, pendingCount: () => Promise<number>) {
  return {
    attempts: new Counter({
      name: 'commstrat_callback_attempts_total',
      help: 'Status callback attempts by outcome: delivered (2xx), failed (tried again later), abandoned (no attempt left).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'commstrat_callback_duration_seconds',
      help: 'Duration of status callback POSTs, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    relayed: new Counter({
      name: 'commstrat_callbacks_relayed_total',
      help: 'Status changes queued as callbacks from the journal outbox.',
      registers: [registry],
    }),
    pending: new Gauge({
      name: 'commstrat_callbacks_pending',
      help: 'Status callbacks still to deliver, all replicas together (the queue depth).',
      registers: [registry],
      async collect() {
        const count = await pendingCount().catch(() => undefined);
        if (count !== undefined) this.set(count);
      },
    }),
  };
}
export type CallbackMetrics = ReturnType<typeof callbackMetrics>;
