// Recipient preferences against the real stack: set (one, and thousands per call), read
// back, removed, and honoured by a real dispatcher: an opted-out recipient's message ends
// `suppressed` with the reason, never reaching the provider; exempt categories go.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@commstrat/core';
import { ensureTenantWithKey, generateApiKey } from '@commstrat/config';
import { loadIngestConfig, startIngest } from '@commstrat/ingest';
import { createLogger } from '@commstrat/observability';
import type { Document } from 'mongodb';
import { eventually } from './harness.ts';
import { startDeployment, untilConfigReloaded, type Deployment } from './services.ts';
import { call } from './admin-support.ts';

const ANN = '+4915112345678';
const BOB = '+4915112345679';

type View = { status: string; timeline: { status: string; reason?: string }[] };

async function adminKey(deployment: Deployment): Promise<string> {
  const key = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, key, 'operator', ['admin']);
  return key;
}

/** Calls the deployment's first ingest replica as `key` (admin-support.ts). */
const admin = (deployment: Deployment, key: string, method: string, path: string, body?: unknown) => call(deployment.ingest.url, key, method, path, body);

async function send(deployment: Deployment, phone: string, category?: string, priority = 'normal'): Promise<string> {
  const { status, body } = await deployment.api('POST', '/v1/messages', {
    channel: 'sms',
    priority,
    recipient: { phone },
    content: { text: `a ${category ?? 'plain'} message` },
    ...(category === undefined ? {} : { category }),
  });
  assert.equal(status, 202, JSON.stringify(body));
  return body.id;
}

async function ended(deployment: Deployment, id: string): Promise<View> {
  return eventually(`message ${id} to be sent or end`, async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${id}`);
    return ['sent', 'failed', 'suppressed'].includes(body.status) ? (body as View) : undefined;
  });
}

test('an opt-out is set, read back in its normalised form, changed nothing when set again, and removed', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const set = await deployment.api('POST', '/v1/preferences', {
    recipient: { phone: '+49 151 1234 5678' },
    category: 'marketing',
    opted_out: true,
    reason: 'preference centre',
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual(set.body, { recipient: { phone: ANN }, channel: 'sms', category: 'marketing', opted_out: true, changed: true });
  const again = await deployment.api('POST', '/v1/preferences', { recipient: { phone: ANN }, channel: 'sms', category: 'marketing', opted_out: true });
  assert.equal(again.body.changed, false, 'set twice: unchanged');

  // `+` written unencoded in the query reads as a space: still the same number.
  for (const query of [`phone=${encodeURIComponent(ANN)}`, `phone=${ANN}`]) {
    const read = await deployment.api('GET', `/v1/preferences?${query}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.equal(read.body.recipient.phone, ANN);
    assert.equal(read.body.opt_outs.length, 1);
    assert.deepEqual({ ...read.body.opt_outs[0], at: undefined }, { channel: 'sms', category: 'marketing', source: 'api', reason: 'preference centre', at: undefined });
  }
  // The stored document names the address by its digest only.
  const stored = await deployment.db.collection('preferences').find({}).toArray();
  assert.ok(stored.length >= 1);
  assert.ok(!JSON.stringify(stored).includes('4915112345678'), 'no phone number in clear');

  const removed = await deployment.api('DELETE', `/v1/preferences?phone=${encodeURIComponent(ANN)}&category=marketing`);
  assert.equal(removed.status, 204);
  assert.equal((await deployment.api('DELETE', `/v1/preferences?phone=${encodeURIComponent(ANN)}&category=marketing`)).status, 404);
  assert.deepEqual((await deployment.api('GET', `/v1/preferences?phone=${encodeURIComponent(ANN)}`)).body.opt_outs, []);
});

test('bad preferences are refused naming the field; a read key cannot set one', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const refused = async (body: unknown) => {
    const answer = await deployment.api('POST', '/v1/preferences', body);
    assert.equal(answer.status, 422, JSON.stringify(answer.body));
    return { code: answer.body.error.code, paths: answer.body.error.problems.map((p: { path: string }) => p.path) };
  };
  assert.deepEqual(await refused({ recipient: { phone: '8916' }, opted_out: true }), { code: 'invalid_phone_number', paths: ['/recipient/phone'] });
  assert.deepEqual(await refused({ recipient: { email: 'ann@example.com' }, channel: 'sms', opted_out: true }), { code: 'validation_failed', paths: ['/channel'] });
  assert.deepEqual(await refused({ recipient: { email: 'ann@example.com' }, category: 'Ads!', opted_out: 'y' }), {
    code: 'validation_failed',
    paths: ['/category', '/opted_out'],
  });
  assert.equal((await deployment.api('GET', '/v1/preferences')).status, 422);
  assert.equal((await deployment.api('GET', '/v1/preferences?phone=x&email=a@b.co')).status, 422);
  assert.equal((await deployment.api('POST', '/v1/preferences/batch', { preferences: [] })).status, 422);

  const readOnly = generateApiKey();
  await ensureTenantWithKey(deployment.sql, { id: deployment.tenantId, name: 'Acme' }, readOnly, 'reader', ['read']);
  const forbidden = await admin(deployment, readOnly, 'POST', '/v1/preferences', { recipient: { phone: ANN }, opted_out: true });
  assert.equal(forbidden.status, 403);
  assert.equal((await admin(deployment, readOnly, 'GET', `/v1/preferences?phone=${encodeURIComponent(ANN)}`)).status, 200);
});

test('thousands of opt-outs in one call: each bad item refused by index, the rest applied and read back', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const phones = Array.from({ length: 5000 }, (_, i) => `+4915200${String(i).padStart(6, '0')}`);
  const preferences: unknown[] = phones.map((phone, i) => ({ recipient: { phone }, category: i % 2 === 0 ? 'marketing' : '*', opted_out: true }));
  preferences[17] = { recipient: { phone: 'nope' }, opted_out: true };
  preferences[4000] = { recipient: { email: 'LIST@Example.com' }, opted_out: true };
  const first = await deployment.api('POST', '/v1/preferences/batch', { preferences });
  assert.equal(first.status, 207, JSON.stringify(first.body).slice(0, 500));
  assert.equal(first.body.changed, 4999);
  assert.deepEqual(first.body.rejected.map((item: { index: number; error: { code: string } }) => [item.index, item.error.code]), [[17, 'invalid_phone_number']]);
  assert.equal((await deployment.db.collection('preferences').countDocuments({ tenant_id: deployment.tenantId })), 4999);

  // The same again with two removals: those change, the rest were so already.
  preferences[1] = { recipient: { phone: phones[1] }, category: '*', opted_out: false };
  preferences[2] = { recipient: { phone: phones[2] }, category: 'marketing', opted_out: false };
  const second = await deployment.api('POST', '/v1/preferences/batch', { preferences });
  assert.equal(second.status, 207);
  assert.deepEqual([second.body.changed, second.body.unchanged], [2, 4997]);
  assert.deepEqual((await deployment.api('GET', `/v1/preferences?phone=${encodeURIComponent(phones[1] ?? '')}`)).body.opt_outs, []);
  const kept = await deployment.api('GET', `/v1/preferences?phone=${encodeURIComponent(phones[4999] ?? '')}`);
  assert.deepEqual(kept.body.opt_outs.map((o: { channel: string; category: string }) => `${o.channel}:${o.category}`), ['sms:*']);
  const email = await deployment.api('GET', '/v1/preferences?email=list@example.com');
  assert.deepEqual(email.body.opt_outs.map((o: { channel: string; category: string }) => `${o.channel}:${o.category}`), ['email:*']);
  const tooMany = await deployment.api('POST', '/v1/preferences/batch', { preferences: Array.from({ length: 10_001 }, () => preferences[0]) });
  assert.equal(tooMany.status, 413);
  assert.equal(tooMany.body.error.code, 'batch_too_large');
});

test('a dispatcher suppresses messages to an opted-out recipient with the reason, sends other categories, and exempt categories pass', async () => {
  const deployment = await startDeployment();
  const key = await adminKey(deployment);
  await deployment.api('POST', '/v1/preferences/batch', {
    preferences: [
      { recipient: { phone: ANN }, category: 'marketing', opted_out: true },
      { recipient: { phone: BOB }, opted_out: true },
    ],
  });
  const marketing = await ended(deployment, await send(deployment, ANN, 'marketing'));
  assert.equal(marketing.status, 'suppressed');
  assert.equal(marketing.timeline.at(-1)?.reason, 'recipient opted out of marketing on sms');
  assert.equal((await ended(deployment, await send(deployment, ANN, 'news'))).status, 'sent', 'another category goes');
  // Every category (an inbound STOP sets this), whatever the priority.
  const all = await Promise.all([send(deployment, BOB, 'news'), send(deployment, BOB), send(deployment, BOB, 'otp', 'critical')]);
  for (const id of all) {
    const view = await ended(deployment, id);
    assert.equal(view.status, 'suppressed', JSON.stringify(view));
    assert.equal(view.timeline.at(-1)?.reason, 'recipient opted out of sms');
  }
  assert.equal(deployment.sandbox.received.list({ to: BOB }).length, 0, 'nothing reached the provider');

  // One-time passwords marked exempt by the tenant's admin go through an opt-out of everything.
  const since = Date.now();
  const exempt = await admin(deployment, key, 'PUT', '/v1/admin/consent', { exempt_categories: ['otp'] });
  assert.equal(exempt.status, 200, JSON.stringify(exempt.body));
  assert.deepEqual(exempt.body.defaults, ['keywords']);
  await untilConfigReloaded(deployment, since);
  assert.equal((await ended(deployment, await send(deployment, BOB, 'otp', 'critical'))).status, 'sent');
  assert.equal((await ended(deployment, await send(deployment, BOB, 'news'))).status, 'suppressed');
  const audit = await deployment.sql<{ action: string }[]>`SELECT action FROM audit WHERE action = 'tenant.consent'`;
  assert.equal(audit.length, 1);

  // Opted back in: sent again, no cache in the way.
  await deployment.api('POST', '/v1/preferences', { recipient: { phone: ANN }, category: 'marketing', opted_out: false });
  assert.equal((await ended(deployment, await send(deployment, ANN, 'marketing'))).status, 'sent');
  const filtered = await deployment.api('GET', '/v1/messages?status=suppressed&limit=100');
  assert.equal(filtered.status, 200);
  assert.equal(filtered.body.messages.length, 5, 'suppressed is a status the listing filters by');
});

test('a batch of 1 000 messages is screened in a handful of lookups, each one indexed query on the primary key', async () => {
  const deployment = await startDeployment({ env: { DISPATCHER_CLAIM_COUNT: '1000' }, dispatcher: false });
  const phones = Array.from({ length: 1000 }, (_, i) => `+4915300${String(i).padStart(6, '0')}`);
  await deployment.api('POST', '/v1/preferences/batch', {
    preferences: phones.filter((_, i) => i % 10 === 0).map((phone) => ({ recipient: { phone }, category: 'marketing', opted_out: true })),
  });
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: phones.map((phone) => ({ channel: 'sms', category: 'marketing', recipient: { phone }, content: { text: 'sale' } })),
  });
  assert.equal(status, 202, JSON.stringify(body).slice(0, 300));
  const dispatcher = await deployment.startDispatcher();
  const counts = await eventually('every message to be sent or suppressed', async () => {
    const batch = await deployment.api('GET', `/v1/batches/${body.batch_id}`);
    const byStatus = batch.body.by_status as Record<string, number>;
    return (byStatus['sent'] ?? 0) + (byStatus['suppressed'] ?? 0) === 1000 ? byStatus : undefined;
  }, 60_000);
  assert.deepEqual(counts, { sent: 900, suppressed: 100 });
  const metrics = await (await fetch(`${dispatcher.url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(value('commstrat_preference_lookup_addresses_total'), 1000, 'each recipient looked up once');
  const lookups = value('commstrat_preference_lookup_seconds_count');
  // One per claimed batch: a claim takes up to 1 000 entries, but arrives as the lanes fill.
  assert.ok(lookups >= 1 && lookups <= 20, `lookups for 1 000 messages: ${lookups}`);

  const explained = await deployment.db.collection('preferences').find({ _id: { $in: ['acme:a', 'acme:b'] } as never }).explain('queryPlanner');
  const stages = (plan: Document | undefined): string[] =>
    plan === undefined || plan === null ? [] : [String(plan['stage']), ...stages(plan['inputStage'] as Document | undefined)];
  const plan = stages(explained.queryPlanner.winningPlan as Document);
  assert.ok(!plan.includes('COLLSCAN'), `plan: ${plan.join(' < ')}`);
});

test('an ingest with another hash secret than the stored preferences refuses to start', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  assert.equal((await deployment.api('POST', '/v1/preferences', { recipient: { phone: ANN }, opted_out: true })).status, 200);
  await assert.rejects(
    startIngest(loadIngestConfig({ ...deployment.env, COMMSTRAT_CONTACT_HASH_SECRET: 'another-secret-0123456789' }), {
      logger: createLogger({ service: 'test', console: false }),
    }),
    (error: unknown) => error instanceof ConfigError && error.problems[0]?.path === 'COMMSTRAT_CONTACT_HASH_SECRET',
  );
});
