// /v1/admin/keys: a key is shown once and stored as its digest only; a revoked key is
// refused by every ingest replica within 2 s (NOTIFY evicts the key caches, whose TTL is
// 30 s); scopes are enforced on message and admin routes; a tenant's admin sees and
// revokes only its own tenant's keys.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { TenantCache } from '@commstrat/config';
import { as, call, keyWith, sms } from './admin-support.ts';
import { eventually, holdFor } from './harness.ts';
import { startDeployment } from './services.ts';

test('an admin creates, lists and revokes a key, and two ingest replicas refuse it within 2 s', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const second = await deployment.startIngest();
  const admin = as(deployment, await keyWith(deployment, ['admin']));

  const created = await admin('POST', '/v1/admin/keys', { label: 'billing service', scopes: ['send', 'read'] });
  assert.equal(created.status, 201, created.text);
  const { key, id } = created.body as { key: string; id: string };
  assert.match(key, /^cs_[A-Za-z0-9_-]{32}$/);
  assert.deepEqual({ ...created.body, key: undefined, id: undefined, created_at: undefined }, {
    label: 'billing service', scopes: ['send', 'read'], revoked_at: null, key: undefined, id: undefined, created_at: undefined,
  });
  const [row] = await deployment.sql<{ key_sha256: Buffer }[]>`SELECT key_sha256 FROM api_keys WHERE id = ${id}`;
  assert.deepEqual(row?.key_sha256, createHash('sha256').update(key).digest(), 'stored as its SHA-256 digest');

  const listed = await admin('GET', '/v1/admin/keys');
  assert.equal(listed.status, 200);
  const mine = (listed.body.keys as { id: string }[]).find((k) => k.id === id);
  assert.deepEqual(Object.keys(mine ?? {}).sort(), ['created_at', 'id', 'label', 'revoked_at', 'scopes']);
  assert.ok(!listed.text.includes(key) && !listed.text.includes(row?.key_sha256.toString('hex') ?? '-'), 'no key and no digest listed');

  // Both replicas have it cached as valid before it is revoked.
  for (const url of [deployment.ingest.url, second.url]) assert.equal((await call(url, key, 'GET', '/v1/messages')).status, 200, url);
  const revoked = await admin('DELETE', `/v1/admin/keys/${id}`);
  assert.equal(revoked.status, 200, revoked.text);
  assert.ok(!Number.isNaN(Date.parse(revoked.body.revoked_at)), 'revoked_at is set');
  await Promise.all(
    [deployment.ingest.url, second.url].map((url) =>
      eventually(`the revoked key refused by ${url}`, async () => ((await call(url, key, 'GET', '/v1/messages')).status === 401 ? true : undefined), 2_000, 50),
    ),
  );
  const again = await admin('DELETE', `/v1/admin/keys/${id}`);
  assert.equal(again.status, 200, 'revoking twice is harmless');
  assert.equal(again.body.revoked_at, revoked.body.revoked_at);
  assert.equal((await admin('DELETE', '/v1/admin/keys/01NOSUCHKEY')).status, 404);
});

test('scopes hold: read cannot send, send cannot read or administer, admin cannot send, operator is never granted by the API', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const readOnly = as(deployment, await keyWith(deployment, ['read']));
  const sendOnly = as(deployment, await keyWith(deployment, ['send']));
  const admin = as(deployment, await keyWith(deployment, ['admin']));

  const refusedSend = await readOnly('POST', '/v1/messages', sms);
  assert.equal(refusedSend.status, 403);
  assert.equal(refusedSend.body.error.code, 'forbidden');
  assert.equal((await readOnly('POST', '/v1/messages/batch', { messages: [sms] })).status, 403);
  assert.equal((await readOnly('GET', '/v1/messages')).status, 200);
  const sent = await sendOnly('POST', '/v1/messages', sms);
  assert.equal(sent.status, 202);
  assert.equal((await readOnly('GET', `/v1/messages/${sent.body.id}`)).status, 200);
  assert.equal((await sendOnly('GET', `/v1/messages/${sent.body.id}`)).status, 403);
  assert.equal((await readOnly('DELETE', `/v1/messages/${sent.body.id}`)).status, 403);
  assert.equal((await sendOnly('GET', '/v1/admin/keys')).status, 403);
  assert.equal((await admin('POST', '/v1/messages', sms)).status, 403);

  // Bad bodies name the field; nothing is created.
  for (const [input, path] of [
    [{ label: 'x', scopes: ['send', 'operator'] }, '/scopes/1'],
    [{ label: 'x', scopes: [] }, '/scopes'],
    [{ label: 'x' }, '/scopes'],
    [{ label: 7, scopes: ['read'] }, '/label'],
    [{ scopes: ['read'], tenant_id: 'globex' }, '/tenant_id'],
  ] as const) {
    const refused = await admin('POST', '/v1/admin/keys', input);
    assert.equal(refused.status, 422, JSON.stringify(input));
    assert.equal(refused.body.error.code, 'validation_failed');
    assert.ok((refused.body.error.problems as { path: string }[]).some((p) => p.path === path), `${path} in ${refused.text}`);
  }
  const [count] = await deployment.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM api_keys WHERE 'operator' = ANY (scopes)`;
  assert.equal(count?.n, 0);
});

test("a tenant's last admin key cannot be revoked; with a second one it can, even by itself", async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const firstKey = await keyWith(deployment, ['admin']);
  const first = as(deployment, firstKey);
  const [firstRow] = await deployment.sql<{ id: string }[]>`SELECT id FROM api_keys WHERE 'admin' = ANY (scopes)`;
  const refused = await first('DELETE', `/v1/admin/keys/${firstRow?.id}`);
  assert.equal(refused.status, 409, refused.text);
  assert.equal(refused.body.error.code, 'conflict');

  const second = await first('POST', '/v1/admin/keys', { label: 'second admin', scopes: ['admin'] });
  assert.equal(second.status, 201);
  const self = await first('DELETE', `/v1/admin/keys/${firstRow?.id}`);
  assert.equal(self.status, 200, 'a key may revoke itself while another admin key is left');
  await eventually('the self-revoked key refused', async () => ((await first('GET', '/v1/admin/keys')).status === 401 ? true : undefined), 2_000, 50);
  const last = await as(deployment, second.body.key)('DELETE', `/v1/admin/keys/${second.body.id}`);
  assert.equal(last.status, 409, 'now the second is the last');
});

test("a tenant's admin neither sees nor revokes another tenant's keys", async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const acmeAdmin = as(deployment, await keyWith(deployment, ['admin']));
  const globexAdmin = as(deployment, await keyWith(deployment, ['admin'], 'globex'));
  const acmeKey = await acmeAdmin('POST', '/v1/admin/keys', { label: 'acme sender', scopes: ['send'] });

  const seen = await globexAdmin('GET', '/v1/admin/keys');
  assert.equal(seen.status, 200);
  assert.deepEqual((seen.body.keys as { label: string }[]).map((k) => k.label), ['test admin'], 'only its own');
  const revoke = await globexAdmin('DELETE', `/v1/admin/keys/${acmeKey.body.id}`);
  assert.equal(revoke.status, 404, 'answered as a key that does not exist');
  assert.equal((await as(deployment, acmeKey.body.key)('POST', '/v1/messages', sms)).status, 202, 'still works');
});

test('the key cache forgets every key when its listener reconnects, since a NOTIFY sent meanwhile is lost', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const key = await keyWith(deployment, ['send']);
  const cache = new TenantCache(deployment.sql);
  await cache.listen();
  const listeners = () => deployment.sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'listen%' AND pid <> pg_backend_pid()`;
  assert.ok((await listeners()).length > 0, 'the cache listens');
  try {
    assert.equal((await cache.tenantForKey(key))?.id, 'acme');
    // A revocation that notifies no one, as if sent while the listener was away.
    await deployment.sql`ALTER TABLE api_keys DISABLE TRIGGER api_keys_notify_config_change`;
    await deployment.sql`UPDATE api_keys SET revoked_at = now() WHERE 'send' = ANY (scopes) AND NOT 'read' = ANY (scopes)`;
    await holdFor(300, 'a NOTIFY, had one been sent, would have arrived');
    assert.equal((await cache.tenantForKey(key))?.id, 'acme', 'no NOTIFY: still cached');
    // Every listener of this test's database: the ingest replica's and this cache's.
    for (const { pid } of await listeners()) await deployment.sql`SELECT pg_terminate_backend(${pid})`;
    await eventually('the key refused after the listener reconnected', async () => ((await cache.tenantForKey(key)) === null ? true : undefined), 10_000, 100);
  } finally {
    await deployment.sql`ALTER TABLE api_keys ENABLE TRIGGER api_keys_notify_config_change`;
    await cache.close();
  }
});
