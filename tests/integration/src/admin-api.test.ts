import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { openApiDocument } from '@commstrat/ingest';
import { startDeployment, type Deployment } from './services.ts';
import { call as callAs } from './admin-support.ts';

/** Calls the deployment's first ingest replica as `key` (admin-support.ts). */
const call = (deployment: Deployment, key: string, method: string, path: string, body?: unknown) => callAs(deployment.ingest.url, key, method, path, body);

const otp = (providers: string[], ttl = 300) => ({
  name: 'otp',
  channel: 'sms',
  steps: [{ route: { mode: 'failover', providers }, ttl_seconds: ttl }],
});

async function withAdminKey(deployment: Deployment): Promise<string> {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, key, 'operator', ['admin']);
  return key;
}

/** Every admin operation of /openapi.json (which admin-routes.test.ts holds equal to the routes served). */
function adminOperations(): { method: string; path: string }[] {
  const paths = openApiDocument()['paths'] as Record<string, Record<string, unknown>>;
  return Object.entries(paths)
    .filter(([path]) => path.startsWith('/v1/admin/'))
    .flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => ({ method: method.toUpperCase(), path: path.replace(/\{[^}]+\}/g, 'x') })),
    );
}

test('a key without the scope gets 403 on every admin endpoint, before its body is read', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const operator = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, operator, 'ops', ['operator']);
  const admin = await withAdminKey(deployment);
  const operations = adminOperations();
  assert.ok(operations.length >= 15, `admin operations: ${operations.length}`);
  for (const { method, path } of operations) {
    // The tenant's send+read key everywhere; an admin key on the operator's routes and
    // an operator key on the admin's. The body is a strategy that would be saved.
    const keys = path.startsWith('/v1/admin/tenants') ? [deployment.apiKey, admin] : [deployment.apiKey, operator];
    for (const key of keys) {
      const { status, body: answer } = await call(deployment, key, method, path, method === 'GET' || method === 'DELETE' ? undefined : otp(['sandbox-sms']));
      assert.equal(status, 403, `${method} ${path}`);
      assert.equal(answer.error.code, 'forbidden');
    }
  }
  assert.equal((await call(deployment, 'cs_nonsense', 'GET', '/v1/admin/strategies')).status, 401);
  const [row] = await deployment.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM strategies WHERE name = 'otp'`;
  assert.equal(row?.n, 0, 'nothing was saved');
});

test('an admin key creates, validates, lists and shows strategy versions, each save audited', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await withAdminKey(deployment);

  const created = await call(deployment, admin, 'POST', '/v1/admin/strategies', otp(['sandbox-sms']));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.version, 1);
  const second = await call(deployment, admin, 'POST', '/v1/admin/strategies?default_for_channel=false', otp(['sandbox-sms'], 600));
  assert.equal(second.body.version, 2);

  const bad = await call(deployment, admin, 'POST', '/v1/admin/strategies/validate', otp(['sandbox-sms', 'nope'], -1));
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.error.problems.map((p: { path: string }) => p.path), ['/steps/0/ttl_seconds']);
  const unknown = await call(deployment, admin, 'POST', '/v1/admin/strategies/validate', otp(['sandbox-sms', 'nope']));
  assert.deepEqual(unknown.body.error.problems.map((p: { path: string }) => p.path), ['/steps/0/route/providers/1']);
  const good = await call(deployment, admin, 'POST', '/v1/admin/strategies/validate', otp(['sandbox-sms'], 900));
  assert.equal(good.status, 200);
  assert.equal(good.body.valid, true);

  const list = await call(deployment, admin, 'GET', '/v1/admin/strategies');
  assert.deepEqual(
    list.body.strategies.map((s: { name: string; version: number }) => [s.name, s.version]),
    [['otp', 2], ['sms-default', 1]],
    'validate saved nothing',
  );
  const first = await call(deployment, admin, 'GET', '/v1/admin/strategies/otp?version=1');
  assert.equal(first.body.definition.steps[0].ttl_seconds, 300);
  assert.equal((await call(deployment, admin, 'GET', '/v1/admin/strategies/otp')).body.version, 2);
  assert.equal((await call(deployment, admin, 'GET', '/v1/admin/strategies/otp?version=9')).status, 404);
  assert.equal((await call(deployment, admin, 'GET', '/v1/admin/strategies/otp?version=x')).status, 422);

  const audit = await deployment.sql<{ actor: string; details: any }[]>`
    SELECT actor, details FROM audit WHERE action = 'strategy.save' AND details->>'name' = 'otp' ORDER BY id`;
  assert.equal(audit.length, 2);
  assert.match(audit[0]?.actor ?? '', /^api-key:/);
  assert.equal(audit[1]?.details.before.steps[0].ttl_seconds, 300);
  assert.equal(audit[1]?.details.after.steps[0].ttl_seconds, 600);
});
