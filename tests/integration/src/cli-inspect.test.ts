// `commstrat inspect` against the real Redis, and the whole path with a real dispatcher:
// a dead letter it writes, its heartbeat, and a replay that the dispatcher then sends.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy } from '@commstrat/config';
import { ProviderRateLimiter } from '@commstrat/queue';
import { TestLanes } from './test-lanes.ts';
import { runCli, type CliEnv } from './cli-support.ts';
import { eventually, queuedMessage, stackEnv, testRedis } from './harness.ts';
import { setSandboxBehaviour, startDeployment } from './services.ts';

test('inspect --json reports lanes and consumers, the delayed set by due time and reason, dead letters by code and token buckets', async () => {
  const { redis, prefix } = await testRedis();
  const env: CliEnv = { COMMSTRAT_REDIS_URL: stackEnv().redisUrl, COMMSTRAT_REDIS_PREFIX: prefix };
  const lanes = new TestLanes(redis, { prefix });
  await lanes.ensureGroup();
  const before = Date.now();
  await lanes.enqueue([queuedMessage('high'), queuedMessage('high'), queuedMessage('high'), queuedMessage('bulk')]);
  const enqueued = Date.now();
  await lanes.claim('replica-a', 2, 10, ['high']);
  const now = Date.now();
  await lanes.defer([
    { message: queuedMessage('normal'), dueAt: now - 5000 },
    { message: { ...queuedMessage('normal'), attempts: 2 }, dueAt: now + 30_000 },
    { message: queuedMessage('normal'), dueAt: now + 7_200_000 },
  ]);
  await lanes.deadLetter([
    { message: queuedMessage('high'), reason: 'gave up', code: 'provider_unavailable', provider: 't1/sandbox' },
    { message: queuedMessage('high'), reason: 'gave up', code: 'provider_unavailable', provider: 't1/sandbox' },
    { message: queuedMessage('high'), reason: 'gave up (before codes)' },
  ]);
  // A slow refill, so the bucket (which expires once full again) is still there when inspected.
  await new ProviderRateLimiter(redis, { prefix }).take('t1/sandbox', 1, 0.01, 1);

  const inspectAt = Date.now();
  const run = await runCli(['inspect', '--json'], env);
  const answeredAt = Date.now();
  assert.equal(run.code, 0, run.stderr);
  const high = run.json.lanes.find((lane: { lane: string }) => lane.lane === 'high');
  assert.equal(high.depth, 3);
  assert.equal(high.pending, 2);
  // The oldest high entry was appended between `before` and `enqueued`, and read after
  // the CLI started (Redis's clock is this machine's).
  assert.ok(high.lagMs > 0 && high.lagMs >= inspectAt - enqueued && high.lagMs <= answeredAt - before, `lag ${high.lagMs} ms`);
  assert.equal(high.consumers.length, 1);
  assert.equal(high.consumers[0].name, 'replica-a');
  assert.equal(high.consumers[0].pending, 2);
  assert.equal(typeof high.consumers[0].idleMs, 'number');
  assert.equal(run.json.lanes.find((lane: { lane: string }) => lane.lane === 'bulk').depth, 1);
  assert.deepEqual(run.json.delayed.due, { overdue: 1, '1m': 1, '10m': 0, '1h': 0, later: 1 });
  assert.deepEqual(run.json.delayed.byReason['1m'], { retry: 1 });
  assert.deepEqual(run.json.delayed.byReason.later, { scheduled: 1 });
  assert.deepEqual(run.json.dead_letters.byCode, { provider_unavailable: 2, unknown: 1 });
  assert.equal(run.json.token_buckets.length, 1);
  assert.equal(run.json.token_buckets[0].provider, 't1/sandbox');
  assert.deepEqual(run.json.replicas, []);

  const only = await runCli(['inspect', 'dlq', '--json'], env);
  assert.deepEqual(Object.keys(only.json).sort(), ['at', 'dead_letters']);
  const human = await runCli(['inspect'], env);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^high\s+3\s+\S+\s+2$/m);
  assert.match(human.stdout, /^high\s+replica-a\s+2\s+\S+$/m);
  assert.match(human.stdout, /^provider_unavailable\s+2$/m);
  const wrong = await runCli(['inspect', 'everything'], env);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /Allowed choices are lanes, delayed, dlq, providers, replicas/);
});

test('a dead letter from a real dispatcher is inspected by code, replayed, and sent; the API shows both links', async () => {
  const deployment = await startDeployment({ dispatcher: false });
  const { step } = { step: { route: { mode: 'failover', providers: ['sandbox-sms'] }, retry: { max_attempts: 2, base_delay_ms: 100, max_delay_ms: 200 } } };
  await saveStrategy(deployment.sql, deployment.tenantId, { name: 'sms-default', channel: 'sms', steps: [step] }, { defaultForChannel: true });
  await setSandboxBehaviour(deployment.sandbox, { error_rate: 1 });
  const replica = await deployment.startDispatcher({ DISPATCHER_CONSUMER: 'replica-a', DISPATCHER_HEARTBEAT_INTERVAL_MS: '200' });
  const env: CliEnv = {
    COMMSTRAT_REDIS_URL: stackEnv().redisUrl,
    COMMSTRAT_REDIS_PREFIX: deployment.env['COMMSTRAT_REDIS_PREFIX'] ?? '',
    COMMSTRAT_MONGO_URL: deployment.env['COMMSTRAT_MONGO_URL'] ?? '',
  };
  const posted = await deployment.api('POST', '/v1/messages', { channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: 'doomed' } });
  assert.equal(posted.status, 202);
  const id: string = posted.body.id;
  await eventually('the dead letter', async () => ((await deployment.lanes.deadLetterCount()) === 1 ? true : undefined));

  const seen = await eventually('the replica and its circuit in inspect', async () => {
    const run = await runCli(['inspect', '--json'], env);
    const [found] = run.json.replicas;
    return found?.circuits.length > 0 ? run.json : undefined;
  });
  assert.deepEqual(seen.dead_letters.byCode, { provider_unavailable: 1 });
  assert.equal(seen.replicas[0].consumer, 'replica-a');
  // The same version the replica's /info answers.
  const info = (await (await fetch(`${replica.url}/info`)).json()) as { config_version: string };
  assert.match(info.config_version, /^sha256:[0-9a-f]{16}$/);
  assert.equal(seen.replicas[0].configVersion, info.config_version);
  assert.equal(seen.replicas[0].circuits[0].provider, 'acme/sandbox-sms');

  await setSandboxBehaviour(deployment.sandbox, { error_rate: 0 });
  const replay = await runCli(['replay', 'dlq', '--tenant', 'acme', '--provider', 'sandbox-sms', '--error-code', 'provider_unavailable', '--json'], env);
  assert.equal(replay.code, 0, replay.stderr);
  assert.deepEqual(replay.json.counts, { replayed: 1 });
  const newId: string = replay.json.items[0].new_id;
  const sent = await eventually('the new message to be sent', async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${newId}`);
    return body.status === 'sent' ? body : undefined;
  });
  assert.equal(sent.redrive_of, id);
  const { body: original } = await deployment.api('GET', `/v1/messages/${id}`);
  assert.equal(original.status, 'failed');
  assert.equal(original.redriven_as, newId);
  assert.equal(original.timeline.at(-1).status, 'failed', 'the original gets no new state');
  assert.equal(await deployment.lanes.deadLetterCount(), 0);

  await replica.close();
  const gone = await runCli(['inspect', 'replicas', '--json'], env);
  assert.deepEqual(gone.json.replicas, [], 'a replica that stopped withdraws its heartbeat');
});
