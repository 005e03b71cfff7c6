import type { AddressInfo } from 'node:net';
import express from 'express';
import { DEFAULT_RETRY_POLICY } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import {
  closeLogger,
  createLogger,
  createRegistry,
  dispatcherMetrics,
  laneDepthGauge,
  monitoringRouter,
  type Logger,
} from '@commstrat/observability';
import { HttpSmsAdapter } from '@commstrat/providers';
import { LaneQueue } from '@commstrat/queue';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import type { DispatcherConfig } from './config.ts';
import { Dispatcher } from './dispatcher.ts';

export interface RunningDispatcher {
  /** Base URL of /metrics and /health. */
  readonly url: string;
  readonly logger: Logger;
  /** Stops claiming, finishes and acks the batch in flight, closes every connection. */
  close(): Promise<void>;
}

/** Connects to Redis and MongoDB, starts the dispatch loop and the monitoring endpoints. */
export async function startDispatcher(
  config: Readonly<DispatcherConfig>,
  options: { logger?: Logger } = {},
): Promise<RunningDispatcher> {
  const logger =
    options.logger ??
    createLogger({
      service: 'dispatcher',
      level: config.logLevel,
      gelf: config.gelfHost === undefined ? undefined : { host: config.gelfHost, port: config.gelfPort },
    });
  // Blocking claims hold this connection; commands of the monitoring endpoints use their own.
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  const monitorRedis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
  const mongo = new MongoClient(config.mongoUrl, { ignoreUndefined: true, serverSelectionTimeoutMS: 5000 });
  await mongo.connect();
  const journal = new Journal(mongo.db());
  const lanes = new LaneQueue(redis, { prefix: config.redisPrefix });
  await lanes.ensureGroup();

  const registry = createRegistry('dispatcher');
  const metrics = dispatcherMetrics(registry);
  const monitorLanes = new LaneQueue(monitorRedis, { prefix: config.redisPrefix });
  laneDepthGauge(registry, () => monitorLanes.depths());
  const sandbox = new HttpSmsAdapter({
    id: 'sandbox-sms',
    baseUrl: config.sandboxUrl,
    token: config.sandboxToken,
    maxBatchSize: config.providerBatchSize,
    timeoutMs: config.providerTimeoutMs,
  });
  const dispatcher = new Dispatcher({
    lanes,
    journal,
    routes: new Map([['sms', sandbox]]),
    metrics,
    logger: logger.child({ consumer: config.consumer }),
    consumer: config.consumer,
    claimCount: config.claimCount,
    blockMs: config.blockMs,
    providerConcurrency: config.providerConcurrency,
    retry: { ...DEFAULT_RETRY_POLICY, maxAttempts: config.maxAttempts },
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(
    monitoringRouter({
      registry,
      checks: { redis: () => monitorRedis.ping(), mongodb: () => mongo.db().command({ ping: 1 }) },
    }),
  );
  const server = app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host}:${port}`;
  dispatcher.start();
  logger.info(`dispatcher ${config.consumer} claiming lanes; metrics ${url}/metrics, health ${url}/health/ready`);

  return {
    url,
    logger,
    async close() {
      await dispatcher.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([redis.quit(), monitorRedis.quit(), mongo.close()]);
      if (options.logger === undefined) await closeLogger(logger);
    },
  };
}
