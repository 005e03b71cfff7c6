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
  /** Providers and strategies are read from here (cached). */
  postgresUrl: string;
  /** This replica's name in the consumer group. Default `<hostname>-<pid>`. */
  consumer: string;
  /** Most entries claimed per cycle, across lanes. Default 1 000. */
  claimCount: number;
  /** Most entries this replica holds claimed and unacknowledged. Default 5 000. */
  maxInFlight: number;
  /** How long a claim waits on empty lanes, ms. Default 200. */
  blockMs: number;
  /** An entry pending on a consumer this long is taken over by another replica, ms. Default 30 000. */
  visibilityTimeoutMs: number;
  /** Shares of the shared lanes once `critical` is served (weighted round-robin). Defaults 8, 4, 1. */
  weightHigh: number;
  weightNormal: number;
  weightBulk: number;
  /** Consecutive failed requests that open a provider's circuit. Default 5. */
  circuitFailureThreshold: number;
  /** How long an open circuit stays open before one probe, ms. Default 30 000. */
  circuitOpenMs: number;
  logLevel: string;
  gelfHost?: string;
  gelfPort: number;
}

const positive = (fallback: number) => ({ type: 'integer', minimum: 1, default: fallback });

const schema = {
  type: 'object',
  required: ['redisUrl', 'mongoUrl', 'postgresUrl'],
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
    host: { type: 'string', default: '127.0.0.1' },
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    redisPrefix: { type: 'string', default: 'commstrat:' },
    mongoUrl: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
    postgresUrl: { type: 'string', pattern: '^postgres(ql)?://' },
    consumer: { type: 'string', minLength: 1, default: `${hostname()}-${process.pid}` },
    claimCount: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 },
    maxInFlight: positive(5000),
    blockMs: { type: 'integer', minimum: 1, maximum: 60000, default: 200 },
    visibilityTimeoutMs: { type: 'integer', minimum: 100, default: 30000 },
    weightHigh: positive(8),
    weightNormal: positive(4),
    weightBulk: positive(1),
    circuitFailureThreshold: positive(5),
    circuitOpenMs: { type: 'integer', minimum: 10, default: 30000 },
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
      postgresUrl: 'COMMSTRAT_POSTGRES_URL',
      consumer: 'DISPATCHER_CONSUMER',
      claimCount: 'DISPATCHER_CLAIM_COUNT',
      maxInFlight: 'DISPATCHER_MAX_IN_FLIGHT',
      blockMs: 'DISPATCHER_BLOCK_MS',
      visibilityTimeoutMs: 'DISPATCHER_VISIBILITY_TIMEOUT_MS',
      weightHigh: 'DISPATCHER_WEIGHT_HIGH',
      weightNormal: 'DISPATCHER_WEIGHT_NORMAL',
      weightBulk: 'DISPATCHER_WEIGHT_BULK',
      circuitFailureThreshold: 'DISPATCHER_CIRCUIT_FAILURE_THRESHOLD',
      circuitOpenMs: 'DISPATCHER_CIRCUIT_OPEN_MS',
      logLevel: 'COMMSTRAT_LOG_LEVEL',
      gelfHost: 'COMMSTRAT_GELF_HOST',
      gelfPort: 'COMMSTRAT_GELF_PORT',
    },
    env,
  );
}
