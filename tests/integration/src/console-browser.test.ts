// The operator console end to end: the built page served by a real ingest, in headless
// Chromium (Debian's, through playwright-core), against a real deployment. Login,
// search, a message's timeline with its provider exchange and callback attempts, a
// strategy diff and rollback, a dead-letter re-drive with progress, the providers and
// lanes pages, and a tenant that never sees another's data. With
// COMMSTRAT_CONSOLE_SCREENSHOTS set, each page is saved there (docs/console.md).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { consoleAssetsDir } from '@commstrat/console';
import type { Page } from 'playwright-core';
import { keyWith } from './admin-support.ts';
import { openBrowser, screenshot } from './browser.ts';
import { consoleWorld, deadLetter, saveStrategyVersions, sentMessage, smsTo, type ConsoleWorld } from './console-support.ts';
import { eventually } from './harness.ts';
import { LOOPBACK, setSandboxBehaviour } from './services.ts';

before(() => {
  assert.ok(existsSync(`${consoleAssetsDir}index.html`), `the console is not built at ${consoleAssetsDir}: run npm run build:console (npm test builds it)`);
});

async function logIn(page: Page, world: ConsoleWorld, key: string): Promise<void> {
  await page.goto(`${world.url}/console/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** A tenant's callback receiver that answers 500 to the first delivery of each event and 200 after. */
async function flakyReceiver(): Promise<string> {
  const seen = new Set<string>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const event = String(req.headers['webhook-id']);
      res.statusCode = seen.has(event) ? 200 : 500;
      seen.add(event);
      res.end();
    });
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
}

const FAST_CALLBACKS = { DISPATCHER_CALLBACK_BASE_DELAY_MS: '100', DISPATCHER_CALLBACK_MAX_DELAY_MS: '400', DISPATCHER_CALLBACK_POLL_MS: '50' };
const strategy = (ttl: number, extra: object = {}) => ({ channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ttl_seconds: ttl, ...extra }] });

test('an admin logs in, searches, and reads a message with its timeline, provider exchange and callback attempts; the cookie is out of scripts\' reach and a forged change is refused', async () => {
  // The callback receiver is a local listener, which the egress policy refuses unless allowed.
  const world = await consoleWorld({ env: FAST_CALLBACKS, egressAllow: [LOOPBACK] });
  const hooks = await flakyReceiver();
  const id = await sentMessage(world, world.keys.acmeSend, smsTo('+79161234567', 'Your code is 4321', { tags: ['login-otp'], callback_url: hooks }));
  await sentMessage(world, world.keys.acmeSend, smsTo('+79161230000', 'another', { tags: ['other'] }));
  await eventually('a callback delivered after a failed attempt', async () => {
    const callbacks = await world.deployment.db.collection('callbacks').find({ message_id: id, state: 'delivered' }).toArray();
    return callbacks.some((c) => (c['attempts'] as unknown[]).length >= 2) ? true : undefined;
  });

  const { context, page } = await openBrowser();
  await page.goto(`${world.url}/console/`);
  await screenshot(page, 'login');
  await page.getByLabel('API key').fill(world.keys.acmeSend);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').filter({ hasText: '403 forbidden' }).waitFor();
  await logIn(page, world, world.keys.acmeAdmin);

  const cookies = await context.cookies(`${world.url}/console/`);
  const session = cookies.find((c) => c.name === 'commstrat_console');
  assert.ok(session !== undefined, 'the session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(session.secure, true);
  assert.equal(session.path, '/console');
  assert.equal(await page.evaluate('document.cookie'), '', 'no script of the page can read the session');
  // A request the page did not make with its token (an injected script, a forged form) is refused.
  const forged = await page.evaluate(async () => {
    const response = await fetch('/console/api/dead-letters/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"dry_run":false}' });
    return { status: response.status, body: (await response.json()) as { error: { code: string } } };
  });
  assert.deepEqual([forged.status, forged.body.error.code], [403, 'csrf_failed']);

  // Search by tag: one row, its number masked (the key has no pii scope).
  await page.getByLabel('Tag').fill('login-otp');
  await page.getByRole('button', { name: 'Search' }).click();
  const rows = page.locator('table.messages tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 1);
  assert.match((await rows.first().textContent()) ?? '', /\+7916\*+67/);
  assert.equal(((await page.content()).includes('+79161234567')), false);
  await screenshot(page, 'messages');

  await rows.first().getByRole('link').click();
  await page.getByRole('heading', { name: 'Timeline' }).waitFor();
  const timeline = (await page.locator('table.timeline').textContent()) ?? '';
  for (const status of ['accepted', 'queued', 'sending', 'sent']) assert.ok(timeline.includes(status), `the timeline shows ${status}`);
  assert.match((await page.locator('dl.fields').textContent()) ?? '', /sms-default version 1/);
  const exchange = page.locator('details.exchange').first();
  assert.match((await exchange.locator('summary').textContent()) ?? '', /sandbox-sms .*accepted · HTTP 200/);
  await exchange.locator('summary').click();
  assert.match((await exchange.textContent()) ?? '', /Request[\s\S]*\+7916\*+67/);
  const callbacks = (await page.locator('table.callbacks').textContent()) ?? '';
  assert.ok(callbacks.includes('HTTP 500') && callbacks.includes('HTTP 200'), `both callback attempts are listed: ${callbacks}`);
  await screenshot(page, 'message');

  // The address is the search: reloading it shows the same, and the batch link finds its batch.
  await page.getByRole('link', { name: 'Messages', exact: true }).first().click();
  await page.getByLabel('Status').selectOption('sent');
  await page.getByRole('button', { name: 'Search' }).click();
  await eventually('both sent messages listed', async () => ((await rows.count()) === 2 ? true : undefined));
  await page.reload();
  await eventually('the search kept in the address', async () => ((await rows.count()) === 2 ? true : undefined));

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('API key').waitFor();
  const answer = await page.evaluate(async () => (await fetch('/console/api/session')).status);
  assert.equal(answer, 401, 'logging out ends the session');
});

test('a strategy\'s two versions are shown side by side and an older one is rolled back only after the confirmation', async () => {
  const world = await consoleWorld({ dispatcher: false });
  await saveStrategyVersions(world, world.keys.acmeAdmin, 'otp', [strategy(300), strategy(900, { window: { start: '09:00', end: '21:00' } })]);
  const { page } = await openBrowser();
  await logIn(page, world, world.keys.acmeAdmin);
  await page.getByRole('link', { name: 'Strategies' }).click();
  await page.getByRole('link', { name: 'otp' }).click();
  await page.getByRole('heading', { name: 'v1 → v2' }).waitFor();
  const changes = (await page.locator('table.changes').textContent()) ?? '';
  assert.ok(changes.includes('/steps/0/ttl_seconds') && changes.includes('/steps/0/window'), changes);
  assert.ok((await page.locator('table.side-by-side td.del').count()) >= 1, 'the removed lines are marked');
  assert.ok((await page.locator('table.side-by-side td.ins').count()) >= 2, 'the added lines are marked');
  assert.match((await page.locator('table.side-by-side td.del').first().textContent()) ?? '', /"ttl_seconds": 300/);
  await screenshot(page, 'strategy-diff');

  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('table.changes').waitFor();
  assert.match((await dialog.textContent()) ?? '', /saved again as version 3/);
  await screenshot(page, 'strategy-rollback');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  const versions = async () => ((await (await fetch(`${world.url}/v1/admin/strategies/otp/versions`, { headers: { authorization: `Bearer ${world.keys.acmeAdmin}` } })).json()) as { versions: unknown[] }).versions.length;
  assert.equal(await versions(), 2, 'cancelled: nothing saved');

  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('status').filter({ hasText: 'version 1 saved again as version 3' }).waitFor();
  assert.equal(await versions(), 3);
  await page.getByRole('heading', { name: 'v1 → v3' }).waitFor();
  assert.match((await page.locator('table.changes, p.muted').filter({ hasText: 'No changes' }).first().textContent()) ?? '', /No changes/);
  const stored = (await (await fetch(`${world.url}/v1/admin/strategies/otp`, { headers: { authorization: `Bearer ${world.keys.acmeAdmin}` } })).json()) as { version: number; definition: { steps: { ttl_seconds: number }[] } };
  assert.deepEqual([stored.version, stored.definition.steps[0]?.ttl_seconds], [3, 300]);
});

test("a template's versions are listed, two are shown side by side, and an older one is rolled back only after the confirmation", async () => {
  const world = await consoleWorld({ dispatcher: false });
  const { orderShipped } = await import('./template-support.ts');
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${world.url}/v1/admin/templates${path}`, {
      method,
      headers: { authorization: `Bearer ${world.keys.acmeAdmin}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as any }));
  for (const document of [orderShipped(), orderShipped('Order {{ order.id }} is on its way, {{ name }}.')]) {
    assert.equal((await admin('PUT', '/order-shipped', document)).status, 201);
  }
  const { page } = await openBrowser();
  await logIn(page, world, world.keys.acmeAdmin);
  await page.getByRole('link', { name: 'Templates' }).click();
  const row = page.locator('tr', { has: page.getByRole('link', { name: 'order-shipped' }) });
  assert.match((await row.textContent()) ?? '', /sms/);
  await screenshot(page, 'templates');
  await page.getByRole('link', { name: 'order-shipped' }).click();
  await page.getByRole('heading', { name: 'v1 → v2' }).waitFor();
  const changes = (await page.locator('table.changes').textContent()) ?? '';
  assert.ok(changes.includes('/channels/sms/en/text'), changes);
  assert.match((await page.locator('table.side-by-side td.del').first().textContent()) ?? '', /has shipped/);
  assert.match((await page.locator('table.side-by-side td.ins').first().textContent()) ?? '', /on its way/);
  await screenshot(page, 'template-diff');

  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.locator('table.changes').waitFor();
  assert.match((await dialog.textContent()) ?? '', /saved again as version 3/);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await admin('GET', '/order-shipped/versions')).body.versions.length, 2, 'cancelled: nothing saved');

  await page.getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Roll back to v1' }).click();
  await page.getByRole('status').filter({ hasText: 'version 1 saved again as version 3' }).waitFor();
  const stored = await admin('GET', '/order-shipped');
  assert.deepEqual([stored.body.version, stored.body.definition.channels.sms.en.text], [3, orderShipped().channels.sms.en.text]);
});

test('dead letters are filtered, dry-run, then re-driven with progress until every original has its new message', async () => {
  const world = await consoleWorld();
  const letters = [];
  for (let i = 0; i < 6; i++) letters.push(await deadLetter(world, 'acme'));
  await deadLetter(world, 'acme', { code: 'provider_rejected', provider: 'acme/sandbox-sms' });
  await deadLetter(world, 'globex');
  const { page } = await openBrowser();
  await logIn(page, world, world.keys.acmeAdmin);
  await page.getByRole('link', { name: 'Dead letters' }).click();
  await page.locator('table.dead-letters tbody tr').first().waitFor();
  assert.equal(await page.locator('table.dead-letters tbody tr').count(), 7, "the tenant's seven entries, not globex's");
  await page.getByLabel('Error code').fill('provider_unavailable');
  await page.getByRole('button', { name: 'Filter' }).click();
  await eventually('the filter applied', async () => ((await page.locator('table.dead-letters tbody tr').count()) === 6 ? true : undefined));
  await page.getByRole('button', { name: 'Dry run a re-drive' }).click();
  await page.getByRole('heading', { name: 'Dry run' }).waitFor();
  assert.match((await page.locator('ul.counts').first().textContent()) ?? '', /replay\s*6/);
  await screenshot(page, 'dead-letters');
  assert.equal(await world.redis.xlen(`${world.prefix}dlq`), 8, 'a dry run changes nothing');

  await page.getByRole('button', { name: 'Re-drive 6' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Re-drive 6' }).click();
  await page.getByRole('heading', { name: 'Re-drive' }).waitFor();
  await page.locator('.badge', { hasText: 'finished' }).waitFor({ timeout: 30_000 });
  assert.match((await page.getByLabel('re-drive progress').textContent()) ?? '', /6 of 6 handled/);
  assert.match((await page.locator('ul.counts').last().textContent()) ?? '', /replayed\s*6/);
  await screenshot(page, 'redrive');
  for (const letter of letters) {
    const [original] = await world.deployment.journal.findMessages([letter.id]);
    assert.ok(original?.redriven_as !== undefined, `${letter.id} is linked to its new message`);
  }
  assert.equal(await world.redis.xlen(`${world.prefix}dlq`), 2, "the rejected one and globex's stay");
});

test("an admin never sees another tenant's data in the console; an operator picks any tenant", async () => {
  const world = await consoleWorld();
  const globexSend = await keyWith(world.deployment, ['send', 'read'], 'globex');
  const globexId = await sentMessage(world, globexSend, smsTo('+79160000001', 'globex secret', { tags: ['campaign'] }));
  await sentMessage(world, world.keys.acmeSend, smsTo('+79161234567', 'acme hello', { tags: ['campaign'] }));
  await saveStrategyVersions(world, world.keys.globexAdmin, 'globex-only', [strategy(300)]);
  await deadLetter(world, 'globex');

  const { page } = await openBrowser();
  await logIn(page, world, world.keys.acmeAdmin);
  // A link to another tenant's message, and pages asked for another tenant.
  await page.goto(`${world.url}/console/messages/${globexId}`);
  await page.getByRole('alert').filter({ hasText: '404 not_found' }).waitFor();
  assert.equal((await page.content()).includes('globex secret'), false);
  await page.goto(`${world.url}/console/strategies?tenant=globex`);
  await page.getByRole('heading', { name: 'Strategies' }).waitFor();
  await page.locator('table.grid tbody tr').first().waitFor();
  assert.equal((await page.content()).includes('globex-only'), false, "globex's strategy is not listed");
  await page.goto(`${world.url}/console/dead-letters`);
  await page.getByText(/entr(y|ies) shown/).waitFor();
  assert.equal(await page.locator('table.dead-letters tbody tr').count(), 0);
  await page.goto(`${world.url}/console/messages?tag=campaign`);
  await page.locator('table.messages tbody tr').first().waitFor();
  assert.equal(await page.locator('table.messages tbody tr').count(), 1);
  assert.equal((await page.content()).includes(globexId), false);
  // Straight at the API from the page: the server refuses, whatever the page would do.
  const statuses = await page.evaluate(async (id) => {
    const paths = [`/console/api/messages/${id}`, '/console/api/strategies?tenant=globex', '/console/api/providers?tenant=globex', '/console/api/dead-letters?tenant=globex'];
    return Promise.all(paths.map(async (path) => (await fetch(path)).status));
  }, globexId);
  assert.deepEqual(statuses, [404, 404, 404, 404]);

  const operator = await openBrowser();
  await logIn(operator.page, world, world.keys.operator);
  await operator.page.getByRole('link', { name: 'Strategies' }).click();
  await operator.page.getByText('Pick a tenant above').waitFor();
  await operator.page.getByLabel('tenant', { exact: true }).selectOption('globex');
  await operator.page.getByRole('link', { name: 'globex-only' }).waitFor();
  await operator.page.getByRole('link', { name: 'Messages', exact: true }).first().click();
  assert.match(operator.page.url(), /tenant=globex/, 'the tenant stays picked from page to page');
  await operator.page.getByLabel('Tag').fill('campaign');
  await operator.page.getByRole('button', { name: 'Search' }).click();
  await operator.page.locator('table.messages tbody tr').first().waitFor();
  assert.match((await operator.page.locator('table.messages').textContent()) ?? '', new RegExp(globexId));
});

test('the providers page shows health, circuits and the outcome classes over time from Prometheus; the lanes page follows the queues live', async () => {
  const { prometheusTargetsDir } = (await import('./harness.ts')).stackEnv();
  const run = (await import('./harness.ts')).uniqueName('console');
  // A third of the requests fail, so five in a row (the default threshold) would open the
  // circuit now and then and the page would rightly say `down`: the threshold is out of the
  // traffic's reach, and the page must show the circuit closed and the provider healthy.
  const world = await consoleWorld({
    env: { INGEST_CONSOLE_PROMETHEUS_SELECTOR: `run="${run}"`, DISPATCHER_HEARTBEAT_INTERVAL_MS: '500', DISPATCHER_CIRCUIT_FAILURE_THRESHOLD: '1000' },
  });
  const { writeFile, rm } = await import('node:fs/promises');
  const file = `${prometheusTargetsDir}/${run}.json`;
  await writeFile(file, JSON.stringify([{ targets: [new URL(world.deployment.dispatcher!.url).host], labels: { tier: 'dispatcher', run } }]));
  after(() => rm(file, { force: true }));
  await setSandboxBehaviour(world.deployment.sandbox, { error_rate: 0.3 });
  // Traffic over a few seconds, a third of it answered 503, so the classes have a shape.
  for (let i = 0; i < 16; i++) {
    await fetch(`${world.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${world.keys.acmeSend}`, 'content-type': 'application/json' },
      body: JSON.stringify(smsTo('+79161234567', `load ${i}`)),
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  const api = await world.as(world.keys.acmeAdmin);
  const classes = await eventually(
    'Prometheus to hold a few samples of this run\'s outcome classes',
    async () => {
      const answer = (await api.get('/providers/sandbox-sms/metrics?minutes=15')).body;
      const points = (name: string) => answer.series.find((s: { class: string }) => s.class === name)?.points.length ?? 0;
      return points('accepted') >= 3 && points('error') >= 1 ? answer : undefined;
    },
    45_000,
    1000,
  );
  assert.equal(classes.available, true);
  assert.equal(classes.step_seconds, 5);
  assert.deepEqual(classes.series.map((s: { class: string }) => s.class), ['accepted', 'rejected', 'error', 'throttled', 'retried', 'failed_over', 'dead_lettered']);
  // Another tenant's provider of the same id is not this one: globex's series are its own.
  const globex = await world.as(world.keys.globexAdmin);
  const theirs = (await globex.get('/providers/sandbox-sms/metrics?minutes=15')).body;
  assert.ok(theirs.series.every((s: { points: unknown[] }) => s.points.length === 0), "globex sent nothing: none of acme's samples show");

  const { page } = await openBrowser();
  await logIn(page, world, world.keys.acmeAdmin);
  await page.getByRole('link', { name: 'Providers' }).click();
  const row = page.locator('table.providers tbody tr', { hasText: 'sandbox-sms' });
  await row.waitFor();
  assert.match((await row.textContent()) ?? '', /healthy.*closed/);
  await page.locator('.chart canvas').first().waitFor();
  assert.match((await page.getByLabel('rate limit use').textContent()) ?? '', /Rate-limit use: [\d.]+\/s of \d+\/s/);
  await screenshot(page, 'providers');

  await page.getByRole('link', { name: 'Lanes' }).click();
  await page.locator('table.lanes tbody tr').first().waitFor();
  // The set's entries due later than an hour: retries and cascade timers of the tests before
  // this one come due (and leave the set) within minutes, so only new ones change this count.
  const delayed = async () => Number(/later (\d+)/.exec((await page.locator('section', { hasText: 'Delayed set' }).locator('p').textContent()) ?? '')?.[1] ?? 'NaN');
  await page.getByRole('heading', { name: 'Delayed set' }).waitFor();
  const before = await delayed();
  // Ten messages due in two hours wait in the delayed set: the page shows them on its next poll, without a reload.
  const sendAt = new Date(Date.now() + 7_200_000).toISOString();
  for (let i = 0; i < 10; i++) {
    const answer = await fetch(`${world.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${world.keys.acmeSend}`, 'content-type': 'application/json' },
      body: JSON.stringify(smsTo('+79161234567', `later ${i}`, { send_at: sendAt })),
    });
    assert.equal(answer.status, 202, await answer.text());
  }
  await eventually('the lanes page to show the new delayed messages without a reload', async () => ((await delayed()) >= before + 10 ? true : undefined), 10_000, 250);
  await page.locator('.chart canvas').first().waitFor();
  await screenshot(page, 'lanes');
});
