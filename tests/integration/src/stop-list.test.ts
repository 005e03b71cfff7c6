import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { eventually } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';
import { call as callAs } from './admin-support.ts';

const ANN = '+4915112345678';

/** Calls the deployment's first ingest replica as `key` (admin-support.ts). */
const call = (deployment: Deployment, key: string, method: string, path: string, body?: unknown) => callAs(deployment.ingest.url, key, method, path, body);

async function adminKey(deployment: Deployment): Promise<string> {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, key, 'operator', ['admin']);
  return key;
}

async function send(deployment: Deployment, priority: string, text: string): Promise<string> {
  const { status, body } = await deployment.api('POST', '/v1/messages', { channel: 'sms', priority, recipient: { phone: ANN }, content: { text } });
  assert.equal(status, 202, JSON.stringify(body));
  return body.id;
}

async function ended(deployment: Deployment, id: string): Promise<{ status: string; reason: string }> {
  return eventually(`message ${id} to end or be sent`, async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${id}`);
    return ['sent', 'failed', 'suppressed'].includes(body.status) ? { status: body.status, reason: body.timeline.at(-1)?.reason } : undefined;
  });
}

test('a stopped recipient is never sent a non-critical message (it ends suppressed), critical is exempt, and removal takes effect live', async () => {
  const deployment = await startDeployment();
  const admin = await adminKey(deployment);
  // Warm: the dispatcher holds the tenant's snapshot, so what follows is seen by NOTIFY.
  assert.equal((await ended(deployment, await send(deployment, 'normal', 'before'))).status, 'sent');

  const added = await call(deployment, admin, 'POST', '/v1/admin/stop-list', { phone: ANN, reason: 'replied STOP' });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.equal(added.body.phone, ANN);
  assert.equal((await call(deployment, admin, 'POST', '/v1/admin/stop-list', { phone: ANN })).status, 200, 'adding twice changes nothing');
  // The dispatcher reloads on NOTIFY: within a moment a normal message is suppressed as opted out.
  await eventually('the stop list to reach the dispatcher', async () => {
    const outcome = await ended(deployment, await send(deployment, 'normal', 'probe'));
    return outcome.status === 'suppressed' ? outcome : undefined;
  }, 10_000, 200);

  const sentBefore = deployment.sandbox.received.list({ to: ANN }).length;
  const ids = await Promise.all(['normal', 'bulk', 'high'].map((priority) => send(deployment, priority, `stopped ${priority}`)));
  for (const id of ids) assert.deepEqual(await ended(deployment, id), { status: 'suppressed', reason: 'recipient opted out' });
  const critical = await send(deployment, 'critical', 'your code is 1234');
  assert.equal((await ended(deployment, critical)).status, 'sent', 'critical is exempt by default');
  assert.equal(deployment.sandbox.received.list({ to: ANN }).length, sentBefore + 1, 'only the critical one reached the provider');
  for (const id of ids) assert.equal(deployment.sandbox.received.list({ clientRef: id }).length, 0);

  const removed = await call(deployment, admin, 'DELETE', `/v1/admin/stop-list/phone/${encodeURIComponent(ANN)}`);
  assert.equal(removed.status, 204);
  assert.equal((await call(deployment, admin, 'DELETE', `/v1/admin/stop-list/phone/${encodeURIComponent(ANN)}`)).status, 404);
  await eventually('the removal to reach the dispatcher', async () =>
    (await ended(deployment, await send(deployment, 'normal', 'welcome back'))).status === 'sent' ? true : undefined,
  10_000, 200);

  const audit = await deployment.sql<{ action: string; actor: string; details: any }[]>`
    SELECT action, actor, details FROM audit WHERE action LIKE 'stop_list.%' ORDER BY id`;
  assert.deepEqual(audit.map((row) => row.action), ['stop_list.add', 'stop_list.remove'], 'one record per change');
  assert.match(audit[0]?.actor ?? '', /^api-key:/);
  assert.deepEqual(audit[0]?.details, { before: null, after: { kind: 'phone', address: ANN, reason: 'replied STOP' } });
  assert.deepEqual(audit[1]?.details.after, null);
});

test('stop-list endpoints refuse a tenant key with 403, and bad entries with the field path', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  for (const [method, path, body] of [
    ['GET', '/v1/admin/stop-list'],
    ['POST', '/v1/admin/stop-list', { phone: ANN }],
    ['DELETE', `/v1/admin/stop-list/phone/${encodeURIComponent(ANN)}`],
  ] as const) {
    const { status, body: answer } = await call(deployment, deployment.apiKey, method, path, body);
    assert.equal(status, 403, `${method} ${path}`);
    assert.equal(answer.error.code, 'forbidden');
  }
  const [row] = await deployment.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM stop_list`;
  assert.equal(row?.n, 0, 'nothing was added');

  const admin = await adminKey(deployment);
  const problems = async (body: unknown) => {
    const answer = await call(deployment, admin, 'POST', '/v1/admin/stop-list', body);
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    return answer.body.error.problems.map((p: { path: string }) => p.path);
  };
  assert.deepEqual(await problems({ phone: '12345' }), ['/phone']);
  assert.deepEqual(await problems({ email: 'nope' }), ['/email']);
  assert.deepEqual(await problems({ phone: ANN, colour: 'red' }), ['/colour']);
  assert.deepEqual(await problems({ phone: ANN, reason: 5 }), ['/reason']);
  assert.equal((await call(deployment, admin, 'DELETE', '/v1/admin/stop-list/fax/123')).status, 422);

  for (const entry of [{ email: 'Zed@Example.com' }, { phone: '+4915100000002' }, { phone: '+4915100000001' }]) {
    assert.equal((await call(deployment, admin, 'POST', '/v1/admin/stop-list', entry)).status, 201);
  }
  const first = await call(deployment, admin, 'GET', '/v1/admin/stop-list?limit=2');
  const addresses = (page: { entries: { phone?: string; email?: string }[] }) => page.entries.map((e) => e.phone ?? e.email);
  assert.deepEqual(addresses(first.body), ['zed@example.com', '+4915100000001'], 'by kind, then address; e-mail in lower case');
  const second = await call(deployment, admin, 'GET', `/v1/admin/stop-list?limit=2&after=${encodeURIComponent(first.body.next_after)}`);
  assert.deepEqual(addresses(second.body), ['+4915100000002']);
  assert.equal(second.body.next_after, null);
  assert.equal((await call(deployment, admin, 'GET', '/v1/admin/stop-list?limit=0')).status, 422);
});
