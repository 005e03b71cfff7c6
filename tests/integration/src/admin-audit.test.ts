// Strategy diff and rollback, and the audit log: every admin change writes a row with
// the actor and the state before and after, in the change's own transaction.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { as, keyWith } from './admin-support.ts';
import { startDeployment } from './services.ts';

const otp = (ttl: number, providers = ['sandbox-sms']) => ({
  name: 'otp',
  channel: 'sms',
  steps: [{ route: { mode: 'failover', providers }, ttl_seconds: ttl }],
});

test('diff names what changed between versions; rollback saves the old definition as a new version', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = as(deployment, await keyWith(deployment, ['admin']));
  assert.equal((await admin('POST', '/v1/admin/strategies', otp(300))).status, 201);
  assert.equal((await admin('POST', '/v1/admin/strategies', otp(600))).status, 201);

  const diff = await admin('GET', '/v1/admin/strategies/otp/diff?from=1&to=2');
  assert.equal(diff.status, 200, diff.text);
  assert.deepEqual(diff.body, { name: 'otp', from: 1, to: 2, changes: [{ path: '/steps/0/ttl_seconds', before: 300, after: 600 }] });
  assert.equal((await admin('GET', '/v1/admin/strategies/otp/diff?from=1')).body.to, 2, 'to: the newest by default');
  assert.deepEqual((await admin('GET', '/v1/admin/strategies/otp/diff?from=2&to=2')).body.changes, []);
  assert.equal((await admin('GET', '/v1/admin/strategies/otp/diff?from=1&to=9')).status, 404);
  assert.equal((await admin('GET', '/v1/admin/strategies/nope/diff?from=1')).status, 404);
  for (const [query, paths] of [['', ['/from']], ['?from=x&to=0', ['/from', '/to']]] as const) {
    const refused = await admin('GET', `/v1/admin/strategies/otp/diff${query}`);
    assert.equal(refused.status, 422, query);
    assert.deepEqual(refused.body.error.problems.map((p: { path: string }) => p.path), paths);
  }

  const rolledBack = await admin('POST', '/v1/admin/strategies/otp/rollback', { to_version: 1 });
  assert.equal(rolledBack.status, 201, rolledBack.text);
  assert.equal(rolledBack.body.version, 3);
  assert.deepEqual(rolledBack.body.definition, (await admin('GET', '/v1/admin/strategies/otp?version=1')).body.definition);
  assert.deepEqual((await admin('GET', '/v1/admin/strategies/otp/diff?from=1&to=3')).body.changes, []);
  assert.equal((await admin('GET', '/v1/admin/strategies/otp?version=2')).body.definition.steps[0].ttl_seconds, 600, 'version 2 is kept as it was');
  assert.equal((await admin('GET', '/v1/admin/strategies/otp')).body.version, 3);

  assert.equal((await admin('POST', '/v1/admin/strategies/otp/rollback', { to_version: 9 })).status, 404);
  const bad = await admin('POST', '/v1/admin/strategies/otp/rollback', { to_version: '1' });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.error.problems.map((p: { path: string }) => p.path), ['/to_version']);
  const [count] = await deployment.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM strategies WHERE name = 'otp'`;
  assert.equal(count?.n, 3, 'refused rollbacks saved nothing');
});

test('every admin change is audited with its actor and the state before and after, and each tenant reads only its own log', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const adminKey = await keyWith(deployment, ['admin']);
  const admin = as(deployment, adminKey);
  const [adminRow] = await deployment.sql<{ id: string }[]>`SELECT id FROM api_keys WHERE 'admin' = ANY (scopes)`;
  const globexAdmin = as(deployment, await keyWith(deployment, ['admin'], 'globex'));
  const [auditedBefore] = await deployment.sql<{ n: number }[]>`SELECT max(id)::int AS n FROM audit`;

  const key = await admin('POST', '/v1/admin/keys', { label: 'crm', scopes: ['read'] });
  await admin('DELETE', `/v1/admin/keys/${key.body.id}`);
  await admin('PATCH', '/v1/admin/tenant', { time_zone: 'Asia/Tokyo' });
  await admin('POST', '/v1/admin/strategies', otp(300));
  await admin('POST', '/v1/admin/strategies', otp(600));
  await admin('POST', '/v1/admin/strategies/otp/rollback', { to_version: 1 });
  await admin('POST', '/v1/admin/stop-list', { email: 'ann@example.com' });
  await admin('DELETE', '/v1/admin/stop-list/email/ann%40example.com');

  const log = await admin('GET', '/v1/admin/audit?limit=100');
  assert.equal(log.status, 200);
  const entries = (log.body.entries as { id: number; action: string; actor: string; details: any }[]).filter((e) => e.id > (auditedBefore?.n ?? 0));
  assert.deepEqual(entries.map((e) => e.action), [
    'stop_list.remove', 'stop_list.add', 'strategy.rollback', 'strategy.save', 'strategy.save', 'tenant.update', 'api_key.revoke', 'api_key.create',
  ]);
  for (const entry of entries) {
    assert.equal(entry.actor, `api-key:${adminRow?.id}`, entry.action);
    assert.ok('before' in entry.details && 'after' in entry.details, `${entry.action} has before and after`);
  }
  const byAction = (action: string) => entries.find((e) => e.action === action)?.details;
  assert.deepEqual(byAction('api_key.create'), { before: null, after: { id: key.body.id, label: 'crm', scopes: ['read'], revoked_at: null } });
  assert.equal(byAction('api_key.revoke').before.revoked_at, null);
  assert.notEqual(byAction('api_key.revoke').after.revoked_at, null);
  assert.deepEqual([byAction('tenant.update').before.time_zone, byAction('tenant.update').after.time_zone], ['UTC', 'Asia/Tokyo']);
  const rollback = byAction('strategy.rollback');
  assert.deepEqual([rollback.version, rollback.rolled_back_to, rollback.before.steps[0].ttl_seconds, rollback.after.steps[0].ttl_seconds], [3, 1, 600, 300]);
  assert.ok(!log.text.includes(adminKey) && !log.text.includes(key.body.key), 'no key in the log');

  // Pages, newest first.
  const first = await admin('GET', '/v1/admin/audit?limit=3');
  assert.deepEqual(first.body.entries.map((e: { action: string }) => e.action), ['stop_list.remove', 'stop_list.add', 'strategy.rollback']);
  const next = await admin('GET', `/v1/admin/audit?limit=3&before_id=${first.body.next_before_id}`);
  assert.deepEqual(next.body.entries.map((e: { action: string }) => e.action), ['strategy.save', 'strategy.save', 'tenant.update']);
  assert.deepEqual((await admin('GET', '/v1/admin/audit?limit=x&before_id=-1')).body.error.problems.map((p: { path: string }) => p.path), ['/limit', '/before_id']);

  const theirs = await globexAdmin('GET', '/v1/admin/audit');
  assert.ok((theirs.body.entries as { id: number }[]).every((e) => !entries.some((mine) => mine.id === e.id)), "none of acme's rows");
});

test('a change whose audit row cannot be written is not made', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = as(deployment, await keyWith(deployment, ['admin']));
  const key = await admin('POST', '/v1/admin/keys', { label: 'doomed', scopes: ['send'] });
  // The audit table refuses revocations: the revocation must fail whole.
  await deployment.sql`ALTER TABLE audit ADD CONSTRAINT test_no_revoke CHECK (action <> 'api_key.revoke')`;
  await deployment.sql`ALTER TABLE audit ADD CONSTRAINT test_no_tenant_update CHECK (action <> 'tenant.update')`;
  assert.equal((await admin('DELETE', `/v1/admin/keys/${key.body.id}`)).status, 500);
  assert.equal((await admin('PATCH', '/v1/admin/tenant', { name: 'Renamed' })).status, 500);
  const [row] = await deployment.sql<{ revoked_at: Date | null }[]>`SELECT revoked_at FROM api_keys WHERE id = ${key.body.id}`;
  assert.equal(row?.revoked_at, null, 'the key is not revoked');
  assert.equal((await admin('GET', '/v1/admin/tenant')).body.name, 'Acme', 'the tenant is not renamed');
});
