import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@commstrat/core';
import { loadCliConfig, requireAdminTarget } from './config.ts';

const pathOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems[0]?.path;
  }
  assert.fail('no error');
};

test('the admin target is the flags over the environment, over the default URL', () => {
  const none = loadCliConfig({ COMMSTRAT_ADMIN_KEY: 'cs_env' });
  assert.deepEqual(requireAdminTarget(none, {}), { url: 'http://127.0.0.1:8080', key: 'cs_env' });
  const env = loadCliConfig({ COMMSTRAT_INGEST_URL: 'https://ingest.example/', COMMSTRAT_ADMIN_KEY: 'cs_env' });
  assert.deepEqual(requireAdminTarget(env, {}), { url: 'https://ingest.example', key: 'cs_env' }, 'no trailing slash');
  assert.deepEqual(requireAdminTarget(env, { ingestUrl: 'http://10.0.0.5:8080', adminKey: 'cs_flag' }), { url: 'http://10.0.0.5:8080', key: 'cs_flag' });
});

test('a missing key or a URL that is not http(s) names the variable or flag to fix', () => {
  assert.equal(pathOf(() => requireAdminTarget(loadCliConfig({ COMMSTRAT_ADMIN_KEY: '' }), {})), 'COMMSTRAT_ADMIN_KEY');
  assert.equal(pathOf(() => requireAdminTarget(loadCliConfig({ COMMSTRAT_INGEST_URL: '127.0.0.1:8080', COMMSTRAT_ADMIN_KEY: 'k' }), {})), 'COMMSTRAT_INGEST_URL');
  assert.equal(pathOf(() => requireAdminTarget(loadCliConfig({ COMMSTRAT_ADMIN_KEY: 'k' }), { ingestUrl: 'ftp://x' })), '--ingest-url');
});
