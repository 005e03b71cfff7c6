// /v1/admin/tenant (the caller's own tenant) and /v1/admin/tenants (operator keys only:
// create a tenant with its first admin key, list every tenant).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { as, keyWith } from './admin-support.ts';
import { startDeployment } from './services.ts';

test("an admin reads and changes its own tenant's name, zone and default locale; a bad zone, locale or field is refused by its path", async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = as(deployment, await keyWith(deployment, ['admin']));

  const before = await admin('GET', '/v1/admin/tenant');
  assert.equal(before.status, 200);
  assert.deepEqual({ ...before.body, created_at: undefined }, { id: 'acme', name: 'Acme', time_zone: 'UTC', default_locale: null, created_at: undefined });
  const patched = await admin('PATCH', '/v1/admin/tenant', { name: 'Acme GmbH', time_zone: 'Europe/Berlin' });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.time_zone, 'Europe/Berlin');
  assert.equal((await admin('GET', '/v1/admin/tenant')).body.name, 'Acme GmbH');
  const [zone] = await deployment.sql<{ time_zone: string }[]>`SELECT time_zone FROM tenants WHERE id = 'acme'`;
  assert.equal(zone?.time_zone, 'Europe/Berlin');

  for (const [input, path] of [
    [{ time_zone: 'Mars/Olympus_Mons' }, '/time_zone'],
    [{ name: '' }, '/name'],
    [{ id: 'globex' }, '/id'],
    [{ name: 5 }, '/name'],
    [{ default_locale: 'ru_RU' }, '/default_locale'],
    [{ default_locale: 'ru-ru' }, '/default_locale'],
  ] as const) {
    const refused = await admin('PATCH', '/v1/admin/tenant', input);
    assert.equal(refused.status, 422, JSON.stringify(input));
    assert.deepEqual(refused.body.error.problems.map((p: { path: string }) => p.path), [path]);
  }
  assert.equal((await admin('PATCH', '/v1/admin/tenant', [])).status, 422);
  const localised = await admin('PATCH', '/v1/admin/tenant', { default_locale: 'ru-RU' });
  assert.equal(localised.body.default_locale, 'ru-RU', localised.text);
  assert.equal((await admin('PATCH', '/v1/admin/tenant', { default_locale: null })).body.default_locale, null);
  const audit = await deployment.sql<{ details: any }[]>`SELECT details FROM audit WHERE action = 'tenant.update' ORDER BY id`;
  assert.equal(audit.length, 3, 'one row per change; refused patches wrote none');
  assert.deepEqual(audit[0]?.details, {
    before: { id: 'acme', name: 'Acme', time_zone: 'UTC', default_locale: null },
    after: { id: 'acme', name: 'Acme GmbH', time_zone: 'Europe/Berlin', default_locale: null },
  });
  assert.deepEqual([audit[1]?.details.after.default_locale, audit[2]?.details.after.default_locale], ['ru-RU', null]);
});

test('an operator key creates a tenant with its first admin key and lists tenants; no other key may', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const operator = as(deployment, await keyWith(deployment, ['operator']));
  const admin = as(deployment, await keyWith(deployment, ['admin']));

  assert.equal((await admin('POST', '/v1/admin/tenants', { id: 'globex', name: 'Globex' })).status, 403);
  assert.equal((await admin('GET', '/v1/admin/tenants')).status, 403);
  const created = await operator('POST', '/v1/admin/tenants', { id: 'globex', name: 'Globex', time_zone: 'America/New_York' });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.time_zone, 'America/New_York');
  assert.deepEqual(created.body.admin_key.scopes, ['admin']);
  const globexAdmin = as(deployment, created.body.admin_key.key);
  assert.equal((await globexAdmin('GET', '/v1/admin/tenant')).body.id, 'globex', 'the first admin key is of the new tenant');
  const globexAudit = await globexAdmin('GET', '/v1/admin/audit');
  assert.deepEqual(globexAudit.body.entries.map((e: { action: string }) => e.action), ['api_key.create', 'tenant.create']);

  const duplicate = await operator('POST', '/v1/admin/tenants', { id: 'globex', name: 'Globex again' });
  assert.equal(duplicate.status, 409);
  assert.equal(duplicate.body.error.code, 'conflict');
  for (const [input, path] of [
    [{ id: 'has space', name: 'x' }, '/id'],
    [{ id: 'initech', name: 'x', time_zone: 'Nowhere/City' }, '/time_zone'],
    [{ id: 'initech' }, '/name'],
  ] as const) {
    const refused = await operator('POST', '/v1/admin/tenants', input);
    assert.equal(refused.status, 422, JSON.stringify(input));
    assert.deepEqual(refused.body.error.problems.map((p: { path: string }) => p.path), [path]);
  }
  assert.equal((await operator('POST', '/v1/admin/tenants', { id: 'initech', name: 'Initech' })).body.time_zone, 'UTC', 'UTC by default');

  const all = await operator('GET', '/v1/admin/tenants');
  assert.deepEqual(all.body.tenants.map((t: { id: string }) => t.id), ['acme', 'globex', 'initech']);
  assert.equal(all.body.next_after, null);
  const page = await operator('GET', '/v1/admin/tenants?limit=2');
  assert.deepEqual([page.body.tenants.length, page.body.next_after], [2, 'globex']);
  const rest = await operator('GET', `/v1/admin/tenants?limit=2&after=${page.body.next_after}`);
  assert.deepEqual(rest.body.tenants.map((t: { id: string }) => t.id), ['initech']);
  assert.equal((await operator('GET', '/v1/admin/tenants?limit=0')).body.error.problems[0].path, '/limit');
  // The operator scope is no admin scope: its own tenant's configuration stays closed to it.
  assert.equal((await operator('GET', '/v1/admin/tenant')).status, 403);
});
