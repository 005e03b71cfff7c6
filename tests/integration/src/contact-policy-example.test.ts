// The worked example "a marketing campaign under caps and quiet hours" of
// docs/strategies.md, run as written there: the strategy is read from the page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy } from '@commstrat/config';
import { documentedExample } from './docs-examples.ts';
import { eventually, holdFor } from './harness.ts';
import { startDeployment, type Deployment } from './services.ts';

const ANN = '+4915112345678';
const BOB = '+4915187654321';
const DAY = 86_400_000;

async function statuses(deployment: Deployment, ids: readonly string[]) {
  const found = await Promise.all(ids.map(async (id) => (await deployment.api('GET', `/v1/messages/${id}`)).body));
  return found.map((m) => ({ status: m.status as string, reason: (m.timeline.at(-1)?.reason ?? '') as string }));
}

async function until(deployment: Deployment, what: string, ids: readonly string[], done: (all: { status: string; reason: string }[]) => boolean) {
  return eventually(what, async () => {
    const all = await statuses(deployment, ids);
    return done(all) ? all : undefined;
  }, 20_000);
}

test('docs example: a marketing campaign under caps and quiet hours', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const strategy = documentedExample('marketing-campaign');
  await saveStrategy(deployment.sql, deployment.tenantId, strategy);
  // The dispatcher's clock runs at real speed from an offset the test moves. It starts
  // at 23:30 UTC tomorrow: 00:30 or 01:30 in Berlin, inside quiet hours whatever the season.
  const tomorrow = new Date(Date.now() + DAY).toISOString().slice(0, 10);
  let offset = Date.parse(`${tomorrow}T23:30:00Z`) - Date.now();
  await deployment.startDispatcher({}, { clock: () => Date.now() + offset });
  const jumpTo = (at: number) => {
    offset = at - Date.now();
  };

  const offer = (phone: string, text: string) => ({ strategy: 'newsletter', category: 'marketing', recipient: { phone }, content: { text } });
  const { body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: [offer(ANN, 'offer 1'), offer(ANN, 'offer 2'), offer(ANN, 'offer 3'), offer(BOB, 'offer for Bob')],
  });
  const ids: string[] = body.accepted.map((item: { id: string }) => item.id);
  assert.equal(ids.length, 4);

  // Quiet hours: everything waits for 09:00 Berlin time.
  const night = await until(deployment, 'all to wait for the window', ids, (all) => all.every((m) => m.status === 'scheduled'));
  for (const m of night) assert.match(m.reason, /^outside the send window; opens /);
  const opening = Date.parse(night[0]?.reason.replace(/^.*opens /, '') ?? '');
  assert.equal(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', timeStyle: 'short' }).format(opening), '09:00');
  await holdFor(300, 'nothing may be sent during quiet hours');
  assert.equal(deployment.sandbox.received.size, 0, 'nothing sent during quiet hours');

  // 09:00: Bob's and two of Ann's go; her third waits for the cap.
  jumpTo(opening + 1000);
  const morning = await until(deployment, 'the window to open', ids, (all) =>
    all.filter((m) => m.status === 'sent').length === 3 && all.some((m) => /frequency cap/.test(m.reason)),
  );
  assert.equal(deployment.sandbox.received.list({ to: BOB }).length, 1);
  assert.equal(deployment.sandbox.received.list({ to: ANN }).length, 2);
  const held = morning.find((m) => m.status === 'scheduled');
  assert.match(held?.reason ?? '', /^frequency cap: at most 2 marketing sms per 86400 s to this recipient; next allowed at /);
  const allowedAt = Date.parse(held?.reason.replace(/^.*next allowed at /, '') ?? '');
  assert.ok(allowedAt >= opening + DAY && allowedAt < opening + DAY + 5000, 'a day after the first of the morning');

  // 09:00 the next day it goes.
  jumpTo(allowedAt + 1000);
  await until(deployment, 'the third offer to go the next day', ids, (all) => all.every((m) => m.status === 'sent'));
  assert.equal(deployment.sandbox.received.list({ to: ANN }).length, 3);
});
