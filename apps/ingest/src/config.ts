import { parseAppConfig } from '@commstrat/core';

export interface IngestConfig {
  /** HTTP port of the API, /metrics and /health. Default 8080. */
  port: number;
  host: string;
  redisUrl: string;
  /** Prefix of every Redis key. Default `commstrat:`. */
  redisPrefix: string;
  mongoUrl: string;
  postgresUrl: string;
  /** Largest request body, in bytes. Default 10 MiB. */
  maxBodyBytes: number;
  logLevel: string;
  gelfHost?: string;
  gelfPort: number;
}

const schema = {
  type: 'object',
  required: ['redisUrl', 'mongoUrl', 'postgresUrl'],
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    host: { type: 'string', default: '127.0.0.1' },
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    redisPrefix: { type: 'string', default: 'commstrat:' },
    mongoUrl: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
    postgresUrl: { type: 'string', pattern: '^postgres(ql)?://' },
    maxBodyBytes: { type: 'integer', minimum: 1024, default: 10 * 1024 * 1024 },
    logLevel: { type: 'string', enum: ['error', 'warn', 'info', 'debug'], default: 'info' },
    gelfHost: { type: 'string' },
    gelfPort: { type: 'integer', minimum: 1, maximum: 65535, default: 12201 },
  },
};

/** Reads the ingest configuration from the environment, once, at start-up. */
export function loadIngestConfig(env: Readonly<Record<string, string | undefined>>): Readonly<IngestConfig> {
  return parseAppConfig<IngestConfig>(
    schema,
    {
      port: 'INGEST_PORT',
      host: 'INGEST_HOST',
      redisUrl: 'COMMSTRAT_REDIS_URL',
      redisPrefix: 'COMMSTRAT_REDIS_PREFIX',
      mongoUrl: 'COMMSTRAT_MONGO_URL',
      postgresUrl: 'COMMSTRAT_POSTGRES_URL',
      maxBodyBytes: 'INGEST_MAX_BODY_BYTES',
      logLevel: 'COMMSTRAT_LOG_LEVEL',
      gelfHost: 'COMMSTRAT_GELF_HOST',
      gelfPort: 'COMMSTRAT_GELF_PORT',
    },
    env,
  );
}
