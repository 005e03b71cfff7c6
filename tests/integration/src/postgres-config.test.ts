import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TenantCache,
  ensureTenantWithKey,
  findTenantByApiKey,
  generateApiKey,
  migrate,
} from '@commstrat/config';
import { testPostgres } from './harness.ts';

test('migrations apply once; a second run applies nothing', async () => {
  const { sql } = await testPostgres();
  assert.deepEqual(await migrate(sql), []);
  const tables = await sql<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
  assert.deepEqual(
    tables.map((t) => t.table_name),
    ['api_keys', 'audit', 'provider_definitions', 'providers', 'schema_migrations', 'stop_list', 'strategies', 'templates', 'tenants'],
  );
});

test('an API key authenticates its tenant, and is stored only as a digest', async () => {
  const { sql } = await testPostgres();
  const key = generateApiKey();
  await ensureTenantWithKey(sql, { id: 'acme', name: 'Acme' }, key);
  await ensureTenantWithKey(sql, { id: 'acme', name: 'Acme' }, key); // repeating is harmless

  const found = await findTenantByApiKey(sql, key);
  assert.deepEqual({ ...found, keyId: undefined }, { id: 'acme', name: 'Acme', scopes: ['send', 'read'], keyId: undefined });
  assert.match(found?.keyId ?? '', /^[0-9A-Z]{26}$/, 'the key id, for the audit log');
  assert.equal(await findTenantByApiKey(sql, `${key}x`), null);
  const stored = await sql`SELECT key_sha256 FROM api_keys`;
  assert.equal(stored.length, 1);
  assert.ok(!Buffer.from(stored[0]!['key_sha256'] as Uint8Array).toString('utf8').includes(key));
});

test('a revoked key stops authenticating once the cache entry expires', async () => {
  const { sql } = await testPostgres();
  const key = generateApiKey();
  await ensureTenantWithKey(sql, { id: 'acme', name: 'Acme' }, key);
  const cache = new TenantCache(sql, { ttlMs: 1000 });
  assert.equal((await cache.tenantForKey(key, 0))?.id, 'acme');
  await sql`UPDATE api_keys SET revoked_at = now()`;
  assert.equal((await cache.tenantForKey(key, 500))?.id, 'acme', 'still cached');
  assert.equal(await cache.tenantForKey(key, 1500), null);
});
