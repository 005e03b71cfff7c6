import { ConfigError } from '@commstrat/core';

/** Where the CLI finds the servers: the same variables the tiers read (docs/configuration.md). */
export interface CliConfig {
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key. Default `commstrat:`. */
  readonly redisPrefix: string;
  /** The database in the path holds the journal. */
  readonly mongoUrl: string | undefined;
}

const STACK_HINT = 'run `eval "$(scripts/stack env)"` in the repository, or export it';

/**
 * Reads the CLI's settings from the environment, once, in main. A command asks for the
 * connections it needs (`redisUrl(config)`), so `inspect` runs without MongoDB settings.
 */
export function loadCliConfig(env: Readonly<Record<string, string | undefined>>): CliConfig {
  const value = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  return Object.freeze({
    redisUrl: value('COMMSTRAT_REDIS_URL'),
    redisPrefix: value('COMMSTRAT_REDIS_PREFIX') ?? 'commstrat:',
    mongoUrl: value('COMMSTRAT_MONGO_URL'),
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
