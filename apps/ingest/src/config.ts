import { ConfigError, DEFAULT_MAX_JSON_DEPTH, parseAppConfig, tierConfigSchema, tierEnvMap, type TierConfig } from '@commstrat/core';
import { egressAllowFromConfig, type EgressAllowList } from '@commstrat/egress';

/** `port` (default 8080) serves the API, /metrics and /health. */
export interface IngestConfig extends TierConfig {
  /** Largest request body, in bytes. Default 10 MiB. */
  maxBodyBytes: number;
  /** Most messages in one batch request. Default 10 000. */
  maxBatchMessages: number;
  /** Deepest nesting of objects and arrays in a body or record value. Default 32. */
  maxJsonDepth: number;
  /** Time a client has to send all request headers, ms (Node's headersTimeout). Default 10 000. */
  httpHeadersTimeoutMs: number;
  /** Time a client has to send a whole request, body included, ms (Node's requestTimeout). Default 30 000. */
  httpRequestTimeoutMs: number;
  /** Kafka bootstrap brokers, `host:port[,host:port...]`. Kafka intake runs only when set. */
  kafkaBrokers?: string;
  /** Set `false` to keep Kafka intake off although brokers are configured. Default true. */
  kafkaEnabled: boolean;
  /** Consumer group shared by every ingest replica. Default `commstrat-ingest`. */
  kafkaGroup: string;
  /** Topic producers send messages to. Default `commstrat.messages`. */
  kafkaTopic: string;
  /** Topic that receives records (or batch items) that cannot be accepted. Default `commstrat.messages.rejected`. */
  kafkaRejectedTopic: string;
  /** Partitions of a topic ingest creates because it is missing (existing topics are left as they are). Default 6. */
  kafkaTopicPartitions: number;
  /** Records of one partition accepted at once; offsets are still committed in order. Default 16. */
  kafkaRecordsInFlight: number;
  /**
   * Partitions whose records are handled at once (kafkajs `partitionsConsumedConcurrently`),
   * so records of several partitions share a journal write. Default 6.
   */
  kafkaPartitionsInFlight: number;
  /**
   * Lane entries (all lanes together) above which ingest sheds load: REST answers 503,
   * Kafka intake pauses its partitions and resumes below 90 % of it. Default 1 000 000.
   */
  laneCap: number;
  /** How long an idempotency key is remembered, in seconds. Default 86 400 (24 h). */
  idempotencyWindowSeconds: number;
  /** API requests per second per tenant before 429 (with Retry-After). Default 1 000. */
  tenantRatePerSecond: number;
  /** Requests a tenant may send at once above its rate. Default: one second's worth. */
  tenantBurst?: number;
  /** A request younger than this is left to its own intake by the recovery pass, ms. Default 30 000. */
  recoveryGraceMs: number;
  /** Pause between recovery passes, ms. Default 30 000. */
  recoveryIntervalMs: number;
  /**
   * How far a delivery receipt request's signed timestamp may be from now, in seconds;
   * a signature is remembered twice that long, so a replay within it is refused.
   * Default 300.
   */
  receiptWindowSeconds: number;
  /**
   * Journal a request and its messages in one transaction: `auto` (default) where the
   * MongoDB server has transactions (a replica set), `on`, or `off`.
   */
  journalTransactions: 'auto' | 'on' | 'off';
  /** Time one message's templates may take to render, all its steps and fields together, ms (LiquidJS's renderLimit). Default 50. */
  templateRenderLimitMs: number;
  /**
   * How long the render worker may take for one message before it is stopped and
   * replaced, ms: the hard limit behind LiquidJS's cooperative one. Default 1 000.
   */
  templateHardTimeoutMs: number;
  /** Heap of the render worker, MB: a template that allocates more kills the worker, not ingest. Default 128. */
  templateWorkerHeapMb: number;
  /** Time one request (a REST batch, a Kafka record) may spend on slow (over 5 ms) or refused renders, ms. Default 1 000. */
  templateRenderBudgetMs: number;
  /**
   * Test-only fault injection: `exit-after-request` (between the journal's request and
   * message writes), `exit-after-journal` or `exit-after-enqueue`. Never set in production.
   */
  failpoint?: IngestFailpoint;
  /**
   * Key of the digests recipient preferences are stored under (and of frequency-cap
   * windows in the dispatcher): the same on every ingest and dispatcher replica, and never
   * changed once preferences are stored. Unset: a built-in value, which hides addresses
   * from a casual look only.
   */
  contactHashSecret?: string;
  /** A delivery receipt this long after its message was sent or later counts as late, ms. Default 300 000 (5 min). */
  deliveryLateAfterMs: number;
  /** The window late shares are taken over (sizes the buckets receipts are counted in), ms; the same as the dispatchers'. Default 900 000 (15 min). */
  deliveryWindowMs: number;
  /** `egressAllow` as read once at start-up: the URLs the API accepts besides public ones (callbacks, provider endpoints). */
  egress: EgressAllowList;
  /** Serve the operator console under /console. Default true. */
  consoleEnabled: boolean;
  /** A console session unused this long ends, seconds. Default 1 800 (30 min). */
  consoleSessionIdleSeconds: number;
  /** A console session ends this long after its login, however busy, seconds. Default 43 200 (12 h). */
  consoleSessionMaxSeconds: number;
  /**
   * Mark the console's session cookie `Secure` (sent over HTTPS only). Default true;
   * browsers keep Secure cookies of http://localhost and 127.0.0.1 too, so only a console
   * reached over plain HTTP on another address needs `false`.
   */
  consoleSecureCookie: boolean;
  /** Prometheus that scrapes the dispatchers: the console's error classes over time. Unset: not shown. */
  prometheusUrl?: string;
  /** PromQL label matchers added to each console query, e.g. `job="commstrat-dispatcher"`. */
  consolePrometheusSelector?: string;
}

export type IngestFailpoint = 'exit-after-request' | 'exit-after-journal' | 'exit-after-enqueue';

const tier = tierConfigSchema(8080);
const schema = {
  type: 'object',
  required: tier.required,
  properties: {
    ...tier.properties,
    maxBodyBytes: { type: 'integer', minimum: 1024, default: 10 * 1024 * 1024 },
    maxBatchMessages: { type: 'integer', minimum: 1, maximum: 100000, default: 10000 },
    // A batch item's own fields sit at depth 3; the journal nests the body a few levels
    // deeper in its documents, and MongoDB refuses more than 100.
    maxJsonDepth: { type: 'integer', minimum: 4, maximum: 64, default: DEFAULT_MAX_JSON_DEPTH },
    httpHeadersTimeoutMs: { type: 'integer', minimum: 1000, maximum: 600000, default: 10000 },
    httpRequestTimeoutMs: { type: 'integer', minimum: 1000, maximum: 3600000, default: 30000 },
    kafkaBrokers: { type: 'string', pattern: '^[^,\\s]+:\\d+(,[^,\\s]+:\\d+)*$' },
    kafkaEnabled: { type: 'boolean', default: true },
    kafkaGroup: { type: 'string', minLength: 1, default: 'commstrat-ingest' },
    kafkaTopic: { type: 'string', pattern: '^[\\w.-]{1,249}$', default: 'commstrat.messages' },
    kafkaRejectedTopic: { type: 'string', pattern: '^[\\w.-]{1,249}$', default: 'commstrat.messages.rejected' },
    kafkaTopicPartitions: { type: 'integer', minimum: 1, maximum: 10000, default: 6 },
    kafkaRecordsInFlight: { type: 'integer', minimum: 1, maximum: 1000, default: 16 },
    kafkaPartitionsInFlight: { type: 'integer', minimum: 1, maximum: 1000, default: 6 },
    laneCap: { type: 'integer', minimum: 1, default: 1_000_000 },
    idempotencyWindowSeconds: { type: 'integer', minimum: 1, maximum: 30 * 86400, default: 86400 },
    tenantRatePerSecond: { type: 'integer', minimum: 1, default: 1000 },
    tenantBurst: { type: 'integer', minimum: 1 },
    recoveryGraceMs: { type: 'integer', minimum: 0, default: 30000 },
    recoveryIntervalMs: { type: 'integer', minimum: 100, default: 30000 },
    receiptWindowSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 300 },
    journalTransactions: { type: 'string', enum: ['auto', 'on', 'off'], default: 'auto' },
    templateRenderLimitMs: { type: 'integer', minimum: 1, maximum: 10_000, default: 50 },
    templateHardTimeoutMs: { type: 'integer', minimum: 10, maximum: 60_000, default: 1000 },
    templateWorkerHeapMb: { type: 'integer', minimum: 16, maximum: 4096, default: 128 },
    templateRenderBudgetMs: { type: 'integer', minimum: 1, maximum: 600_000, default: 1000 },
    failpoint: { type: 'string', enum: ['exit-after-request', 'exit-after-journal', 'exit-after-enqueue'] },
    contactHashSecret: { type: 'string', minLength: 16 },
    deliveryLateAfterMs: { type: 'integer', minimum: 1, default: 300000 },
    deliveryWindowMs: { type: 'integer', minimum: 1000, maximum: 86400000, default: 900000 },
    consoleEnabled: { type: 'boolean', default: true },
    consoleSessionIdleSeconds: { type: 'integer', minimum: 60, maximum: 86400, default: 1800 },
    consoleSessionMaxSeconds: { type: 'integer', minimum: 60, maximum: 30 * 86400, default: 43200 },
    consoleSecureCookie: { type: 'boolean', default: true },
    prometheusUrl: { type: 'string', pattern: '^https?://[^\\s]+$' },
    // name="value" or name=~"regex" pairs, comma-separated: spliced into every query's braces.
    consolePrometheusSelector: {
      type: 'string',
      pattern: '^\\s*[A-Za-z_][A-Za-z0-9_]*\\s*(=|!=|=~|!~)\\s*"([^"\\\\]|\\\\.)*"(\\s*,\\s*[A-Za-z_][A-Za-z0-9_]*\\s*(=|!=|=~|!~)\\s*"([^"\\\\]|\\\\.)*")*\\s*$',
    },
  },
};

/** Reads the ingest configuration from the environment, once, at start-up. */
export function loadIngestConfig(env: Readonly<Record<string, string | undefined>>): Readonly<IngestConfig> {
  const config = parseAppConfig<Omit<IngestConfig, 'egress'>>(
    schema,
    {
      ...tierEnvMap('INGEST'),
      maxBodyBytes: 'INGEST_MAX_BODY_BYTES',
      maxBatchMessages: 'INGEST_MAX_BATCH_MESSAGES',
      maxJsonDepth: 'INGEST_MAX_JSON_DEPTH',
      httpHeadersTimeoutMs: 'INGEST_HTTP_HEADERS_TIMEOUT_MS',
      httpRequestTimeoutMs: 'INGEST_HTTP_REQUEST_TIMEOUT_MS',
      kafkaBrokers: 'COMMSTRAT_KAFKA_BROKERS',
      kafkaEnabled: 'INGEST_KAFKA_ENABLED',
      kafkaGroup: 'INGEST_KAFKA_GROUP',
      kafkaTopic: 'INGEST_KAFKA_TOPIC',
      kafkaRejectedTopic: 'INGEST_KAFKA_REJECTED_TOPIC',
      kafkaTopicPartitions: 'INGEST_KAFKA_TOPIC_PARTITIONS',
      kafkaRecordsInFlight: 'INGEST_KAFKA_RECORDS_IN_FLIGHT',
      kafkaPartitionsInFlight: 'INGEST_KAFKA_PARTITIONS_IN_FLIGHT',
      laneCap: 'INGEST_LANE_CAP',
      idempotencyWindowSeconds: 'INGEST_IDEMPOTENCY_WINDOW_SECONDS',
      tenantRatePerSecond: 'INGEST_TENANT_RATE_PER_SECOND',
      tenantBurst: 'INGEST_TENANT_BURST',
      recoveryGraceMs: 'INGEST_RECOVERY_GRACE_MS',
      recoveryIntervalMs: 'INGEST_RECOVERY_INTERVAL_MS',
      receiptWindowSeconds: 'INGEST_RECEIPT_WINDOW_SECONDS',
      journalTransactions: 'INGEST_JOURNAL_TRANSACTIONS',
      templateRenderLimitMs: 'INGEST_TEMPLATE_RENDER_LIMIT_MS',
      templateHardTimeoutMs: 'INGEST_TEMPLATE_HARD_TIMEOUT_MS',
      templateWorkerHeapMb: 'INGEST_TEMPLATE_WORKER_HEAP_MB',
      templateRenderBudgetMs: 'INGEST_TEMPLATE_RENDER_BUDGET_MS',
      failpoint: 'INGEST_FAILPOINT',
      contactHashSecret: 'COMMSTRAT_CONTACT_HASH_SECRET',
      deliveryLateAfterMs: 'COMMSTRAT_DELIVERY_LATE_AFTER_MS',
      deliveryWindowMs: 'COMMSTRAT_DELIVERY_WINDOW_MS',
      consoleEnabled: 'INGEST_CONSOLE_ENABLED',
      consoleSessionIdleSeconds: 'INGEST_CONSOLE_SESSION_IDLE_SECONDS',
      consoleSessionMaxSeconds: 'INGEST_CONSOLE_SESSION_MAX_SECONDS',
      consoleSecureCookie: 'INGEST_CONSOLE_SECURE_COOKIE',
      prometheusUrl: 'COMMSTRAT_PROMETHEUS_URL',
      consolePrometheusSelector: 'INGEST_CONSOLE_PROMETHEUS_SELECTOR',
    },
    env,
  );
  // The hard limit is the backstop of the cooperative one, which a render may use twice
  // (a render that ran out of time is tried once more): below that, it would stop renders
  // LiquidJS was about to refuse with a clearer reason.
  if (config.templateHardTimeoutMs <= 2 * config.templateRenderLimitMs) {
    throw new ConfigError([{ path: 'INGEST_TEMPLATE_HARD_TIMEOUT_MS', message: `must be more than twice INGEST_TEMPLATE_RENDER_LIMIT_MS (${2 * config.templateRenderLimitMs})` }]);
  }
  return Object.freeze({ ...config, egress: egressAllowFromConfig(config.egressAllow) });
}
