import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@commstrat/core';
import { loadIngestConfig } from './config.ts';

const servers = { COMMSTRAT_REDIS_URL: 'redis://r', COMMSTRAT_MONGO_URL: 'mongodb://m/db', COMMSTRAT_POSTGRES_URL: 'postgres://p/db' };

test('the template limits default to a 50 ms render limit, a 1 s hard limit, a 128 MB worker heap and a 1 s budget per request', () => {
  const config = loadIngestConfig(servers);
  assert.deepEqual(
    [config.templateRenderLimitMs, config.templateHardTimeoutMs, config.templateWorkerHeapMb, config.templateRenderBudgetMs],
    [50, 1000, 128, 1000],
  );
});

test('a hard limit not above twice the render limit is refused, naming the variable', () => {
  assert.throws(
    () => loadIngestConfig({ ...servers, INGEST_TEMPLATE_RENDER_LIMIT_MS: '500', INGEST_TEMPLATE_HARD_TIMEOUT_MS: '1000' }),
    (error: unknown) => error instanceof ConfigError && error.problems[0]?.path === 'INGEST_TEMPLATE_HARD_TIMEOUT_MS',
  );
  assert.equal(loadIngestConfig({ ...servers, INGEST_TEMPLATE_RENDER_LIMIT_MS: '400', INGEST_TEMPLATE_HARD_TIMEOUT_MS: '1000' }).templateRenderLimitMs, 400);
});
