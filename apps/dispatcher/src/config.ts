import { hostname } from 'node:os';
import { parseAppConfig } from '@commstrat/core';

export interface DispatcherConfig {
  /** HTTP port of /metrics and /health. Default 8081. */
  port: number;
  host: string;
  redisUrl: string;
  /** Prefix of every Redis key. Default `commstrat:`. */
  redisPrefix: string;
  mongoUrl: string;
  /** This replica's name in the consumer group. Default `<hostname>-<pid>`. */
  consumer: string;
  /** Most entries claimed per lane per cycle. Default 500. */
  claimCount: number;
  /** How long a claim waits on empty lanes, in ms. Default 1000. */
  blockMs: number;
  /** Base URL of the sandbox SMS provider (the only provider until strategies exist). */
  sandboxUrl: string;
  sandboxToken: string;
  /** Most messages per provider request. Default 100. */
  providerBatchSize: number;
  /** Provider requests in flight at once. Default 4. */
  providerConcurrency: number;
  /** Provider request time limit, in ms. Default 10 000. */
  providerTimeoutMs: number;
  /** Attempts per message before it is dead-lettered. Default 5. */
  maxAttempts: number;
  logLevel: string;
  gelfHost?: string;
  gelfPort: number;
}

const schema = {
  type: 'object',
  required: ['redisUrl', 'mongoUrl'],
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
    host: { type: 'string', default: '127.0.0.1' },
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    redisPrefix: { type: 'string', default: 'commstrat:' },
    mongoUrl: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
    consumer: { type: 'string', minLength: 1, default: `${hostname()}-${process.pid}` },
    claimCount: { type: 'integer', minimum: 1, maximum: 10000, default: 500 },
    blockMs: { type: 'integer', minimum: 1, maximum: 60000, default: 1000 },
    sandboxUrl: { type: 'string', pattern: '^https?://', default: 'http://127.0.0.1:8082' },
    sandboxToken: { type: 'string', minLength: 1, default: 'sandbox-token' },
    providerBatchSize: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
    providerConcurrency: { type: 'integer', minimum: 1, maximum: 256, default: 4 },
    providerTimeoutMs: { type: 'integer', minimum: 100, default: 10000 },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 5 },
    logLevel: { type: 'string', enum: ['error', 'warn', 'info', 'debug'], default: 'info' },
    gelfHost: { type: 'string' },
    gelfPort: { type: 'integer', minimum: 1, maximum: 65535, default: 12201 },
  },
};

/** Reads the dispatcher configuration from the environment, once, at start-up. */
export function loadDispatcherConfig(
  env: Readonly<Record<string, string | undefined>>,
): Readonly<DispatcherConfig> {
  return parseAppConfig<DispatcherConfig>(
    schema,
    {
      port: 'DISPATCHER_PORT',
      host: 'DISPATCHER_HOST',
      redisUrl: 'COMMSTRAT_REDIS_URL',
      redisPrefix: 'COMMSTRAT_REDIS_PREFIX',
      mongoUrl: 'COMMSTRAT_MONGO_URL',
      consumer: 'DISPATCHER_CONSUMER',
      claimCount: 'DISPATCHER_CLAIM_COUNT',
      blockMs: 'DISPATCHER_BLOCK_MS',
      sandboxUrl: 'COMMSTRAT_SANDBOX_URL',
      sandboxToken: 'SANDBOX_TOKEN',
      providerBatchSize: 'DISPATCHER_PROVIDER_BATCH_SIZE',
      providerConcurrency: 'DISPATCHER_PROVIDER_CONCURRENCY',
      providerTimeoutMs: 'DISPATCHER_PROVIDER_TIMEOUT_MS',
      maxAttempts: 'DISPATCHER_MAX_ATTEMPTS',
      logLevel: 'COMMSTRAT_LOG_LEVEL',
      gelfHost: 'COMMSTRAT_GELF_HOST',
      gelfPort: 'COMMSTRAT_GELF_PORT',
    },
    env,
  );
}
