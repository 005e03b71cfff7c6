// The operator console's JSON API against a real deployment: its login and session
// cookie, CSRF refusal, a tenant's admin key kept to its own tenant on every route, an
// operator key across tenants, masked recipients, errors that name the field, and a
// dead-letter re-drive run as a job whose progress any replica answers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from './harness.ts';
import { consoleWorld, deadLetter, saveStrategyVersions, sentMessage, smsTo } from './console-support.ts';

const strategy = (ttl: number) => ({ channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ttl_seconds: ttl }] });

test('a login sets an HttpOnly, SameSite=Strict, Secure session cookie scoped to /console, and only admin or operator keys get one', async () => {
  const world = await consoleWorld({ dispatcher: false });
  const client = world.client();
  const login = await client.login(world.keys.acmeAdmin);
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie') ?? '';
  assert.match(cookie, /^commstrat_console=[\w-]{43}; /);
  for (const flag of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/console']) assert.ok(cookie.split('; ').includes(flag), `${flag} in ${cookie}`);
  assert.equal(login.body.role, 'admin');
  assert.equal(login.body.tenant.id, 'acme');
  assert.equal(login.body.pii, false);
  assert.match(login.body.csrf_token, /^[\w-]{32}$/);
  assert.equal(JSON.stringify(login.body).includes(world.keys.acmeAdmin), false, 'the key is never answered back');
  assert.equal((await client.get('/session')).body.tenant.id, 'acme');

  // Only the digest of the session id is a Redis key, and the session holds no key.
  const stored = await world.redis.keys(`${world.prefix}console:session:*`);
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.includes(client.cookie!.split('=')[1]!), false);
  const raw = (await world.redis.get(stored[0]!)) ?? '';
  assert.equal(raw.includes(world.keys.acmeAdmin), false);

  const sendKey = await world.client().login(world.keys.acmeSend);
  assert.equal(sendKey.status, 403);
  assert.equal(sendKey.body.error.code, 'forbidden');
  assert.equal(sendKey.headers.get('set-cookie'), null);
  const wrong = await world.client().login('cs_not-a-key-at-all-000000000000');
  assert.equal(wrong.status, 401);
  const missing = await world.client().call('POST', '/console/api/login', {}, { csrf: false });
  assert.equal(missing.status, 422);
  assert.deepEqual(missing.body.error.problems.map((p: { path: string }) => p.path), ['/api_key']);
  const noSession = await world.client().get('/session');
  assert.equal(noSession.status, 401);
  assert.equal(noSession.body.error.code, 'unauthorized');

  const logout = await client.post('/logout', {});
  assert.equal(logout.status, 204);
  assert.match(logout.headers.get('set-cookie') ?? '', /Max-Age=0/);
  assert.equal((await client.get('/session')).status, 401, 'the session ended on the server, not only in the browser');
});

test('a change without the session\'s CSRF token, with another token or from another origin is refused and changes nothing', async () => {
  const world = await consoleWorld({ dispatcher: false });
  await saveStrategyVersions(world, world.keys.acmeAdmin, 'otp', [strategy(300), strategy(600)]);
  const client = await world.as(world.keys.acmeAdmin);
  const other = await world.as(world.keys.acmeAdmin);
  const rollback = (options: Parameters<typeof client.post>[2]) => client.post('/strategies/otp/rollback', { to_version: 1 }, options);

  for (const [what, options] of [
    ['no token', { csrf: false }],
    ['another session\'s token', { csrf: other.csrf! }],
    ['a token of the right length', { csrf: 'x'.repeat(32) }],
    ['another origin', { origin: 'https://evil.example' }],
    ['a cross-site fetch', { site: 'cross-site' }],
  ] as const) {
    const refused = await rollback(options);
    assert.equal(refused.status, 403, what);
    assert.equal(refused.body.error.code, 'csrf_failed', what);
  }
  assert.equal((await client.get('/strategies/otp/versions')).body.versions.length, 2, 'nothing was rolled back');
  const logout = await client.post('/logout', {}, { csrf: false });
  assert.equal(logout.status, 403, 'logging out needs the token too');

  const done = await rollback({ origin: world.url });
  assert.equal(done.status, 201);
  assert.equal(done.body.version, 3);
  assert.equal(done.body.definition.steps[0].ttl_seconds, 300);
  const audit = await world.deployment.sql`SELECT actor, action FROM audit WHERE tenant_id = 'acme' AND action = 'strategy.rollback'`;
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!['actor'], `api-key:${client.session.key_id}`, 'audited as the key that logged in');
});

test("a tenant's admin key sees its own tenant only, on every console route; an operator key sees each tenant", async () => {
  const world = await consoleWorld();
  const acmeSend = world.keys.acmeSend;
  const acmeId = await sentMessage(world, acmeSend, smsTo('+79161234567', 'acme hello', { tags: ['shared-tag'] }));
  const globexSendKey = (await import('./admin-support.ts')).keyWith(world.deployment, ['send', 'read'], 'globex');
  const globexId = await sentMessage(world, await globexSendKey, smsTo('+79160000001', 'globex hello', { tags: ['shared-tag'] }));
  await saveStrategyVersions(world, world.keys.globexAdmin, 'globex-only', [strategy(300), strategy(600)]);
  const globexLetter = await deadLetter(world, 'globex');
  const acmeLetter = await deadLetter(world, 'acme');

  const acme = await world.as(world.keys.acmeAdmin);
  const nowhere = '01M8FJJBEY8YMD6ZQ85TW5Z8T5';
  // Another tenant's message, strategy or tenant answers exactly as one that does not exist.
  const same = async (path: string, missing: string) => {
    const seen = await acme.get(path);
    assert.equal(seen.status, 404, path);
    assert.deepEqual(seen.body.error.code, (await acme.get(missing)).body.error.code, path);
  };
  await same(`/messages/${globexId}`, `/messages/${nowhere}`);
  await same('/strategies/globex-only/versions', '/strategies/nowhere/versions');
  for (const path of ['/messages', '/strategies', '/providers', '/provider-definitions', '/dead-letters', '/strategies/globex-only']) {
    const join = path.includes('?') ? '&' : '?';
    const named = await acme.get(`${path}${join}tenant=globex`);
    assert.equal(named.status, 404, `${path}?tenant=globex`);
    assert.equal(named.body.error.message, 'tenant globex not found');
    assert.equal((await acme.get(`${path}${join}tenant=initech`)).body.error.message, 'tenant initech not found', 'as a tenant that does not exist');
  }
  const rollback = await acme.post('/strategies/globex-only/rollback?tenant=globex', { to_version: 1 });
  assert.equal(rollback.status, 404);
  const listed = await acme.get('/messages?tag=shared-tag');
  assert.deepEqual(listed.body.messages.map((m: { id: string }) => m.id), [acmeId]);
  const [globexMessage] = await world.deployment.journal.findMessages([globexId]);
  const globexBatch = globexMessage!.batch_id;
  const byBatch = await acme.get(`/messages?batch_id=${globexBatch}`);
  assert.deepEqual(byBatch.body.messages, [], "another tenant's batch id finds nothing");
  const letters = await acme.get('/dead-letters');
  assert.deepEqual(letters.body.entries.map((e: { message_id: string }) => e.message_id), [acmeLetter.id]);
  assert.equal(letters.body.stream_length, undefined, "the stream's length counts every tenant's entries: an operator's figure");
  const dry = await acme.post('/dead-letters/redrive', { dry_run: true });
  assert.deepEqual(dry.body.items.map((i: { message_id: string }) => i.message_id), [acmeLetter.id]);
  assert.equal((await acme.get('/tenants')).body.tenants.length, 1);
  const lanes = await acme.get('/lanes');
  assert.equal(lanes.status, 200);
  assert.equal(lanes.body.lanes[0].consumers, undefined, 'replica names are the operator\'s');

  // The operator: any tenant by name, every tenant where a page covers them all.
  const operator = await world.as(world.keys.operator);
  assert.equal(operator.session.role, 'operator');
  assert.equal((await operator.get(`/messages/${globexId}`)).body.message.tenant_id, 'globex');
  assert.equal((await operator.get(`/messages/${acmeId}`)).body.message.tenant_id, 'acme');
  assert.deepEqual((await operator.get('/messages?tenant=globex&tag=shared-tag')).body.messages.map((m: { id: string }) => m.id), [globexId]);
  const noTenant = await operator.get('/messages?tag=shared-tag');
  assert.equal(noTenant.status, 422);
  assert.deepEqual(noTenant.body.error.problems.map((p: { path: string }) => p.path), ['/tenant']);
  const everyTenantBatch = await operator.get(`/messages?batch_id=${globexBatch}`);
  assert.equal(everyTenantBatch.body.tenant, 'globex', 'a batch id names its tenant');
  assert.deepEqual(everyTenantBatch.body.messages.map((m: { id: string }) => m.id), [globexId]);
  assert.deepEqual((await operator.get('/strategies?tenant=globex')).body.strategies.map((s: { name: string }) => s.name).includes('globex-only'), true);
  assert.equal((await operator.get('/strategies')).status, 422);
  const everyLetter = await operator.get('/dead-letters');
  assert.deepEqual(everyLetter.body.entries.map((e: { message_id: string }) => e.message_id).sort(), [acmeLetter.id, globexLetter.id].sort());
  assert.equal(everyLetter.body.stream_length, 2);
  assert.deepEqual((await operator.get('/tenants')).body.tenants.map((t: { id: string }) => t.id).sort(), ['acme', 'globex', 'ops']);
  assert.equal((await operator.get('/providers?tenant=nowhere')).status, 404);
});

test('recipients are masked for keys without the pii scope, in search results, the message, its exchanges and dead letters', async () => {
  const world = await consoleWorld();
  const phone = '+79161234567';
  const id = await sentMessage(world, world.keys.acmeSend, smsTo(phone, 'masked?'));
  await deadLetter(world, 'acme');
  const masked = await world.as(world.keys.acmeAdmin);
  const clear = await world.as(world.keys.acmePii);
  assert.equal(clear.session.pii, true);

  for (const path of [`/messages/${id}`, '/messages', '/dead-letters']) {
    const hidden = JSON.stringify((await masked.get(path)).body);
    assert.equal(hidden.includes(phone), false, `${path} shows ${phone} to a key without pii`);
    assert.equal(hidden.includes('79161234567'), false, `${path} shows the digits to a key without pii`);
    assert.ok(hidden.includes('+7916*****67'), `${path} shows the masked number`);
    assert.ok(JSON.stringify((await clear.get(path)).body).includes(phone), `${path} shows ${phone} to a pii key`);
  }
  const detail = (await masked.get(`/messages/${id}`)).body;
  assert.ok(detail.exchanges.length >= 1, 'the exchange with the sandbox is shown');
  assert.equal(detail.exchanges[0].request.text.includes('+7916*****67'), true);
  assert.equal(detail.message.content.text, 'masked?', 'the text is shown');
});

test('bad input gets a 4xx whose JSON body names the field', async () => {
  const world = await consoleWorld({ dispatcher: false });
  const client = await world.as(world.keys.acmeAdmin);
  const cases: [string, string, unknown, number, string[]][] = [
    ['GET', '/messages?status=lost', undefined, 422, ['/status']],
    ['GET', '/messages?from=yesterday&limit=0', undefined, 422, ['/from', '/limit']],
    ['GET', '/messages?tenant=a%20b', undefined, 422, ['/tenant']],
    ['GET', '/providers/sandbox-sms/metrics?minutes=7', undefined, 422, ['/minutes']],
    ['GET', '/dead-letters?since=soon', undefined, 422, ['/since']],
    ['GET', '/dead-letters?limit=501', undefined, 422, ['/limit']],
    ['GET', '/dead-letters?after=abc', undefined, 422, ['/after']],
    // Digits and a dash, but past an unsigned 64-bit id part: Redis refuses it, a retry never passes.
    ['GET', '/dead-letters?after=99999999999999999999-0', undefined, 422, ['/after']],
    ['GET', '/strategies/otp/diff', undefined, 422, ['/from']],
    ['POST', '/dead-letters/redrive', {}, 422, ['/dry_run']],
    ['POST', '/dead-letters/redrive', { dry_run: false, limit: 0, since: 'x' }, 422, ['/since', '/limit']],
    ['POST', '/dead-letters/redrive', { dry_run: true, since: '2026-12-02T10:00:00Z', until: '2026-12-02T09:00:00Z' }, 422, ['/until']],
    // The shape of a date-time, but no instant: refused as the field, not a 500 from the stream read.
    ['POST', '/dead-letters/redrive', { dry_run: true, since: '2026-02-30T25:61:00Z', until: '2026-12-31T23:59:60Z' }, 422, ['/since', '/until']],
    ['POST', '/strategies/otp/rollback', { to_version: 'one' }, 422, ['/to_version']],
    // A NUL in a name: refused as the path parameter, not a 500 from PostgreSQL's text.
    ['GET', '/strategies/otp%00/versions', undefined, 422, ['/name']],
    ['POST', '/templates/welcome%00/preview', {}, 422, ['/name']],
    ['GET', '/providers/sandbox%00/metrics', undefined, 422, ['/id']],
    ['GET', '/provider-definitions/sandbox%00', undefined, 422, ['/name']],
  ];
  for (const [method, path, body, status, paths] of cases) {
    const answer = method === 'GET' ? await client.get(path) : await client.post(path, body);
    assert.equal(answer.status, status, `${method} ${path}: ${JSON.stringify(answer.body)}`);
    assert.deepEqual(answer.body.error.problems.map((p: { path: string }) => p.path).sort(), [...paths].sort(), `${method} ${path}`);
  }
  // Bounds before 1970, older than any entry id: every entry, or none, not a 503 from Redis refusing a negative id.
  for (const query of ['since=0000-01-01T00:00:00Z', 'until=1970-01-01T00:00:00Z']) {
    const listed = await client.get(`/dead-letters?${query}`);
    assert.equal(listed.status, 200, `${query}: ${JSON.stringify(listed.body)}`);
  }
  assert.equal((await client.get('/dead-letters?until=1969-12-31T23:59:59Z')).body.entries.length, 0);
  const early = await client.post('/dead-letters/redrive', { dry_run: true, since: '0000-01-01T00:00:00Z' });
  assert.equal(early.status, 200, JSON.stringify(early.body));
  const notJson = await client.call('POST', '/console/api/dead-letters/redrive', undefined, {});
  assert.equal(notJson.status, 415);
  assert.equal((await client.get('/no-such-route')).status, 404);
  assert.equal((await client.get('/no-such-route')).body.error.code, 'not_found');
});

test('a revoked key ends its console sessions at once', async () => {
  const world = await consoleWorld({ dispatcher: false });
  const client = await world.as(world.keys.acmeAdmin);
  assert.equal((await client.get('/session')).status, 200);
  await world.deployment.sql`UPDATE api_keys SET revoked_at = now() WHERE id = ${client.session.key_id}`;
  await eventually('the session to end', async () => ((await client.get('/session')).status === 401 ? true : undefined), 5000);
});

test('a dead-letter re-drive runs as a job: its progress is answered to the tenant that started it, and each original goes once', async () => {
  const world = await consoleWorld();
  const letters = [await deadLetter(world, 'acme'), await deadLetter(world, 'acme'), await deadLetter(world, 'acme')];
  const theirs = await deadLetter(world, 'globex');
  const acme = await world.as(world.keys.acmeAdmin);
  const dry = await acme.post('/dead-letters/redrive', { dry_run: true });
  assert.equal(dry.status, 200);
  assert.deepEqual(dry.body.counts, { replay: 3 });
  assert.equal((await acme.get('/dead-letters')).body.entries.length, 3, 'a dry run changes nothing');

  const started = await acme.post('/dead-letters/redrive', { dry_run: false, rate: 20 });
  assert.equal(started.status, 202);
  assert.equal(started.body.state, 'running');
  assert.equal(started.body.scope_tenant, 'acme');
  const seen: number[] = [];
  const finished = await eventually('the job to finish', async () => {
    const job = (await acme.get(`/jobs/${started.body.id}`)).body;
    seen.push(job.done);
    return job.state === 'finished' ? job : undefined;
  });
  assert.deepEqual(finished.counts, { replayed: 3 });
  assert.equal(finished.selected, 3);
  assert.equal(finished.done, 3);
  assert.ok(seen.some((done) => done < 3), `progress was seen on the way (${seen.join(', ')})`);
  for (const letter of letters) {
    const [original] = await world.deployment.journal.findMessages([letter.id]);
    assert.ok(original?.redriven_as !== undefined, 'linked to its new message');
  }
  const [globexOriginal] = await world.deployment.journal.findMessages([theirs.id]);
  assert.equal(globexOriginal?.redriven_as, undefined, "the other tenant's dead letter is left alone");
  assert.deepEqual((await acme.get('/dead-letters')).body.entries, []);

  // Another tenant learns nothing of the job; the operator sees it.
  const globex = await world.as(world.keys.globexAdmin);
  assert.equal((await globex.get(`/jobs/${started.body.id}`)).status, 404);
  assert.equal((await globex.post(`/jobs/${started.body.id}/stop`, {})).status, 404);
  assert.equal((await (await world.as(world.keys.operator)).get(`/jobs/${started.body.id}`)).body.state, 'finished');
  // Run again: nothing left to send.
  const again = await acme.post('/dead-letters/redrive', { dry_run: true });
  assert.equal(again.body.selected, 0);
});

test("the templates routes: list, versions, diff, preview and a rollback, for the tenant's own templates only", async () => {
  const world = await consoleWorld();
  const { orderShipped } = await import('./template-support.ts');
  const changedText = 'Order {{ order.id }} is on its way, {{ name }}.';
  for (const document of [orderShipped(), orderShipped(changedText)]) {
    const response = await fetch(`${world.url}/v1/admin/templates/order-shipped`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${world.keys.acmeAdmin}`, 'content-type': 'application/json' },
      body: JSON.stringify(document),
    });
    assert.equal(response.status, 201, await response.text());
  }
  const acme = await world.as(world.keys.acmeAdmin);
  assert.deepEqual((await acme.get('/templates')).body.templates.map((t: { name: string; version: number }) => [t.name, t.version]), [['order-shipped', 2]]);
  assert.deepEqual((await acme.get('/templates/order-shipped/versions')).body.versions.map((v: { version: number }) => v.version), [2, 1]);
  const diff = await acme.get('/templates/order-shipped/diff?from=1&to=2');
  assert.deepEqual(diff.body.changes, [{ path: '/channels/sms/en/text', before: orderShipped().channels.sms.en.text, after: changedText }]);
  const preview = await acme.post('/templates/order-shipped/preview', { version: 1, channel: 'sms', variables: { name: 'Ann', order: { id: 'A-1' } } });
  assert.equal(preview.status, 200, JSON.stringify(preview.body));
  assert.equal(preview.body.renders[0].text, 'Hi Ann, order A-1 has shipped.');
  const rolled = await acme.post('/templates/order-shipped/rollback', { to_version: 1 });
  assert.equal(rolled.status, 201, JSON.stringify(rolled.body));
  assert.equal(rolled.body.version, 3);
  assert.equal(rolled.body.definition.channels.sms.en.text, orderShipped().channels.sms.en.text);

  const globex = await world.as(world.keys.globexAdmin);
  assert.deepEqual((await globex.get('/templates')).body.templates, []);
  assert.equal((await globex.get('/templates/order-shipped/versions')).status, 404);
  assert.equal((await globex.get('/templates?tenant=acme')).status, 404);
  assert.equal((await globex.post('/templates/order-shipped/rollback?tenant=acme', { to_version: 1 })).status, 404);
  const operator = await world.as(world.keys.operator);
  assert.deepEqual((await operator.get('/templates/order-shipped/versions?tenant=acme')).body.versions.map((v: { version: number }) => v.version), [3, 2, 1]);
  assert.equal((await operator.get('/templates')).status, 422);
  assert.equal((await world.deployment.sql`SELECT version FROM templates WHERE name = 'order-shipped'`).length, 3, 'globex rolled nothing back');
});
