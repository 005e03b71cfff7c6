import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAppConfig } from './app-config.ts';
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
