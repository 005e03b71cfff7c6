// `commstrat replay dlq` against the real Redis and MongoDB: filters, dry run, links,
// removal of replayed entries, idempotence, interruption and resume, tenant isolation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toQueuedMessage, type Message } from '@commstrat/core';
import { TestLanes } from './test-lanes.ts';
import { cliWorld, journalFinished, redrivesOf, runCli, spawnCli } from './cli-support.ts';
import { eventually } from './harness.ts';
import { decodeStreamEntry } from '@commstrat/queue';

async function deadLettered(
  world: Awaited<ReturnType<typeof cliWorld>>,
  tenant: string,
  entry: { code?: string; provider?: string } = { code: 'provider_unavailable', provider: `${tenant}/sandbox` },
): Promise<Message> {
  const message = await journalFinished(world.journal, { tenant, status: 'failed', reason: 'gave up after 3 attempts: sandbox answered 503' });
  await new TestLanes(world.redis, { prefix: world.prefix }).deadLetter([
    { message: { ...toQueuedMessage(message), attempts: 3 }, reason: 'gave up after 3 attempts: sandbox answered 503', ...entry },
  ]);
  return message;
}

test('a dry run lists the selected dead letters and their counts, and changes nothing', async () => {
  const world = await cliWorld();
  const { redis, prefix, env } = world;
  const wanted = await deadLettered(world, 'acme');
  await deadLettered(world, 'acme', { code: 'rate_limited', provider: 'acme/sandbox' });
  await deadLettered(world, 'acme', { code: 'provider_unavailable', provider: 'acme/backup' });
  await deadLettered(world, 'other');
  const run = await runCli(['replay', 'dlq', '--tenant', 'acme', '--provider', 'sandbox', '--error-code', 'provider_unavailable', '--dry-run', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.items.map((item: { message_id: string }) => item.message_id), [wanted.id]);
  assert.deepEqual(run.json.counts, { replay: 1 });
  assert.equal(run.json.items[0].code, 'provider_unavailable');
  assert.equal(await redis.xlen(`${prefix}dlq`), 4);
  assert.equal(await redis.xlen(`${prefix}lane:high`), 0);

  // The provider key, as the alerts' runbook writes it, scopes the run to its tenant.
  const byKey = await runCli(['replay', 'dlq', '--provider', 'acme/sandbox', '--error-code', 'provider_unavailable', '--dry-run', '--json'], env);
  assert.equal(byKey.code, 0, byKey.stderr);
  assert.deepEqual(byKey.json.items.map((item: { message_id: string }) => item.message_id), [wanted.id]);
  const clash = await runCli(['replay', 'dlq', '--tenant', 'other', '--provider', 'acme/sandbox', '--dry-run'], env);
  assert.equal(clash.code, 2);
  assert.match(clash.stderr, /--provider: names tenant "acme", but --tenant is "other"/);

  const window = await runCli(['replay', 'dlq', '--all-tenants', '--until', new Date(Date.now() - 3_600_000).toISOString(), '--dry-run', '--json'], env);
  assert.equal(window.json.selected, 0, 'nothing was dead-lettered an hour ago');
});

test('a replay re-sends each selected dead letter once as a linked new message and removes its entry', async () => {
  const world = await cliWorld();
  const { redis, prefix, db, journal, env } = world;
  const original = await deadLettered(world, 'acme');
  const otherTenant = await deadLettered(world, 'other');
  // An entry without a code (written before entries carried one) and one the journal does not know.
  const legacy = await deadLettered(world, 'acme', {});
  const lanes = new TestLanes(redis, { prefix });
  const unknown = { ...toQueuedMessage(original), id: '01M8ZZZZZZZZZZZZZZZZZZZZZY' };
  await lanes.deadLetter([{ message: unknown, reason: 'x', code: 'provider_unavailable' }]);

  const run = await runCli(['replay', 'dlq', '--tenant', 'acme', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.counts, { replayed: 2, skipped: 1 });
  assert.deepEqual(run.json.skipped, { 'not in the journal (kept)': 1 });
  for (const message of [original, legacy]) {
    const [copy, ...more] = await redrivesOf(db, message.id);
    assert.ok(copy !== undefined && more.length === 0);
    const [linked] = await journal.findMessages([message.id]);
    assert.equal(linked?.redriven_as, copy.id);
    assert.equal(linked?.status, 'failed');
    assert.deepEqual(linked?.timeline, message.timeline);
  }
  const left = (await redis.xrange(`${prefix}dlq`, '-', '+')).map(([, fields]) => decodeStreamEntry(fields).id);
  assert.deepEqual(left.sort(), [otherTenant.id, unknown.id].sort(), "the other tenant's entry and the unknown one stay");
  assert.equal((await redrivesOf(db, otherTenant.id)).length, 0);
  assert.equal(await redis.xlen(`${prefix}lane:high`), 2);

  const again = await runCli(['replay', 'dlq', '--tenant', 'acme', '--json'], env);
  assert.deepEqual(again.json.counts, { skipped: 1 });
  assert.equal(await redis.xlen(`${prefix}lane:high`), 2, 'a second run sends nothing');
});

test('a replay killed midway and run again sends each original once and empties the selection', async () => {
  const world = await cliWorld();
  const { redis, prefix, db, env } = world;
  const originals: Message[] = [];
  for (let i = 0; i < 8; i += 1) originals.push(await deadLettered(world, 'acme'));
  const slow = spawnCli(['replay', 'dlq', '--tenant', 'acme', '--rate', '4'], env);
  await eventually('a few replays', async () => {
    const count = await db.collection('messages').countDocuments({ redrive_of: { $exists: true } });
    return count >= 2 ? count : undefined;
  });
  slow.child.kill('SIGKILL');
  await slow.result;
  assert.ok((await redis.xlen(`${prefix}dlq`)) > 0, 'killed before the end');

  const resumed = await runCli(['replay', 'dlq', '--tenant', 'acme', '--json'], env);
  assert.equal(resumed.code, 0, resumed.stderr);
  for (const original of originals) assert.equal((await redrivesOf(db, original.id)).length, 1);
  assert.equal(await redis.xlen(`${prefix}dlq`), 0);
  const ids = (await redis.xrange(`${prefix}lane:high`, '-', '+')).map(([, fields]) => decodeStreamEntry(fields).id);
  assert.equal(new Set(ids).size, originals.length);
  assert.equal(ids.length, originals.length);
});

test('on a pipe, progress is plain lines on stderr and the summary a table on stdout', async () => {
  const world = await cliWorld();
  await deadLettered(world, 'acme');
  const run = await runCli(['replay', 'dlq', '--tenant', 'acme'], world.env);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^replay dlq: 1\/1 replayed=1$/m);
  assert.match(run.stdout, /selected 1; replayed 1/);
  assert.match(run.stdout, /entry\s+message\s+tenant/);
});

test('a dead letter whose message the journal shows still on its way or delivered is not sent again', async () => {
  const world = await cliWorld();
  const { redis, prefix, db, journal, env } = world;
  const sent = await journalFinished(journal, { tenant: 'acme', status: 'sent' });
  await new TestLanes(redis, { prefix }).deadLetter([{ message: toQueuedMessage(sent), reason: 'x', code: 'provider_unavailable' }]);
  const run = await runCli(['replay', 'dlq', '--tenant', 'acme', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.skipped, { 'its status is sent, not failed, expired, rejected or cancelled': 1 });
  assert.equal((await redrivesOf(db, sent.id)).length, 0);
  assert.equal(await redis.xlen(`${prefix}dlq`), 1, 'kept for a person to look at');
});
