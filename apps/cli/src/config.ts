import { ConfigError, DEFAULT_REDIS_PREFIX } from '@commstrat/core';

/** Where the CLI finds the servers: the same variables the tiers read (docs/configuration.md). */
export interface CliConfig {
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key. Default `commstrat:`. */
  readonly redisPrefix: string;
  /** The database in the path holds the journal. */
  readonly mongoUrl: string | undefined;
  /** `COMMSTRAT_INGEST_URL`: where the admin commands reach ingest's API. Default `http://127.0.0.1:8080`. */
  readonly ingestUrl: string;
  /** `COMMSTRAT_ADMIN_KEY`: an API key with the `admin` scope; `--admin-key` wins over it. */
  readonly adminKey: string | undefined;
}

/** Where ingest listens when nothing says otherwise: `INGEST_PORT`'s default on this machine. */
export const DEFAULT_INGEST_URL = 'http://127.0.0.1:8080';

const STACK_HINT = 'run `eval "$(scripts/stack env)"` in the repository, or export it';

/**
 * Reads the CLI's settings from the environment, once, in main. A command asks for the
 * connections it needs (`redisUrl(config)`), so `inspect` runs without MongoDB settings.
 */
export function loadCliConfig(env: Readonly<Record<string, string | undefined>>): CliConfig {
  const value = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  return Object.freeze({
    redisUrl: value('COMMSTRAT_REDIS_URL'),
    redisPrefix: value('COMMSTRAT_REDIS_PREFIX') ?? DEFAULT_REDIS_PREFIX,
    mongoUrl: value('COMMSTRAT_MONGO_URL'),
    ingestUrl: value('COMMSTRAT_INGEST_URL') ?? DEFAULT_INGEST_URL,
    adminKey: value('COMMSTRAT_ADMIN_KEY'),
  });
}

/** The Redis URL, or a ConfigError that says how to set it. */
export function requireRedisUrl(config: CliConfig): string {
  const url = config.redisUrl;
  if (url === undefined) throw new ConfigError([{ path: 'COMMSTRAT_REDIS_URL', message: `is not set: ${STACK_HINT}` }]);
  if (!/^rediss?:\/\//.test(url)) {
    throw new ConfigError([{ path: 'COMMSTRAT_REDIS_URL', message: `must start with redis:// or rediss://, got "${url}"` }]);
  }
  return url;
}

/** The MongoDB URL (with the journal's database in its path), or a ConfigError that says how to set it. */
export function requireMongoUrl(config: CliConfig): string {
  const url = config.mongoUrl;
  if (url === undefined) throw new ConfigError([{ path: 'COMMSTRAT_MONGO_URL', message: `is not set: ${STACK_HINT}` }]);
  if (!/^mongodb(\+srv)?:\/\//.test(url)) {
    throw new ConfigError([{ path: 'COMMSTRAT_MONGO_URL', message: `must start with mongodb:// or mongodb+srv://, got "${url}"` }]);
  }
  return url;
}

/** What the admin commands talk to: ingest's base URL and the admin key to send. */
export interface AdminTarget {
  readonly url: string;
  readonly key: string;
}

/**
 * The ingest URL and admin key for an admin command: `--ingest-url` / `--admin-key` over
 * the environment. A ConfigError names the flag and the variable when one is missing or bad.
 */
export function requireAdminTarget(config: CliConfig, flags: { readonly ingestUrl?: string; readonly adminKey?: string }): AdminTarget {
  const url = (flags.ingestUrl ?? config.ingestUrl).replace(/\/+$/, '');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigError([{ path: flags.ingestUrl === undefined ? 'COMMSTRAT_INGEST_URL' : '--ingest-url', message: `must be an http:// or https:// URL, got "${url}"` }]);
  }
  const key = flags.adminKey === undefined || flags.adminKey === '' ? config.adminKey : flags.adminKey;
  if (key === undefined) {
    throw new ConfigError([{ path: 'COMMSTRAT_ADMIN_KEY', message: 'is not set: pass --admin-key, or export an API key with the admin scope (on the local stack `eval "$(scripts/stack env)"` sets it)' }]);
  }
  return { url, key };
}
