import express from 'express';
import { CallbackTargets, RoutingCache } from '@commstrat/config';
import { EgressClient, EgressPolicy } from '@commstrat/egress';
import { DEFAULT_CONTACT_HASH_SECRET } from '@commstrat/core';
import { CallbackStore, Journal, PreferenceStore } from '@commstrat/journal';
import {
  closeLogger,
  tierLogger,
  callbackMetrics,
  configCacheMetrics,
  createRegistry,
  dispatcherMetrics,
  laneDepthGauge,
  listen,
  laneLagGauges,
  monitoringRouter,
  MONITORING_ROUTES,
  jsonErrorHandler,
  methodGuard,
  notFound,
  processInfo,
  type Logger,
} from '@commstrat/observability';
import { DeliverySpeeds, FrequencyCaps, LaneReader, LaneStatistics, ProviderRateLimiter, ReplicaHeartbeats, SampledDepths, reportRedisErrors } from '@commstrat/queue';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import postgres from 'postgres';
import type { DispatcherConfig } from './config.ts';
import { ContactPolicyGate } from './contact-policy.ts';
import { DeliveryHealth } from './delivery-health.ts';
import { CallbackWorker } from './callback-worker.ts';
import { Dispatcher } from './dispatcher.ts';
import { ProviderRegistry } from './provider-registry.ts';
import { ReplicaHeartbeat } from './replica-heartbeat.ts';


export interface RunningDispatcher {
  /** Base URL of /metrics and /health. */
  readonly url: string;
  readonly logger: Logger;
  /** Stops claiming, finishes and acks the batches in flight, closes every connection. */
  close(): Promise<void>;
}

export interface DispatcherOptions {
  readonly logger?: Logger;
  /** The time; tests move it to reach send windows and expiry without waiting. */
  readonly clock?: () => number;
}

/** Connects to Redis, MongoDB and PostgreSQL, starts the dispatch loop and the monitoring endpoints. */
export async function startDispatcher(
  config: Readonly<DispatcherConfig>,
  options: DispatcherOptions = {},
): Promise<RunningDispatcher> {
  const logger = options.logger ?? tierLogger('dispatcher', config);
  // A blocking claim holds its connection until entries come: the idle wait on the
  // shared lanes and the critical lane's own loop each have one; the other lanes'
  // claims without waiting, acks and rates share a third, the critical lane's a fourth.
  const claimRedis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  const criticalRedis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, commandTimeout: 5000 });
  // The critical lane's markers, rate tokens and acks: never behind a bulk pipeline.
  const urgentRedis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, commandTimeout: 5000 });
  for (const connection of [claimRedis, criticalRedis, redis, urgentRedis]) {
    reportRedisErrors(connection, (error) => logger.warn('Redis connection error', { error: error.message }));
  }
  const mongoOptions = {
    ignoreUndefined: true,
    serverSelectionTimeoutMS: 5000,
    socketTimeoutMS: config.mongoSocketTimeoutMs,
  };
  const mongo = new MongoClient(config.mongoUrl, mongoOptions);
  // Critical batches' outcomes: a pool of their own, never behind a bulk group commit.
  const urgentMongo = new MongoClient(config.mongoUrl, { ...mongoOptions, maxPoolSize: 4 });
  const sql = postgres(config.postgresUrl, { max: 4, onnotice: () => {} });
  /** Every connection opened above; closed on stop and on a start that fails. */
  const closeConnections = () =>
    Promise.allSettled([claimRedis.quit(), criticalRedis.quit(), redis.quit(), urgentRedis.quit(), mongo.close(), urgentMongo.close(), sql.end({ timeout: 5 })]);
  await Promise.all([mongo.connect(), urgentMongo.connect()]);
  const journal = new Journal(mongo.db(), { urgentDb: urgentMongo.db() });
  const lanes = new LaneReader(redis, { prefix: config.redisPrefix });
  await lanes.ensureGroup();
  const statistics = new LaneStatistics(redis, { prefix: config.redisPrefix });

  const registry = createRegistry('dispatcher');
  const metrics = dispatcherMetrics(registry, { tenantLabel: config.metricsTenantLabel });
  // One sample of the lane depths for lane selection and the gauge.
  const depths = new SampledDepths(() => statistics.depths());
  laneDepthGauge(registry, () => depths.get());
  laneLagGauges(registry, () => statistics.laneLag());
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
  // One policy for every request a tenant can aim: provider endpoints, token URLs, callbacks.
  const egress = new EgressPolicy(config.egress);
  // Each provider's weight for how fast it delivers, from the receipts ingest counts in Redis.
  const deliveryHealth: DeliveryHealth = new DeliveryHealth(
    {
      speeds: new DeliverySpeeds(redis, { prefix: config.redisPrefix, windowMs: config.deliveryWindowMs }),
      providers: (): string[] => providers.keys(),
      metrics,
      logger,
      // Real time, not options.clock: the buckets are timed by ingest's clock.
    },
    {
      windowMs: config.deliveryWindowMs,
      maxLateShare: config.deliveryMaxLateShare,
      minReceipts: config.deliveryMinReceipts,
      minWeight: config.deliveryMinWeight,
      recoveryMs: config.deliveryRecoveryMs,
      refreshMs: config.deliveryRefreshMs,
    },
  );
  const providers = new ProviderRegistry(
    metrics,
    { failureThreshold: config.circuitFailureThreshold, openMs: config.circuitOpenMs },
    egress,
    deliveryHealth,
  );
  if (config.contactHashSecret === undefined) {
    logger.warn('COMMSTRAT_CONTACT_HASH_SECRET is not set: frequency-cap keys in Redis and preference digests use a built-in hash key');
  }
  const secret = config.contactHashSecret ?? DEFAULT_CONTACT_HASH_SECRET;
  const preferences = new PreferenceStore(mongo.db(), { secret });
  // A secret other than the one the stored preferences were digested with would match none of them.
  await preferences.checkKey().catch(async (error: unknown) => {
    await routing.close();
    await closeConnections();
    throw error;
  });
  const contactPolicy = new ContactPolicyGate({
    caps: new FrequencyCaps(redis, { prefix: config.redisPrefix, secret }),
    metrics,
    logger,
    random: Math.random,
  });
  const dispatcher = new Dispatcher({
    contactPolicy,
    preferences,
    lanes,
    depths,
    waitingLanes: {
      shared: new LaneReader(claimRedis, { prefix: config.redisPrefix }),
      critical: new LaneReader(criticalRedis, { prefix: config.redisPrefix }),
    },
    urgent: {
      lanes: new LaneReader(urgentRedis, { prefix: config.redisPrefix }),
      rateLimiter: new ProviderRateLimiter(urgentRedis, { prefix: config.redisPrefix }),
    },
    journal,
    routing,
    providers,
    rateLimiter: new ProviderRateLimiter(redis, { prefix: config.redisPrefix }),
    metrics,
    logger: logger.child({ consumer: config.consumer }),
    consumer: config.consumer,
    claimCount: config.claimCount,
    maxInFlight: config.maxInFlight,
    criticalYield: { ms: config.criticalYieldMs, inFlight: config.criticalYieldInFlight },
    blockMs: config.blockMs,
    visibilityTimeoutMs: config.visibilityTimeoutMs,
    laneWeights: { high: config.weightHigh, normal: config.weightNormal, bulk: config.weightBulk },
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });

  const callbacks = config.callbacksEnabled ? startCallbackWorker(config, mongo, sql, registry, logger, egress) : undefined;

  const info = processInfo({
    service: 'dispatcher',
    packageJson: new URL('../package.json', import.meta.url),
    settings: config,
    replicaId: config.consumer,
  });
  const app = express();
  app.disable('x-powered-by');
  app.use(
    monitoringRouter({
      registry,
      checks: {
        redis: () => redis.ping(),
        mongodb: () => mongo.db().command({ ping: 1 }),
        postgres: () => sql`SELECT 1`,
      },
      info,
    }),
  );
  app.use(methodGuard(MONITORING_ROUTES));
  app.use(notFound);
  app.use(jsonErrorHandler(logger));
  const http = await listen(app, config.host, config.port);
  const { url } = http;
  dispatcher.start();
  deliveryHealth.start();
  // Circuits live in this replica's memory: published, with the config version /info
  // shows, for `commstrat inspect`.
  const heartbeat = new ReplicaHeartbeat(
    new ReplicaHeartbeats(redis, { prefix: config.redisPrefix }),
    { consumer: config.consumer, configVersion: info.config_version, circuits: (now) => providers.circuitStates(now) },
    logger,
    { intervalMs: config.heartbeatIntervalMs },
  );
  heartbeat.start();
  logger.info(`dispatcher ${config.consumer} claiming lanes; metrics ${url}/metrics, health ${url}/health/ready`);

  return {
    url,
    logger,
    async close() {
      await dispatcher.stop();
      await deliveryHealth.stop();
      await heartbeat.stop();
      await callbacks?.stop();
      providers.close();
      await routing.close();
      await http.close();
      await closeConnections();
      if (options.logger === undefined) await closeLogger(logger);
    },
  };
}

/**
 * The status-callback worker: apart from dispatch, with its own Redis connection (the
 * tenants' token buckets) so its traffic never queues behind a lane pipeline.
 */
function startCallbackWorker(
  config: Readonly<DispatcherConfig>,
  mongo: MongoClient,
  sql: postgres.Sql,
  registry: ReturnType<typeof createRegistry>,
  logger: Logger,
  egress: EgressPolicy,
): { stop(): Promise<void> } {
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, commandTimeout: 5000 });
  reportRedisErrors(redis, (error) => logger.warn('Redis connection error', { error: error.message }));
  const store = new CallbackStore(mongo.db());
  const worker = new CallbackWorker({
    store,
    targets: new CallbackTargets(sql),
    rateLimiter: new ProviderRateLimiter(redis, { prefix: config.redisPrefix }),
    metrics: callbackMetrics(registry, () => store.pendingCount()),
    logger: logger.child({ component: 'callbacks' }),
    policy: {
      baseDelayMs: config.callbackBaseDelayMs,
      maxDelayMs: config.callbackMaxDelayMs,
      maxAttempts: config.callbackMaxAttempts,
      maxAgeMs: config.callbackMaxAgeMs,
    },
    timeoutMs: config.callbackTimeoutMs,
    concurrency: config.callbackConcurrency,
    tenantConcurrency: config.callbackTenantConcurrency,
    tenantRatePerSecond: config.callbackTenantRate,
    pollMs: config.callbackPollMs,
    // Tenants may share a host: the agent must never be what a hanging tenant fills, so it
    // allows as many sockets as the worker has attempts in flight.
    http: new EgressClient(egress, { maxSocketsPerHost: config.callbackConcurrency }),
  });
  // Not awaited: the indexes are created while the worker starts; a claim before they
  // exist is only slower.
  store.ensureIndexes().catch((error: unknown) => logger.warn('could not create the callbacks indexes', { error: String(error) }));
  worker.start();
  return {
    async stop() {
      await worker.stop();
      await redis.quit().catch(() => undefined);
    },
  };
}
