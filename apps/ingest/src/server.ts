import { ReceiptSecrets, RoutingCache, TenantCache } from '@commstrat/config';
import { Journal } from '@commstrat/journal';
import {
  closeLogger,
  tierLogger,
  configCacheMetrics,
  createRegistry,
  ingestMetrics,
  laneDepthGauge,
  listen,
  processInfo,
  type Logger,
} from '@commstrat/observability';
import { IdempotencyStore, LaneQueue, ParkedReceipts, ProviderRateLimiter, ReplayGuard, SampledDepths, reportRedisErrors } from '@commstrat/queue';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import postgres from 'postgres';
import type { IngestConfig } from './config.ts';
import { consoleFrom } from './console-routes.ts';
import { createIngestApp } from './http-app.ts';
import { Intake } from './intake.ts';
import { kafkaIntakeFromConfig } from './kafka-intake.ts';
import { ReceiptParking } from './receipt-parking.ts';
import { ReceiptProviders } from './receipt-definitions.ts';
import { RecoveryPass } from './recovery.ts';

export interface RunningIngest {
  /** Base URL the API listens on, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly logger: Logger;
  /** Stops accepting, lets requests in flight finish, closes every connection. */
  close(): Promise<void>;
}

/** Connects to Redis, MongoDB and PostgreSQL and serves the ingest API. */
export async function startIngest(
  config: Readonly<IngestConfig>,
  options: { logger?: Logger } = {},
): Promise<RunningIngest> {
  const logger = options.logger ?? tierLogger('ingest', config);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, commandTimeout: 5000 });
  reportRedisErrors(redis, (error) => logger.warn('Redis connection error', { error: error.message }));
  // Absent optional fields are left out of documents rather than stored as null.
  const mongo = new MongoClient(config.mongoUrl, {
    ignoreUndefined: true,
    serverSelectionTimeoutMS: 5000,
    socketTimeoutMS: config.mongoSocketTimeoutMs,
  });
  const sql = postgres(config.postgresUrl, { max: 5, onnotice: () => {} });
  await mongo.connect();
  const journal = new Journal(mongo.db(), {
    transactions: config.journalTransactions === 'auto' ? 'auto' : config.journalTransactions === 'on',
    ...(config.failpoint === 'exit-after-request' ? { failpoint: config.failpoint } : {}),
  });
  await journal.ensureIndexes();
  const lanes = new LaneQueue(redis, { prefix: config.redisPrefix });

  const registry = createRegistry('ingest');
  const metrics = ingestMetrics(registry, { tenantLabel: config.metricsTenantLabel });
  // One sample of the lane depths for admission, Kafka backpressure and the gauge.
  const depths = new SampledDepths(() => lanes.depths());
  laneDepthGauge(registry, () => depths.get());
  // The last known configuration keeps serving while PostgreSQL cannot be read; its age
  // is the commstrat_config_age_seconds gauge (alert CommstratConfigStale).
  const configMetrics = configCacheMetrics(registry, () => routing.oldestAgeMs() / 1000);
  const routing = new RoutingCache(sql, {
    refreshMs: config.configRefreshMs,
    maxStaleMs: config.configMaxStaleMs,
    onRefreshError: (error) => {
      configMetrics.refreshFailures.inc();
      logger.warn('could not read the routing configuration; serving the last known', { error: String(error) });
    },
  });
  // Not awaited: a replica starts while PostgreSQL is down, and listens once it is back.
  void routing.listen();
  const intake = new Intake({
    journal,
    lanes,
    depths,
    idempotency: new IdempotencyStore(redis, { prefix: config.redisPrefix }),
    routing,
    metrics,
    logger,
    idempotencyWindowSeconds: config.idempotencyWindowSeconds,
    laneCap: config.laneCap,
    failpoint: config.failpoint === 'exit-after-request' ? undefined : config.failpoint,
  });
  const recovery = new RecoveryPass(
    { journal, intake, lanes, logger },
    { graceMs: config.recoveryGraceMs, intervalMs: config.recoveryIntervalMs },
  );
  recovery.start();
  const parked = new ParkedReceipts(redis, { prefix: config.redisPrefix });
  const receiptParking = new ReceiptParking({ journal, parked, metrics, logger, cascade: { routing, lanes } });
  receiptParking.start();
  const tenants = new TenantCache(sql, {
    onListenError: (error) => logger.warn('could not listen for API key changes; revoked keys expire by TTL only', { error: String(error) }),
  });
  // Not awaited, as routing.listen: a revoked key is evicted on its NOTIFY once listening.
  void tenants.listen();
  const operatorConsole = config.consoleEnabled ? consoleFrom(config, { redis, db: mongo.db(), sql, journal, lanes, tenants, logger }) : undefined;
  const kafka = kafkaIntakeFromConfig(config, { intake, tenants, depths, metrics, logger });
  const app = createIngestApp({
    intake,
    journal,
    tenants,
    admin: { sql },
    ...(operatorConsole === undefined ? {} : { console: operatorConsole.deps }),
    tenantRateLimit: {
      limiter: new ProviderRateLimiter(redis, { prefix: config.redisPrefix }),
      ratePerSecond: config.tenantRatePerSecond,
      burst: config.tenantBurst ?? config.tenantRatePerSecond,
    },
    registry,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    maxJsonDepth: config.maxJsonDepth,
    maxBatchMessages: config.maxBatchMessages,
    receipts: {
      secrets: new ReceiptSecrets(sql),
      providers: new ReceiptProviders(sql),
      replays: new ReplayGuard(redis, { prefix: config.redisPrefix }),
      windowSeconds: config.receiptWindowSeconds,
      parked,
      routing,
      lanes,
    },
    info: processInfo({ service: 'ingest', packageJson: new URL('../package.json', import.meta.url), settings: config }),
    checks: {
      redis: () => redis.ping(),
      mongodb: () => mongo.db().command({ ping: 1 }),
      postgres: () => sql`SELECT 1`,
      ...(kafka === undefined ? {} : { kafka: () => kafka.ready() }),
    },
  });
  try {
    await kafka?.start();
  } catch (error) {
    await recovery.stop();
    await receiptParking.stop();
    await routing.close();
    await tenants.close();
    await Promise.allSettled([redis.quit(), mongo.close(), sql.end({ timeout: 5 })]);
    throw error;
  }

  const http = await listen(app, config.host, config.port, {
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
  });
  const { url } = http;
  logger.info(`ingest API at ${url}/v1/messages, metrics ${url}/metrics, health ${url}/health/ready${operatorConsole === undefined ? '' : `, console ${url}/console/`}`);

  return {
    url,
    logger,
    async close() {
      await http.close();
      await operatorConsole?.close();
      await kafka?.stop();
      await recovery.stop();
      await receiptParking.stop();
      await routing.close();
      await tenants.close();
      await Promise.allSettled([redis.quit(), mongo.close(), sql.end({ timeout: 5 })]);
      if (options.logger === undefined) await closeLogger(logger);
    },
  };
}
