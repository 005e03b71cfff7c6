import { EgressPolicy } from '@commstrat/egress';
import { ReceiptSecrets, RoutingCache, TemplateCache, TenantCache } from '@commstrat/config';
import { DEFAULT_CONTACT_HASH_SECRET } from '@commstrat/core';
import { DEFAULT_RENDER_LIMITS, TemplateRenderer } from '@commstrat/templates';
import { InboundStore, Journal, PreferenceStore } from '@commstrat/journal';
import { ReceiptLifecycle } from '@commstrat/lifecycle';
import {
  closeLogger,
  tierLogger,
  configCacheMetrics,
  createRegistry,
  ingestMetrics,
  laneDepthGauge,
  listen,
  processInfo,
  templateMetrics,
  type Logger,
} from '@commstrat/observability';
import { DeliverySpeeds, IdempotencyStore, LaneStatistics, LaneWriter, ParkedReceipts, ProviderRateLimiter, ReplayGuard, SampledDepths, reportRedisErrors } from '@commstrat/queue';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import postgres from 'postgres';
import type { IngestConfig } from './config.ts';
import { consoleFrom } from './console-routes.ts';
import { createIngestApp } from './http-app.ts';
import { EgressChecks } from './egress-checks.ts';
import { InboundHandler } from './inbound-handler.ts';
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
  const mongoOptions = {
    ignoreUndefined: true,
    serverSelectionTimeoutMS: 5000,
    socketTimeoutMS: config.mongoSocketTimeoutMs,
  };
  const mongo = new MongoClient(config.mongoUrl, mongoOptions);
  // Critical messages' journal writes: a pool of their own, never behind bulk intake.
  const urgentMongo = new MongoClient(config.mongoUrl, { ...mongoOptions, maxPoolSize: 4 });
  const sql = postgres(config.postgresUrl, { max: 5, onnotice: () => {} });
  /** Every connection opened above; closed on stop and on a start that fails. */
  const closeConnections = () => Promise.allSettled([redis.quit(), mongo.close(), urgentMongo.close(), sql.end({ timeout: 5 })]);
  await Promise.all([mongo.connect(), urgentMongo.connect()]);
  const journal = new Journal(mongo.db(), {
    transactions: config.journalTransactions === 'auto' ? 'auto' : config.journalTransactions === 'on',
    ...(config.failpoint === 'exit-after-request' ? { failpoint: config.failpoint } : {}),
    urgentDb: urgentMongo.db(),
  });
  await journal.ensureIndexes();
  if (config.contactHashSecret === undefined) {
    logger.warn('COMMSTRAT_CONTACT_HASH_SECRET is not set: recipient preferences are digested with a built-in key');
  }
  const preferences = new PreferenceStore(mongo.db(), { secret: config.contactHashSecret ?? DEFAULT_CONTACT_HASH_SECRET });
  // A secret other than the one the stored preferences were digested with would match none of them.
  await preferences.checkKey().catch(async (error: unknown) => {
    await closeConnections();
    throw error;
  });
  const lanes = new LaneWriter(redis, { prefix: config.redisPrefix });
  const statistics = new LaneStatistics(redis, { prefix: config.redisPrefix });

  const registry = createRegistry('ingest');
  const metrics = ingestMetrics(registry, { tenantLabel: config.metricsTenantLabel });
  // One sample of the lane depths for admission, Kafka backpressure and the gauge.
  const depths = new SampledDepths(() => statistics.depths());
  laneDepthGauge(registry, () => depths.get());
  // The last known configuration keeps serving while PostgreSQL cannot be read; its age
  // is the commstrat_config_age_seconds gauge (alert CommstratConfigStale).
  const configMetrics = configCacheMetrics(registry, () => routing.oldestAgeMs() / 1000);
  const routing = new RoutingCache(sql, {
    refreshMs: config.configRefreshMs,
    maxStaleMs: config.configMaxStaleMs,
    onRefreshError: (error) => {
      configMetrics.refreshFailed();
      logger.warn('could not read the routing configuration; serving the last known', { error: String(error) });
    },
  });
  // Not awaited: a replica starts while PostgreSQL is down, and listens once it is back.
  void routing.listen();
  const renderMetrics = templateMetrics(registry);
  const renderer = new TemplateRenderer({
    limits: { ...DEFAULT_RENDER_LIMITS, renderMs: config.templateRenderLimitMs },
    hardTimeoutMs: config.templateHardTimeoutMs,
    heapMb: config.templateWorkerHeapMb,
    onRestart: (reason) => {
      renderMetrics.workerReplaced(reason);
      logger.warn('template render worker replaced', { reason });
    },
  });
  const templates = {
    templates: new TemplateCache(sql, { onReadError: (error) => logger.warn('could not read a template version', { error: String(error) }) }),
    tenantTemplates: (tenantId: string) => routing.templates(tenantId),
    renderer,
    metrics: renderMetrics,
  };
  // The egress policy at the API: URLs a tenant sets are refused here, naming the field.
  const egress = new EgressChecks(new EgressPolicy(config.egress));
  const intake = new Intake({
    journal,
    lanes,
    depths,
    egress,
    idempotency: new IdempotencyStore(redis, { prefix: config.redisPrefix }),
    routing,
    metrics,
    logger,
    idempotencyWindowSeconds: config.idempotencyWindowSeconds,
    laneCap: config.laneCap,
    templates,
    renderBudgetMs: config.templateRenderBudgetMs,
    failpoint: config.failpoint === 'exit-after-request' ? undefined : config.failpoint,
  });
  const recovery = new RecoveryPass(
    { journal, intake, lanes, logger },
    { graceMs: config.recoveryGraceMs, intervalMs: config.recoveryIntervalMs },
  );
  recovery.start();
  const inboundStore = new InboundStore(mongo.db());
  await inboundStore.ensureIndexes();
  const inbound = new InboundHandler({ store: inboundStore, preferences, settings: routing, intake, metrics, logger });
  // Inbound messages whose keyword a dying process left undone are finished here, like
  // the recovery pass of messages (same grace and interval).
  const inboundRecovery = setInterval(() => {
    inbound.recover(new Date(Date.now() - config.recoveryGraceMs)).catch((error: unknown) => {
      logger.warn('inbound recovery pass failed', { error: String(error) });
    });
  }, config.recoveryIntervalMs).unref();
  const parked = new ParkedReceipts(redis, { prefix: config.redisPrefix });
  const receiptLifecycle = new ReceiptLifecycle({
    journal,
    routing,
    lanes,
    // How fast each provider delivers, counted for the dispatchers' routing (docs/strategies.md).
    speeds: { store: new DeliverySpeeds(redis, { prefix: config.redisPrefix, windowMs: config.deliveryWindowMs }), lateAfterMs: config.deliveryLateAfterMs },
  });
  const receiptParking = new ReceiptParking({ receipts: receiptLifecycle, parked, metrics, logger });
  receiptParking.start();
  const tenants = new TenantCache(sql, {
    onListenError: (error) => logger.warn('could not listen for API key changes; revoked keys expire by TTL only', { error: String(error) }),
  });
  // Not awaited, as routing.listen: a revoked key is evicted on its NOTIFY once listening.
  void tenants.listen();
  const operatorConsole = config.consoleEnabled ? consoleFrom(config, { redis, db: mongo.db(), sql, journal, lanes, statistics, egress, tenants, renderer, logger }) : undefined;
  const kafka = kafkaIntakeFromConfig(config, { intake, tenants, depths, metrics, logger });
  // Providers' webhooks (receipts, inbound) share the rows, the secrets and the replay guard.
  const receiptSecrets = new ReceiptSecrets(sql);
  const receiptProviders = new ReceiptProviders(sql);
  const replays = new ReplayGuard(redis, { prefix: config.redisPrefix });
  const app = createIngestApp({
    intake,
    journal,
    tenants,
    admin: { sql, renderer, egress },
    preferences,
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
      secrets: receiptSecrets,
      providers: receiptProviders,
      replays,
      windowSeconds: config.receiptWindowSeconds,
      parked,
      lifecycle: receiptLifecycle,
    },
    inbound: { secrets: receiptSecrets, providers: receiptProviders, replays, windowSeconds: config.receiptWindowSeconds, handler: inbound, store: inboundStore },
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
    clearInterval(inboundRecovery);
    await recovery.stop();
    await receiptParking.stop();
    await routing.close();
    await tenants.close();
    await renderer.close();
    await closeConnections();
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
      clearInterval(inboundRecovery);
      await recovery.stop();
      await receiptParking.stop();
      await routing.close();
      await tenants.close();
      await renderer.close();
      await closeConnections();
      if (options.logger === undefined) await closeLogger(logger);
    },
  };
}
