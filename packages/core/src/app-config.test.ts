import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAppConfig, tierConfigSchema, tierEnvMap, type TierConfig } from './app-config.ts';
import { ConfigError } from './errors.ts';

interface Config {
  port: number;
  url: string;
}
const schema = {
  type: 'object',
  required: ['url'],
  properties: {
    port: { type: 'integer', minimum: 1, maximum: 65535, default: 8080 },
    url: { type: 'string', pattern: '^redis://' },
  },
};
const envMap = { port: 'APP_PORT', url: 'APP_URL' };

test('config is coerced, defaulted and frozen', () => {
  const config = parseAppConfig<Config>(schema, envMap, { APP_URL: 'redis://x' });
  assert.deepEqual(config, { port: 8080, url: 'redis://x' });
  assert.ok(Object.isFrozen(config));
  assert.equal(parseAppConfig<Config>(schema, envMap, { APP_URL: 'redis://x', APP_PORT: '99' }).port, 99);
});

test('a bad or missing value names its environment variable', () => {
  assert.throws(
    () => parseAppConfig<Config>(schema, envMap, { APP_PORT: 'abc' }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.some((p) => p.path === 'APP_PORT') &&
      error.problems.some((p) => p.path === 'APP_URL'),
  );
});

test('a tier reads its own port and host and the shared servers, and names the variable of each bad one', () => {
  const tier = tierConfigSchema(8081);
  const schema = { type: 'object', required: tier.required, properties: tier.properties };
  const servers = { COMMSTRAT_REDIS_URL: 'redis://r', COMMSTRAT_MONGO_URL: 'mongodb://m/db', COMMSTRAT_POSTGRES_URL: 'postgres://p/db' };
  const config = parseAppConfig<TierConfig>(schema, tierEnvMap('DISPATCHER'), { ...servers, DISPATCHER_PORT: '9001', INGEST_PORT: '1' });
  assert.equal(config.port, 9001);
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.gelfPort, 12201);
  assert.equal(parseAppConfig<TierConfig>(schema, tierEnvMap('DISPATCHER'), servers).port, 8081);
  assert.throws(
    () => parseAppConfig<TierConfig>(schema, tierEnvMap('INGEST'), { ...servers, COMMSTRAT_REDIS_URL: 'http://r', INGEST_PORT: '70000' }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.map((p) => p.path).sort().join(',') === 'COMMSTRAT_REDIS_URL,INGEST_PORT',
  );
});
