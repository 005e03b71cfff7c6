import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

/** Metrics of the ingest tier. */
export function ingestMetrics(registry: Registry) {
  return {
    ...httpMetrics(registry),
    messagesAccepted: new Counter({
      name: 'commstrat_messages_accepted_total',
      help: 'Messages accepted (journaled and enqueued), by source, tenant and priority.',
      labelNames: ['source', 'tenant', 'priority'] as const,
      registers: [registry],
    }),
    messagesRejected: new Counter({
      name: 'commstrat_messages_rejected_total',
      help: 'Messages rejected, by source, tenant and reason (error code).',
      labelNames: ['source', 'tenant', 'reason'] as const,
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
  };
}
export type IngestMetrics = ReturnType<typeof ingestMetrics>;

/** Metrics of the dispatcher tier. */
export function dispatcherMetrics(registry: Registry) {
  return {
    messagesDispatched: new Counter({
      name: 'commstrat_messages_dispatched_total',
      help: 'Messages handed to providers, by provider and outcome.',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'commstrat_dispatch_batch_size',
      help: 'Messages per provider request.',
      labelNames: ['provider'] as const,
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers: [registry],
    }),
    providerRequestDuration: new Histogram({
      name: 'commstrat_provider_request_duration_seconds',
      help: 'Duration of provider requests, by provider and outcome.',
      labelNames: ['provider', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lanePending: new Gauge({
      name: 'commstrat_lane_pending',
      help: 'Entries claimed by dispatchers and not yet acknowledged, by lane.',
      labelNames: ['lane'] as const,
      registers: [registry],
    }),
  };
}
export type DispatcherMetrics = ReturnType<typeof dispatcherMetrics>;

/** Lane depth (entries in each lane stream), sampled at scrape time. */
export function laneDepthGauge(registry: Registry, sample: () => Promise<Record<string, number>>) {
  return new Gauge({
    name: 'commstrat_lane_depth',
    help: 'Entries in each priority lane stream.',
    labelNames: ['lane'] as const,
    registers: [registry],
    async collect() {
      const depths = await sample().catch(() => ({}));
      for (const [lane, depth] of Object.entries(depths)) this.set({ lane }, depth);
    },
  });
}
