// The admin API for providers and stored provider definitions, against a running
// ingest + dispatcher + sandbox: versions and pins, refusals with paths, masking,
// audit, tenant isolation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ensureTenantWithKey, generateApiKey, resolveProviderDefinition } from '@commstrat/config';
import { eventually } from './harness.ts';
import { as } from './admin-support.ts';
import { startDeployment, type Deployment } from './services.ts';

type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

async function adminOf(deployment: Deployment, tenantId = deployment.tenantId): Promise<Call> {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: tenantId, name: tenantId }, key, 'operator', ['admin']);
  return as(deployment, key);
}

/** A definition of the sandbox's own batch API; `prefix` marks which version sent a text. */
function batchDefinition(prefix = ''): Record<string, unknown> {
  return {
    name: 'acme-batch',
    channel: 'sms',
    follows: 'sandbox POST /v1/sms/batch',
    auth: { type: 'header', name: 'Authorization', value: 'Bearer {{ credentials.token }}' },
    send: {
      method: 'POST',
      path: '/v1/sms/batch',
      max_batch_size: 50,
      body: {
        messages: {
          $each: 'messages',
          $as: 'message',
          $template: { client_ref: '{{ message.id }}', to: '{{ message.recipient.phone }}', text: `${prefix}{{ message.content.text }}` },
        },
      },
    },
    response: {
      items: '$.results[*]',
      message_ref: '$.client_ref',
      provider_message_id: '$.message_id',
      accepted: { path: '$.status', in: ['accepted'] },
      error_code: '$.error.code',
    },
    errors: [{ status: 429, class: 'rate_limited' }, { status: [500, 599], class: 'provider_down' }],
  };
}

const LONG_TOKEN = 'tok_live_0123456789abcdefWXYZ';

async function sendAndWaitSent(deployment: Deployment, strategy: string, text: string): Promise<string> {
  const answer = await deployment.api('POST', '/v1/messages', { strategy, recipient: { phone: '+4915112345678' }, content: { text } });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const id = (answer.body as { id: string }).id;
  await eventually(`message ${id} sent`, async () => {
    const view = await deployment.api('GET', `/v1/messages/${id}`);
    return view.body.status === 'sent' ? true : undefined;
  });
  return deployment.sandbox.received.list({ clientRef: id, to: undefined }).map((m) => m.text).join('|');
}

test('a provider created by kind is read back with its credentials masked, and its audit row holds no secret in full', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await adminOf(deployment);
  const created = await admin('PUT', '/v1/admin/providers/infobip', {
    kind: 'infobip-sms',
    endpoint: deployment.sandbox.url,
    credentials: { api_key: LONG_TOKEN, sender: 'Acme' },
    rate_per_second: 20,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body.credentials, { api_key: '****WXYZ', sender: '****' });
  assert.deepEqual(created.body.definition, { source: 'shipped', name: 'infobip-sms', version: null });
  assert.equal(created.body.max_batch_size, 100, "the shipped definition's max_batch_size as the default");

  const shown = await admin('GET', '/v1/admin/providers/infobip');
  assert.equal(shown.status, 200);
  assert.deepEqual(shown.body, created.body);
  const listed = await admin('GET', '/v1/admin/providers');
  assert.deepEqual(listed.body.providers.map((p: { id: string }) => p.id), ['infobip', 'sandbox-sms']);
  assert.ok(!JSON.stringify(listed.body).includes(LONG_TOKEN) && !JSON.stringify(listed.body).includes(deployment.sandbox.token));

  // Sending the masked credentials back (get, edit, put) keeps the stored ones.
  const edited = await admin('PUT', '/v1/admin/providers/infobip', { ...shown.body, definition: undefined, rate_per_second: 30 });
  assert.equal(edited.status, 200, JSON.stringify(edited.body));
  const [row] = await deployment.sql<{ credentials: Record<string, string>; rate_per_second: number }[]>`
    SELECT credentials, rate_per_second FROM providers WHERE tenant_id = ${deployment.tenantId} AND id = 'infobip'`;
  assert.deepEqual(row, { credentials: { api_key: LONG_TOKEN, sender: 'Acme' }, rate_per_second: 30 });

  const audit = await deployment.sql<{ actor: string; details: { before: unknown; after: { ratePerSecond: number } } }[]>`
    SELECT actor, details FROM audit
    WHERE tenant_id = ${deployment.tenantId} AND action = 'provider.upsert' AND details ->> 'id' = 'infobip' ORDER BY id`;
  assert.equal(audit.length, 2);
  assert.match(audit[0]!.actor, /^api-key:/);
  assert.equal(audit[0]!.details.before, null);
  assert.equal(audit[1]!.details.after.ratePerSecond, 30);
  assert.ok(!JSON.stringify(audit).includes(LONG_TOKEN), 'no credential in full in the audit log');

  // The same put again changes nothing and audits nothing.
  assert.equal((await admin('PUT', '/v1/admin/providers/infobip', { rate_per_second: 30 })).status, 200);
  const [{ count } = { count: -1 }] = await deployment.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM audit WHERE action = 'provider.upsert' AND details ->> 'id' = 'infobip'`;
  assert.equal(count, 2);
});

test('a bad definition is refused with the path of every problem, and a bad provider with an inline one saves neither', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await adminOf(deployment);
  const bad = batchDefinition();
  const broken = {
    ...bad,
    channel: 'pigeon',
    send: { ...(bad['send'] as object), method: 'GET' },
    response: { ...(bad['response'] as object), items: 'results' },
    errors: [{ status: 429, class: 'sometimes' }],
  };
  const refused = await admin('PUT', '/v1/admin/provider-definitions/acme-batch', broken);
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'validation_failed');
  const paths = refused.body.error.problems.map((p: { path: string }) => p.path).sort();
  assert.deepEqual(paths, ['/channel', '/errors/0/class', '/response/items', '/send/method']);

  const misnamed = await admin('PUT', '/v1/admin/provider-definitions/other-name', batchDefinition());
  assert.equal(misnamed.status, 422);
  assert.deepEqual(misnamed.body.error.problems.map((p: { path: string }) => p.path), ['/name']);
  const shadowing = await admin('PUT', '/v1/admin/provider-definitions/infobip-sms', { ...batchDefinition(), name: 'infobip-sms' });
  assert.deepEqual(shadowing.body.error.problems.map((p: { path: string }) => p.path), ['/name'], 'a shipped name cannot be taken');

  const inline = await admin('PUT', '/v1/admin/providers/acme', {
    definition: broken,
    endpoint: 'ftp://nowhere',
    rate_per_second: 0,
    max_batch_size: 500,
  });
  assert.equal(inline.status, 422);
  const inlinePaths = inline.body.error.problems.map((p: { path: string }) => p.path).sort();
  assert.deepEqual(inlinePaths, ['/definition/channel', '/definition/errors/0/class', '/definition/response/items', '/definition/send/method', '/rate_per_second']);

  const limits = await admin('PUT', '/v1/admin/providers/acme', { definition: batchDefinition(), endpoint: 'ftp://nowhere', rate_per_second: 0, max_batch_size: 500, colour: 'red' });
  assert.deepEqual(limits.body.error.problems.map((p: { path: string }) => p.path), ['/colour'], 'an unknown field is refused before anything else');
  const limits2 = await admin('PUT', '/v1/admin/providers/acme', { definition: batchDefinition(), endpoint: 'ftp://nowhere', rate_per_second: 0, max_batch_size: 500 });
  assert.deepEqual(limits2.body.error.problems.map((p: { path: string }) => p.path).sort(), ['/endpoint', '/max_batch_size', '/rate_per_second']);

  const unknownKind = await admin('PUT', '/v1/admin/providers/acme', { kind: 'no-such-api', endpoint: deployment.sandbox.url });
  assert.deepEqual(unknownKind.body.error.problems.map((p: { path: string }) => p.path), ['/kind']);

  const [{ definitions } = { definitions: -1 }] = await deployment.sql<{ definitions: number }[]>`SELECT count(*)::int AS definitions FROM provider_definitions`;
  assert.equal(definitions, 0, 'no definition version saved by a refused put');
  assert.equal((await admin('GET', '/v1/admin/providers/acme')).status, 404);
  assert.equal((await admin('GET', '/v1/admin/provider-definitions/acme-batch')).status, 404);
});

test('definition v2 is saved beside v1; a provider pinned to v1 keeps sending by v1 until it is re-pinned, with no restart', async () => {
  const deployment = await startDeployment();
  const admin = await adminOf(deployment);
  const v1 = await admin('PUT', '/v1/admin/provider-definitions/acme-batch', batchDefinition('v1: '));
  assert.equal(v1.status, 201, JSON.stringify(v1.body));
  assert.equal(v1.body.version, 1);
  const again = await admin('PUT', '/v1/admin/provider-definitions/acme-batch', batchDefinition('v1: '));
  assert.equal(again.status, 200, 'the same definition again saves no version');
  assert.equal(again.body.version, 1);

  const provider = await admin('PUT', '/v1/admin/providers/acme', {
    kind: 'acme-batch',
    endpoint: deployment.sandbox.url,
    credentials: { token: deployment.sandbox.token },
    linger_ms: 10,
  });
  assert.equal(provider.status, 201, JSON.stringify(provider.body));
  assert.deepEqual(provider.body.definition, { source: 'stored', name: 'acme-batch', version: 1 });
  const strategy = await admin('POST', '/v1/admin/strategies', { name: 'acme-otp', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['acme'] }, ttl_seconds: 600 }] });
  assert.equal(strategy.status, 201, JSON.stringify(strategy.body));

  const first = await eventually('the new strategy at ingest', async () => {
    const probe = await deployment.api('POST', '/v1/messages', { strategy: 'acme-otp', recipient: { phone: '+4915112345678' }, content: { text: 'probe' } });
    return probe.status === 202 ? (probe.body as { id: string }).id : undefined;
  }, 5000);
  await eventually('the probe sent', async () => ((await deployment.api('GET', `/v1/messages/${first}`)).body.status === 'sent' ? true : undefined));
  assert.equal(await sendAndWaitSent(deployment, 'acme-otp', 'one'), 'v1: one');

  const v2 = await admin('PUT', '/v1/admin/provider-definitions/acme-batch', batchDefinition('v2: '));
  assert.equal(v2.status, 201);
  assert.equal(v2.body.version, 2);
  assert.equal((await admin('GET', '/v1/admin/provider-definitions/acme-batch?version=1')).body.definition.send.body.messages.$template.text, 'v1: {{ message.content.text }}');
  assert.equal((await admin('GET', '/v1/admin/provider-definitions/acme-batch')).body.version, 2);
  assert.deepEqual((await admin('GET', '/v1/admin/provider-definitions')).body.definitions.map((d: { version: number }) => d.version), [2]);
  assert.equal((await admin('GET', '/v1/admin/providers/acme')).body.definition.version, 1, 'still pinned to v1');
  // A change of limits alone keeps the pin.
  assert.equal((await admin('PUT', '/v1/admin/providers/acme', { rate_per_second: 50 })).body.definition.version, 1);
  assert.equal(await sendAndWaitSent(deployment, 'acme-otp', 'two'), 'v1: two');

  // Naming the kind again pins its newest version; the dispatcher picks it up by NOTIFY.
  const repinned = await admin('PUT', '/v1/admin/providers/acme', { kind: 'acme-batch' });
  assert.equal(repinned.body.definition.version, 2);
  const text = await eventually('a message sent by v2', async () => {
    const sent = await sendAndWaitSent(deployment, 'acme-otp', 'three');
    return sent.startsWith('v2: ') ? sent : undefined;
  }, 5000, 200);
  assert.equal(text, 'v2: three');
  // And back to v1 by number.
  assert.equal((await admin('PUT', '/v1/admin/providers/acme', { definition_version: 1 })).body.definition.version, 1);
  assert.equal((await admin('PUT', '/v1/admin/providers/acme', { definition_version: 7 })).status, 422);
  // PostgreSQL itself refuses to rewrite a version, whoever tries.
  await assert.rejects(
    deployment.sql`UPDATE provider_definitions SET definition = '{}'::jsonb WHERE name = 'acme-batch' AND version = 1`,
    /never rewritten/,
  );
  const audited = await deployment.sql<{ version: number; before: unknown }[]>`
    SELECT (details ->> 'version')::int AS version, details -> 'before' AS before FROM audit
    WHERE action = 'provider_definition.save' ORDER BY id`;
  assert.deepEqual(audited.map((a) => [a.version, a.before === null]), [[1, true], [2, false]]);
});

test('tenant B sees none of A’s providers or definitions and cannot pin A’s definition', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const adminA = await adminOf(deployment);
  await deployment.addTenant('globex');
  const adminB = await adminOf(deployment, 'globex');
  assert.equal((await adminA('PUT', '/v1/admin/provider-definitions/acme-batch', batchDefinition())).status, 201);
  assert.equal((await adminA('PUT', '/v1/admin/providers/acme', { kind: 'acme-batch', endpoint: deployment.sandbox.url, credentials: { token: LONG_TOKEN } })).status, 201);

  assert.deepEqual((await adminB('GET', '/v1/admin/provider-definitions')).body.definitions, []);
  assert.equal((await adminB('GET', '/v1/admin/provider-definitions/acme-batch')).status, 404);
  assert.equal((await adminB('GET', '/v1/admin/providers/acme')).status, 404);
  assert.deepEqual((await adminB('GET', '/v1/admin/providers')).body.providers.map((p: { id: string }) => p.id), ['sandbox-sms']);
  const pin = await adminB('PUT', '/v1/admin/providers/acme', { kind: 'acme-batch', endpoint: deployment.sandbox.url });
  assert.equal(pin.status, 422);
  assert.deepEqual(pin.body.error.problems.map((p: { path: string }) => p.path), ['/kind']);
  const byVersion = await adminB('PUT', '/v1/admin/providers/acme', { kind: 'acme-batch', definition_version: 1, endpoint: deployment.sandbox.url });
  assert.deepEqual(byVersion.body.error.problems.map((p: { path: string }) => p.path), ['/definition_version']);
  // B may have its own of the same names; A's stay as they were.
  assert.equal((await adminB('PUT', '/v1/admin/provider-definitions/acme-batch', batchDefinition('B: '))).body.version, 1);
  assert.equal((await adminA('GET', '/v1/admin/provider-definitions/acme-batch')).body.definition.send.body.messages.$template.text, '{{ message.content.text }}');

  // What ingest's receipt route reads: each tenant's provider resolves to its own definition.
  assert.equal((await adminB('PUT', '/v1/admin/providers/acme', { kind: 'acme-batch', endpoint: deployment.sandbox.url })).status, 201);
  assert.equal((await adminB('PUT', '/v1/admin/providers/infobip', { kind: 'infobip-sms', endpoint: deployment.sandbox.url })).status, 201);
  const ofA = await resolveProviderDefinition(deployment.sql, deployment.tenantId, 'acme');
  const ofB = await resolveProviderDefinition(deployment.sql, 'globex', 'acme');
  assert.deepEqual([ofA?.source, ofA?.name, ofA?.source === 'stored' ? ofA.version : 0], ['stored', 'acme-batch', 1]);
  assert.equal((ofB?.definition.send.body as any).messages.$template.text, 'B: {{ message.content.text }}');
  assert.deepEqual((await resolveProviderDefinition(deployment.sql, 'globex', 'infobip'))?.source, 'shipped');
  assert.equal(await resolveProviderDefinition(deployment.sql, 'globex', 'sandbox-sms'), null, 'a built-in adapter has no definition');
  assert.equal(await resolveProviderDefinition(deployment.sql, deployment.tenantId, 'infobip'), null, "B's provider is not A's");
});

test('a key without the admin scope gets 403 on every provider admin route', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const routes: [string, string, unknown?][] = [
    ['GET', '/v1/admin/providers'],
    ['GET', '/v1/admin/providers/sandbox-sms'],
    ['PUT', '/v1/admin/providers/sandbox-sms', { rate_per_second: 1 }],
    ['POST', '/v1/admin/providers/validate', { id: 'x', kind: 'http-sms', endpoint: 'http://x' }],
    ['GET', '/v1/admin/provider-definitions'],
    ['GET', '/v1/admin/provider-definitions/acme-batch'],
    ['PUT', '/v1/admin/provider-definitions/acme-batch', batchDefinition()],
  ];
  for (const [method, path, body] of routes) {
    const answer = await deployment.api(method, path, body);
    assert.equal(answer.status, 403, `${method} ${path}: ${JSON.stringify(answer.body)}`);
  }
});

test('validate checks a provider with an inline definition as a put would and saves nothing', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const admin = await adminOf(deployment);
  const checked = await admin('POST', '/v1/admin/providers/validate', { id: 'acme', definition: batchDefinition(), endpoint: deployment.sandbox.url, credentials: { token: LONG_TOKEN } });
  assert.equal(checked.status, 200, JSON.stringify(checked.body));
  assert.equal(checked.body.valid, true);
  assert.deepEqual(checked.body.definition, { name: 'acme-batch', version: 1, new_version: true });
  assert.equal(checked.body.provider.credentials.token, '****WXYZ');
  assert.equal((await admin('POST', '/v1/admin/providers/validate', { definition: batchDefinition() })).body.error.problems[0].path, '/id');
  assert.equal((await admin('GET', '/v1/admin/providers/acme')).status, 404);
  assert.equal((await admin('GET', '/v1/admin/provider-definitions/acme-batch')).status, 404);
  // A put with the inline definition saves version 1 and pins it, in one step.
  const put = await admin('PUT', '/v1/admin/providers/acme', { definition: batchDefinition(), endpoint: deployment.sandbox.url });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  assert.deepEqual(put.body.definition, { source: 'stored', name: 'acme-batch', version: 1 });
});
