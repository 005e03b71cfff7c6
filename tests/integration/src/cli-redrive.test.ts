// `commstrat redrive` against the real Redis and MongoDB: filters, dry run, the links
// between original and new message, idempotence, interruption and resume, tenant isolation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { messageView } from '@commstrat/ingest';
import { cliWorld, journalFinished, redrivesOf, runCli, spawnCli } from './cli-support.ts';
import { eventually } from './harness.ts';
import { decodeStreamEntry } from '@commstrat/queue';

test('a dry run lists what would go, by tenant, provider, reason and time, and changes nothing', async () => {
  const { journal, redis, prefix, env } = await cliWorld();
  const hourAgo = new Date(Date.now() - 3_600_000);
  const wanted = await journalFinished(journal, { tenant: 'acme', status: 'failed', provider: 'sandbox' });
  await journalFinished(journal, { tenant: 'acme', status: 'failed', provider: 'backup' });
  await journalFinished(journal, { tenant: 'acme', status: 'failed', provider: 'sandbox', reason: 'gave up after 3 attempts: timeout' });
  await journalFinished(journal, { tenant: 'acme', status: 'failed', provider: 'sandbox', createdAt: new Date(hourAgo.getTime() - 60_000) });
  await journalFinished(journal, { tenant: 'other', status: 'failed', provider: 'sandbox' });

  const run = await runCli(
    ['redrive', '--status', 'failed', '--tenant', 'acme', '--provider', 'sandbox', '--reason', 'INVALID_NUMBER', '--since', hourAgo.toISOString(), '--dry-run', '--json'],
    env,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.json.dry_run, true);
  assert.deepEqual(run.json.items.map((item: { message_id: string }) => item.message_id), [wanted.id]);
  assert.deepEqual(run.json.counts, { redrive: 1 });
  const [after] = await journal.findMessages([wanted.id]);
  assert.equal(after?.redriven_as, undefined);
  assert.equal(await redis.xlen(`${prefix}lane:high`), 0);

  const human = await runCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--dry-run'], env);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /dry run, nothing changed: selected 4; redrive 4/);
});

test('a re-drive makes a new message linked both ways, in its lane; the original stays failed; a second run sends nothing', async () => {
  const { journal, redis, prefix, db, env } = await cliWorld();
  const original = await journalFinished(journal, { tenant: 'acme', status: 'failed' });
  const otherTenant = await journalFinished(journal, { tenant: 'other', status: 'failed' });

  const first = await runCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(first.json.counts, { redriven: 1 });
  const [copy, ...more] = await redrivesOf(db, original.id);
  assert.ok(copy !== undefined && more.length === 0, 'exactly one new message');
  assert.equal(first.json.items[0].new_id, copy.id);

  const [linked] = await journal.findMessages([original.id]);
  assert.equal(linked?.status, 'failed');
  assert.equal(linked?.redriven_as, copy.id);
  assert.deepEqual(linked?.timeline, original.timeline, "the original's timeline gets no new state");
  const newMessage = await journal.findMessage('acme', copy.id);
  assert.equal(newMessage?.status, 'queued');
  assert.equal(newMessage?.redrive_of, original.id);
  assert.deepEqual(newMessage?.recipient, original.recipient);
  assert.deepEqual(newMessage?.content, original.content);
  assert.match(newMessage?.timeline[0]?.reason ?? '', new RegExp(`re-drive of ${original.id}`));
  // What GET /v1/messages/{id} answers, both ways.
  assert.equal(messageView(newMessage).redrive_of, original.id);
  assert.equal(messageView(linked).redriven_as, copy.id);
  // Journaled and enqueued as ingest does: its request verified, its entry in its lane.
  assert.equal((await journal.findBatch(copy.id))?.enqueued, true);
  const entries = await redis.xrange(`${prefix}lane:high`, '-', '+');
  assert.equal(entries.length, 1);
  assert.equal(decodeStreamEntry(entries[0]?.[1] ?? []).id, copy.id);

  // Tenant isolation: the other tenant's failed message was not touched.
  const [untouched] = await journal.findMessages([otherTenant.id]);
  assert.equal(untouched?.redriven_as, undefined);
  assert.equal((await redrivesOf(db, otherTenant.id)).length, 0);

  const second = await runCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(second.json.counts, { skipped: 1 });
  assert.deepEqual(second.json.skipped, { 'already re-driven': 1 });
  assert.equal((await redrivesOf(db, original.id)).length, 1);
  assert.equal(await redis.xlen(`${prefix}lane:high`), 1);
});

test('a run killed midway and run again re-drives each original exactly once', async () => {
  const { journal, redis, prefix, db, env } = await cliWorld();
  const originals = [];
  for (let i = 0; i < 8; i += 1) originals.push(await journalFinished(journal, { tenant: 'acme', status: 'failed' }));

  const slow = spawnCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--rate', '4'], env);
  // Kill it hard once it has re-driven some but not all (4 a second: about 1 s in).
  await eventually('a few re-drives', async () => {
    const count = await db.collection('messages').countDocuments({ redrive_of: { $exists: true } });
    return count >= 2 ? count : undefined;
  });
  slow.child.kill('SIGKILL');
  await slow.result;
  const cutShort = await db.collection('messages').countDocuments({ redrive_of: { $exists: true } });
  assert.ok(cutShort < originals.length, `killed before the end (${cutShort} of ${originals.length})`);

  const resumed = await runCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--json'], env);
  assert.equal(resumed.code, 0, resumed.stderr);
  for (const original of originals) {
    const copies = await redrivesOf(db, original.id);
    assert.equal(copies.length, 1, `original ${original.id} re-driven once`);
    const [linked] = await journal.findMessages([original.id]);
    assert.equal(linked?.redriven_as, copies[0]?.id);
    assert.equal(linked?.status, 'failed');
  }
  // Each new message entered its lane once.
  const entries = await redis.xrange(`${prefix}lane:high`, '-', '+');
  const ids = entries.map(([, fields]) => decodeStreamEntry(fields).id);
  assert.equal(ids.length, originals.length);
  assert.equal(new Set(ids).size, originals.length);
});

test('expired messages go only with --include-expired and a new expiry', async () => {
  const { journal, db, env } = await cliWorld();
  const expired = await journalFinished(journal, {
    tenant: 'acme',
    status: 'expired',
    reason: 'expired before it was sent',
    expiresAt: new Date(Date.now() - 1000),
  });

  const refused = await runCli(['redrive', '--status', 'expired', '--tenant', 'acme'], env);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--include-expired --expires-in/);
  const noExpiry = await runCli(['redrive', '--status', 'expired', '--tenant', 'acme', '--include-expired'], env);
  assert.equal(noExpiry.code, 2);
  assert.match(noExpiry.stderr, /needs --expires-in/);
  assert.equal((await redrivesOf(db, expired.id)).length, 0);

  const before = Date.now();
  const run = await runCli(['redrive', '--status', 'expired', '--tenant', 'acme', '--include-expired', '--expires-in', '1h', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  const [copy] = await redrivesOf(db, expired.id);
  const expiresAt = copy?.expires_at?.getTime() ?? 0;
  assert.ok(expiresAt >= before + 3_600_000 - 1000 && expiresAt <= Date.now() + 3_600_000, 'a new expiry an hour out');
});

test('bad options get a clear error that says what to do', async () => {
  const { env } = await cliWorld();
  const noTenant = await runCli(['redrive', '--status', 'failed'], env);
  assert.equal(noTenant.code, 2);
  assert.match(noTenant.stderr, /--tenant: is required: name the tenant, or pass --all-tenants/);
  const delivered = await runCli(['redrive', '--status', 'delivered', '--all-tenants'], env);
  assert.equal(delivered.code, 2);
  assert.match(delivered.stderr, /--status: expected one of failed, expired, cancelled, rejected/);
  const badTime = await runCli(['redrive', '--status', 'failed', '--all-tenants', '--since', 'yesterday'], env);
  assert.match(badTime.stderr, /--since: expected an ISO 8601 time/);
  const noRedis = await runCli(['redrive', '--status', 'failed', '--all-tenants'], { COMMSTRAT_MONGO_URL: env['COMMSTRAT_MONGO_URL'] ?? '' });
  assert.equal(noRedis.code, 2);
  assert.match(noRedis.stderr, /COMMSTRAT_REDIS_URL: is not set: run `eval "\$\(scripts\/stack env\)"`/);
  // Port 1: nothing listens there.
  const down = await runCli(['inspect'], { COMMSTRAT_REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(down.code, 1);
  assert.match(down.stderr, /Redis at redis:\/\/127\.0\.0\.1:1 is unavailable \(connect ECONNREFUSED[^)]*\): is COMMSTRAT_REDIS_URL right.*\[dependency_unavailable\]/);
});

test('an original linked by a run that died before journaling its new message is finished under that id', async () => {
  const { journal, redis, prefix, db, env } = await cliWorld();
  const original = await journalFinished(journal, { tenant: 'acme', status: 'failed' });
  const other = await journalFinished(journal, { tenant: 'other', status: 'failed' });
  // What a run killed right after its first write leaves: the link, and nothing else.
  const planned = '01M8ZZZZZZZZZZZZZZZZZZZZZZ';
  assert.equal(await journal.claimRedrive('acme', original.id, planned), true);
  assert.equal(await journal.claimRedrive('acme', original.id, 'another'), false, 'the link is set once');

  const run = await runCli(['redrive', '--status', 'failed', '--all-tenants', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.counts, { resumed: 1, redriven: 1 });
  const [copy, ...more] = await redrivesOf(db, original.id);
  assert.equal(copy?.id, planned);
  assert.equal(more.length, 0);
  assert.equal((await redrivesOf(db, other.id)).length, 1, '--all-tenants reaches every tenant');
  assert.equal(await redis.xlen(`${prefix}lane:high`), 2);
});

test('the re-drive queries are served by an index, for one tenant or all', async () => {
  const { db } = await cliWorld();
  // The filter shape Journal.findRedriveCandidates builds: tenant + status + provider + id range, oldest first.
  const plan = async (filter: object) => {
    const explained = (await db.collection('messages').find(filter).sort({ _id: 1 }).limit(200).explain()) as any;
    return JSON.stringify(explained.queryPlanner.winningPlan);
  };
  const range = { $gte: '01M8000000000000000000000', $lt: '01M9000000000000000000000' };
  assert.match(await plan({ status: 'failed', tenant_id: 'acme', provider: 'sandbox', _id: range }), /"stage":"IXSCAN".*"indexName":"tenant_status_id"/);
  // Across tenants, the tenants come from the tenant_id index alone.
  const distinct = await db.command({ explain: { distinct: 'messages', key: 'tenant_id', query: {} }, verbosity: 'queryPlanner' });
  assert.match(JSON.stringify(distinct['queryPlanner'].winningPlan), /"stage":"DISTINCT_SCAN".*"indexName":"tenant_id"/);
});

test('Ctrl-C stops a run between two messages, with its summary; the next run goes on from there', async () => {
  const { journal, db, env } = await cliWorld();
  const originals = [];
  for (let i = 0; i < 6; i += 1) originals.push(await journalFinished(journal, { tenant: 'acme', status: 'failed' }));
  const slow = spawnCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--rate', '3', '--json'], env);
  await eventually('a first re-drive', async () =>
    (await db.collection('messages').countDocuments({ redrive_of: { $exists: true } })) >= 1 ? true : undefined,
  );
  slow.child.kill('SIGINT');
  const stopped = await slow.result;
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.equal(stopped.json.interrupted, true);
  const done = stopped.json.counts.redriven as number;
  assert.ok(done >= 1 && done < originals.length, `stopped midway (${done})`);
  assert.equal(await db.collection('messages').countDocuments({ redrive_of: { $exists: true } }), done, 'every started item finished');

  const rest = await runCli(['redrive', '--status', 'failed', '--tenant', 'acme', '--json'], env);
  assert.deepEqual(rest.json.counts, { skipped: done, redriven: originals.length - done });
});
