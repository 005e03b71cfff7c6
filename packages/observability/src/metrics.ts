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
function httpCounters(registry: Registry) {
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

/** The prom-client metrics of the ingest tier (what IngestMetrics writes to). */
function ingestCounters(registry: Registry, options: MetricsOptions = {}) {
  const tenantLabel = options.tenantLabel !== false;
  // The type keeps `tenant` so callers pass it either way; without the label it is dropped.
  const withTenant = <L extends string>(names: readonly L[]): readonly L[] =>
    tenantLabel ? names : names.filter((name) => name !== 'tenant');
  const dropTenant = ({ tenant: _dropped, ...rest }: LabelValues<string>) => rest;
  const byTenant = <M extends Counter<string>>(metric: M) =>
    tenantLabel ? metric : relabel(metric, dropTenant);
  return {
    ...httpCounters(registry),
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
    inbound: new Counter({
      name: 'commstrat_inbound_messages_total',
      help: 'Inbound messages (recipients writing back), by provider (<tenant>/<provider>) and outcome: received, repeated (a provider retry of one journaled before), or refused (bad signature, stale, replayed).',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    inboundKeywords: new Counter({
      name: 'commstrat_inbound_keywords_total',
      help: 'Inbound keywords carried out, by action: opted_out (STOP), opted_in (START), replied (HELP answered).',
      labelNames: ['action'] as const,
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

/** The prom-client metrics of the dispatcher tier (what DispatcherMetrics writes to). */
function dispatcherCounters(registry: Registry, options: MetricsOptions = {}) {
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
      'Messages the contact policy held back, by outcome (deferred, dropped, expired: over a frequency cap; opted_out: on the stop list; preference: the recipient opted out), a suppressed cascade step counted as it moves on.',
      ['outcome'],
    ),
    preferenceLookups: new Histogram({
      name: 'commstrat_preference_lookup_seconds',
      help: 'Duration of the one preference lookup of a claimed batch (MongoDB `preferences`).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    preferenceAddresses: new Counter({
      name: 'commstrat_preference_lookup_addresses_total',
      help: 'Recipient addresses looked up in the preference store.',
      registers: [registry],
    }),
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
    lateDeliveryShare: bounded(
      new Gauge({
        name: 'commstrat_provider_late_delivery_share',
        help: 'Share of a provider\'s delivered receipts of the window (COMMSTRAT_DELIVERY_WINDOW_MS) that came later than COMMSTRAT_DELIVERY_LATE_AFTER_MS after the send; absent while too few receipts came. The same on every replica (counted in Redis).',
        labelNames: ['provider'] as const,
        registers: [registry],
      }),
    ),
    deliveryWeight: bounded(
      new Gauge({
        name: 'commstrat_provider_delivery_weight',
        help: 'The routing weight a provider keeps for how fast it delivers, in (0, 1]: 1 on time, lower while it delivers late, climbing back once it is on time again.',
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
    criticalYield: new Gauge({
      name: 'commstrat_dispatch_critical_yield',
      help: 'Whether the lower lanes of this replica hold back for critical traffic (1) or not (0).',
      registers: [registry],
    }),
  };
}

/**
 * The routing configuration a replica serves: how old its oldest snapshot is (sampled
 * at scrape time; it grows while PostgreSQL cannot be read) and how many reads failed.
 */
export function configCacheMetrics(registry: Registry, oldestAgeSeconds: () => number): ConfigCacheMetrics {
  new Gauge({
    name: 'commstrat_config_age_seconds',
    help: 'Age of the oldest routing configuration snapshot this replica serves (since it was read from PostgreSQL).',
    registers: [registry],
    collect() {
      this.set(oldestAgeSeconds());
    },
  });
  const refreshFailures = new Counter({
    name: 'commstrat_config_refresh_failures_total',
    help: 'Reads of the routing configuration from PostgreSQL that failed; the last snapshot kept serving.',
    registers: [registry],
  });
  return { refreshFailed: () => refreshFailures.inc() };
}

/** What the routing configuration cache reports. */
export interface ConfigCacheMetrics {
  /** A read of the configuration from PostgreSQL failed; the last snapshot kept serving. */
  refreshFailed(): void;
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
export function callbackMetrics(registry: Registry, pendingCount: () => Promise<number>): CallbackMetrics {
  const counters = {
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
  return {
    relayed: (count) => counters.relayed.inc(count),
    attempt: (outcome, seconds) => {
      counters.attempts.inc({ outcome });
      counters.duration.observe({ outcome }, seconds);
    },
  };
}

/** What the status-callback worker reports. */
export interface CallbackMetrics {
  /** Status changes queued as callbacks from the journal outbox. */
  relayed(count: number): void;
  /** One POST to a tenant's endpoint and how long it took. */
  attempt(outcome: 'delivered' | 'failed' | 'abandoned', seconds: number): void;
}

// --- The events the tiers report ---------------------------------------------------
// App code reports what happened through these interfaces, in domain words; how it
// becomes Prometheus series (names, labels, buckets, the tenant label switched off) is
// decided here and only here.

/** What the ingest tier reports. */
export interface IngestMetrics {
  /** An HTTP request began; call the answer with its route and status once it is answered. */
  httpRequest(method: string): (route: string, status: number) => void;
  /** A message was accepted (journaled and enqueued). */
  accepted(source: string, tenant: string, priority: string): void;
  /** A message was rejected, by error code. */
  rejected(source: string, tenant: string, reason: string): void;
  /** The SMS parts of an accepted message, by encoding. */
  smsParts(encoding: string, parts: number): void;
  /** A Kafka partition's lag now; `undefined`: the partition is no longer assigned. */
  kafkaLag(topic: string, partition: number, lag: number | undefined): void;
  /** A record (or a bad item of one) went to the rejected topic. */
  kafkaRecordRejected(reason: string): void;
  /** A record is retried in place because a dependency failed. */
  kafkaRetried(reason: string): void;
  /** Kafka intake paused (true) or resumed (false) for the lanes' cap. */
  kafkaPaused(paused: boolean): void;
  /** Delivery receipts of a provider (`<tenant>/<provider>`) by outcome. */
  receipts(provider: string, outcome: string, count?: number): void;
  /** Inbound messages of a provider (`<tenant>/<provider>`) by outcome (received, repeated, refused). */
  inbound(provider: string, outcome: string, count?: number): void;
  /** An inbound keyword was carried out (opted_out, opted_in, replied). */
  inboundKeyword(action: string): void;
}

/** Metrics of the ingest tier, reported through IngestMetrics. */
export function ingestMetrics(registry: Registry, options: MetricsOptions = {}): IngestMetrics {
  const m = ingestCounters(registry, options);
  return {
    httpRequest(method) {
      const stop = m.requestDuration.startTimer({ method });
      return (route, status) => stop({ route, status: String(status) });
    },
    accepted: (source, tenant, priority) => m.messagesAccepted.inc({ source, tenant, priority }),
    rejected: (source, tenant, reason) => m.messagesRejected.inc({ source, tenant, reason }),
    smsParts: (encoding, parts) => m.smsParts.inc({ encoding }, parts),
    kafkaLag(topic, partition, lag) {
      const labels = { topic, partition: String(partition) };
      if (lag === undefined) m.kafkaConsumerLag.remove(labels);
      else m.kafkaConsumerLag.set(labels, Math.max(0, lag));
    },
    kafkaRecordRejected: (reason) => m.kafkaRecordsRejected.inc({ reason }),
    kafkaRetried: (reason) => m.kafkaRetries.inc({ reason }),
    kafkaPaused(paused) {
      m.kafkaPaused.set(paused ? 1 : 0);
      if (paused) m.kafkaBackpressurePauses.inc();
    },
    receipts: (provider, outcome, count = 1) => m.receipts.inc({ provider, outcome }, count),
    inbound: (provider, outcome, count = 1) => m.inbound.inc({ provider, outcome }, count),
    inboundKeyword: (action) => m.inboundKeywords.inc({ action }),
  };
}

/** What the dispatcher tier reports (the lifecycle included). */
export interface DispatcherMetrics {
  /** Messages a provider request handed over, by outcome (accepted, rejected, error). */
  dispatched(provider: string, outcome: string, count: number): void;
  /** One provider request: its size and duration, by outcome (ok, retryable, permanent). */
  providerRequest(provider: string, outcome: string, messages: number, seconds: number): void;
  /** Messages the provider's rate held back. */
  throttled(provider: string, count: number): void;
  /** A message went back to the delayed set, by why (window, retry, no_provider, ...). */
  deferred(reason: string): void;
  /** A message was scheduled for another attempt at `provider` ('none': none available). */
  retried(provider: string): void;
  /** A message moved on to its next cascade step, by why (failure, no_receipt). */
  movedOn(reason: string): void;
  /** A message was routed past an unavailable provider to `provider`. */
  failedOver(provider: string): void;
  /** The contact policy held a message back (deferred, dropped, expired, opted_out, preference). */
  contactPolicy(outcome: string): void;
  /** The preference lookup of a claimed batch: how many addresses, and how long it took. */
  preferenceLookup(addresses: number, seconds: number): void;
  /** A message reached its expiry unsent. */
  expired(): void;
  /** A message went to the dead-letter stream after failing at `provider`. */
  deadLettered(provider: string): void;
  /** A provider's circuit on this replica: 0 closed, 1 half-open, 2 open. */
  circuit(provider: string, state: number): void;
  /** A provider's late-delivery share of the window (undefined: too few receipts) and the delivery weight it gives. */
  deliverySpeed(provider: string, lateShare: number | undefined, weight: number): void;
  /** A message of `lane` reached its provider this long after it was accepted. */
  reachedProvider(lane: string, seconds: number): void;
  /** Entries taken over from a replica that held them past the visibility timeout. */
  reclaimed(count: number): void;
  /** Entries this replica holds claimed and not yet acknowledged. */
  inFlight(count: number): void;
  /** Whether the lower lanes hold back for critical traffic now. */
  criticalYield(yielding: boolean): void;
}

/** Metrics of the dispatcher tier, reported through DispatcherMetrics. */
export function dispatcherMetrics(registry: Registry, options: MetricsOptions = {}): DispatcherMetrics {
  const m = dispatcherCounters(registry, options);
  return {
    dispatched: (provider, outcome, count) => m.messagesDispatched.inc({ provider, outcome }, count),
    providerRequest(provider, outcome, messages, seconds) {
      m.batchSize.observe({ provider }, messages);
      m.providerRequestDuration.observe({ provider, outcome }, seconds);
    },
    throttled: (provider, count) => m.throttled.inc({ provider }, count),
    deferred: (reason) => m.deferred.inc({ reason }),
    retried: (provider) => m.retries.inc({ provider }),
    movedOn: (reason) => m.cascadeMoves.inc({ reason }),
    failedOver: (provider) => m.failovers.inc({ provider }),
    contactPolicy: (outcome) => m.contactPolicy.inc({ outcome }),
    preferenceLookup(addresses, seconds) {
      m.preferenceLookups.observe(seconds);
      m.preferenceAddresses.inc(addresses);
    },
    expired: () => m.expired.inc(),
    deadLettered: (provider) => m.deadLettered.inc({ provider }),
    circuit: (provider, state) => m.circuitState.set({ provider }, state),
    reachedProvider: (lane, seconds) => m.acceptToProvider.observe({ lane }, seconds),
    deliverySpeed(provider, lateShare, weight) {
      if (lateShare === undefined) m.lateDeliveryShare.remove({ provider });
      else m.lateDeliveryShare.set({ provider }, lateShare);
      m.deliveryWeight.set({ provider }, weight);
    },
    reclaimed: (count) => m.reclaimed.inc(count),
    inFlight: (count) => m.inFlight.set(count),
    criticalYield: (yielding) => m.criticalYield.set(yielding ? 1 : 0),
  };
}
