import { createAjv, toFieldProblems } from './ajv.ts';
import { ConfigError } from './errors.ts';
import { DEFAULT_REDIS_PREFIX } from './lanes.ts';

/** Maps each config field to the environment variable it is read from. */
export type EnvMap<T> = { readonly [K in keyof T]-?: string };

/**
 * Parses an app's configuration once at start-up: picks the mapped variables out of
 * `env`, coerces and defaults them by `schema`, and names the variable of every bad
 * field. The result is frozen; pass it in, never read the environment again.
 */
export function parseAppConfig<T extends object>(
  schema: object,
  envMap: EnvMap<T>,
  env: Readonly<Record<string, string | undefined>>,
): Readonly<T> {
  const raw: Record<string, string> = {};
  for (const [field, variable] of Object.entries<string>(envMap)) {
    const value = env[variable];
    if (value !== undefined && value !== '') raw[field] = value;
  }
  const validate = createAjv({ coerceTypes: true }).compile<T>(schema);
  if (!validate(raw)) {
    const problems = toFieldProblems(validate.errors).map((problem) => {
      const field = problem.path.split('/')[1] ?? '';
      const variable = (envMap as Record<string, string>)[field];
      return { path: variable ?? problem.path, message: problem.message };
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(raw as T);
}

/** The settings every tier has: where it listens, the servers it uses, where it logs. */
export interface TierConfig {
  /** HTTP port of the tier's API (if any), /metrics and /health. */
  port: number;
  /** Listen address. Default 127.0.0.1. */
  host: string;
  redisUrl: string;
  /** Prefix of every Redis key. Default `commstrat:`. */
  redisPrefix: string;
  /** The database in the path holds the journal. */
  mongoUrl: string;
  /** Tenants, keys, providers and strategies (cached). */
  postgresUrl: string;
  logLevel: string;
  /** Graylog GELF UDP host; unset: no GELF (logs go to stdout either way). */
  gelfHost?: string;
  /** Default 12201. */
  gelfPort: number;
  /**
   * Longest a MongoDB request may go without an answer before its connection is dropped
   * and the request fails, ms (the driver's socketTimeoutMS). A server that stops
   * answering would otherwise hold a journal write, and what waits on it, for ever.
   * Default 30 000.
   */
  mongoSocketTimeoutMs: number;
  /**
   * How often the routing configuration held is read again, ms, besides the reload on
   * every PostgreSQL NOTIFY of a change. Default 10 000.
   */
  configRefreshMs: number;
  /**
   * How long the last known routing configuration keeps serving while PostgreSQL cannot
   * be read, ms; past it messages wait for the store. Default 86 400 000 (24 h).
   */
  configMaxStaleMs: number;
  /** Phone numbers in log lines: `partial` (`+7916*****67`, default), `full` or `off`. */
  logMaskPhone: 'partial' | 'full' | 'off';
  /** E-mail addresses in log lines: `partial` (`j*****@example.com`, default), `full` or `off`. */
  logMaskEmail: 'partial' | 'full' | 'off';
  /** Message text, subject, template variables: `partial` (length only, default), `full` or `off`. */
  logMaskText: 'partial' | 'full' | 'off';
  /** API keys, provider credentials, Authorization headers: `full` (default) or `partial` (first 4 characters). */
  logMaskCredentials: 'partial' | 'full';
  /** More field names, comma-separated, whose values are always hidden in log lines. */
  logMaskFields?: string;
  /**
   * Label metrics by tenant. Default true; set false where tenants are many, so every
   * series stays one per provider (the tenant part of the provider label is dropped too).
   */
  metricsTenantLabel: boolean;
  /**
   * Internal hosts and address ranges the service may call on a tenant's behalf although
   * the egress policy refuses internal addresses: comma-separated `name[:port]`,
   * `*.domain[:port]`, `ipv4[/bits][:port]` or `[ipv6[/bits]][:port]` entries
   * (docs/security.md). Default none: only public addresses are called.
   */
  egressAllow: string;
}

/** The JSON Schema fields of TierConfig, listening on `defaultPort` unless told. */
export function tierConfigSchema(defaultPort: number) {
  return {
    required: ['redisUrl', 'mongoUrl', 'postgresUrl'],
    properties: {
      port: { type: 'integer', minimum: 0, maximum: 65535, default: defaultPort },
      host: { type: 'string', default: '127.0.0.1' },
      redisUrl: { type: 'string', pattern: '^rediss?://' },
      redisPrefix: { type: 'string', default: DEFAULT_REDIS_PREFIX },
      mongoUrl: { type: 'string', pattern: '^mongodb(\\+srv)?://' },
      postgresUrl: { type: 'string', pattern: '^postgres(ql)?://' },
      logLevel: { type: 'string', enum: ['error', 'warn', 'info', 'debug'], default: 'info' },
      gelfHost: { type: 'string' },
      gelfPort: { type: 'integer', minimum: 1, maximum: 65535, default: 12201 },
      mongoSocketTimeoutMs: { type: 'integer', minimum: 1000, default: 30_000 },
      configRefreshMs: { type: 'integer', minimum: 100, default: 10_000 },
      configMaxStaleMs: { type: 'integer', minimum: 1000, default: 86_400_000 },
      logMaskPhone: { type: 'string', enum: ['partial', 'full', 'off'], default: 'partial' },
      logMaskEmail: { type: 'string', enum: ['partial', 'full', 'off'], default: 'partial' },
      logMaskText: { type: 'string', enum: ['partial', 'full', 'off'], default: 'partial' },
      // Credentials are never logged in clear: there is no `off`.
      logMaskCredentials: { type: 'string', enum: ['partial', 'full'], default: 'full' },
      logMaskFields: { type: 'string', pattern: '^\\s*[\\w.-]+(\\s*,\\s*[\\w.-]+)*\\s*$' },
      metricsTenantLabel: { type: 'boolean', default: true },
      egressAllow: { type: 'string', maxLength: 10_000, default: '' },
    },
  };
}

/** Where TierConfig is read from: `<TIER>_PORT` and `<TIER>_HOST`, the rest shared by all tiers. */
export function tierEnvMap(tier: 'INGEST' | 'DISPATCHER'): EnvMap<TierConfig> {
  return {
    port: `${tier}_PORT`,
    host: `${tier}_HOST`,
    redisUrl: 'COMMSTRAT_REDIS_URL',
    redisPrefix: 'COMMSTRAT_REDIS_PREFIX',
    mongoUrl: 'COMMSTRAT_MONGO_URL',
    postgresUrl: 'COMMSTRAT_POSTGRES_URL',
    logLevel: 'COMMSTRAT_LOG_LEVEL',
    gelfHost: 'COMMSTRAT_GELF_HOST',
    gelfPort: 'COMMSTRAT_GELF_PORT',
    mongoSocketTimeoutMs: 'COMMSTRAT_MONGO_SOCKET_TIMEOUT_MS',
    configRefreshMs: 'COMMSTRAT_CONFIG_REFRESH_MS',
    configMaxStaleMs: 'COMMSTRAT_CONFIG_MAX_STALE_MS',
    logMaskPhone: 'COMMSTRAT_LOG_MASK_PHONE',
    logMaskEmail: 'COMMSTRAT_LOG_MASK_EMAIL',
    logMaskText: 'COMMSTRAT_LOG_MASK_TEXT',
    logMaskCredentials: 'COMMSTRAT_LOG_MASK_CREDENTIALS',
    logMaskFields: 'COMMSTRAT_LOG_MASK_FIELDS',
    metricsTenantLabel: 'COMMSTRAT_METRICS_TENANT_LABEL',
    egressAllow: 'COMMSTRAT_EGRESS_ALLOW',
  };
}
