// Servers failing under traffic: a Redis restart (AOF on), a MongoDB restart, PostgreSQL
// unreachable. Redis and MongoDB are private instances the test kills; PostgreSQL is the
// stack's, cut off behind a TCP proxy: the stack's servers are shared with other tests and
// are never stopped here. Each ends with the ledger.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { eventually, stackEnv, holdFor, testKafka } from './harness.ts';
import { kafkaIntakeEnv, kafkaIntakeNames } from './kafka-support.ts';
import { faultDurations, ledgerOf, privateMongo, privateRedis, startTraffic, TcpProxy, verdict } from './faults.ts';
import { startDeployment } from './services.ts';


// The recovery pass repairs what a lost Redis write leaves behind, so it runs often here;
// the dispatcher reclaims what a restart left pending. Its grace stays above what AOF
// with fsync every second can lose (up to 2 s of acknowledged writes when the disk is
// slow): a guard the pass sees is then older than anything a crash can take back.
const repairQuickly = {
  INGEST_RECOVERY_GRACE_MS: '5000',
  INGEST_RECOVERY_INTERVAL_MS: '500',
  DISPATCHER_VISIBILITY_TIMEOUT_MS: '2000',
};

// A Redis restart once left a message `queued` for good (about one run in two to four
// under load): a claim answered just before the kill, whose next Redis call (the sending
// markers) failed, stayed held by its replica, so the reclaim skipped it as the replica's
// own work for ever. The next test reproduces that race on purpose (docs/reliability.md).
test('Redis killed and restarted (AOF on) during traffic: nothing accepted is lost or stuck', async () => {
  const redis = await privateRedis();
  const deployment = await startDeployment({ env: { COMMSTRAT_REDIS_URL: redis.url, ...repairQuickly } });
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await holdFor(1500, 'traffic before the fault');
  await redis.restart(1000);
  await holdFor(2000, 'traffic after the restart');
  await traffic.stop();
  // Requests of the outage are refused (503) or, when ioredis reconnects within their
  // wait, answered late: either is right, so the refusals are reported, not required.
  console.log(`traffic: ${traffic.accepted.length} accepted, refused ${JSON.stringify([...traffic.refused])}`);
  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { redisUrl: redis.url, duplicateBound: 2 * 5 * 25 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
});

// The race a Redis restart plays with a dispatcher, made certain: a claim answered, and
// the very next Redis call of that claim (the sending markers) refused. A private Redis
// refuses scripts (ACL) for a moment, so the critical loop's claim goes through and its
// marking fails. The claimed entries stay pending on the replica; once Redis takes
// scripts again the replica must reclaim them after the visibility timeout and send them.
test('a claim whose next Redis call fails is reclaimed and sent, not held by its replica for ever', async () => {
  const redis = await privateRedis();
  const deployment = await startDeployment({
    dispatcher: false,
    env: { COMMSTRAT_REDIS_URL: redis.url, DISPATCHER_VISIBILITY_TIMEOUT_MS: '1000' },
  });
  const { status, body } = await deployment.api('POST', '/v1/messages/batch', {
    messages: Array.from({ length: 5 }, (_, i) => ({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: `c${i}` }, priority: 'critical' })),
  });
  assert.equal(status, 202);
  const ids: string[] = body.accepted.map((item: { id: string }) => item.id);
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  try {
    await admin.call('ACL', 'SETUSER', 'default', '-@scripting');
    await deployment.startDispatcher();
    const lane = `${String(deployment.env['COMMSTRAT_REDIS_PREFIX'])}lane:critical`;
    await eventually('the critical loop to claim the entries', async () => {
      const [pending] = (await admin.xpending(lane, 'dispatchers')) as [number];
      return pending === ids.length ? true : undefined;
    }, 15_000);
    await holdFor(500, 'its marking fails meanwhile (NOPERM), more than once');
    await admin.call('ACL', 'SETUSER', 'default', '+@all');
  } finally {
    admin.disconnect();
  }
  const report = await ledgerOf(deployment, { rest: ids }, { redisUrl: redis.url, timeoutMs: 20_000 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], ids.length, verdict(report));
});

test('MongoDB killed and restarted during traffic: nothing accepted is lost or stuck', async () => {
  const mongo = await privateMongo();
  const deployment = await startDeployment({ env: { COMMSTRAT_MONGO_URL: mongo.url, ...repairQuickly } });
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await holdFor(1500, 'traffic before the fault');
  await mongo.restart(1000);
  // Requests of the outage may wait for the server (driver retries) rather than fail.
  const afterRestart = traffic.accepted.length;
  await holdFor(3000, 'traffic after the server is back');
  await traffic.stop();
  assert.ok(traffic.accepted.length > afterRestart, 'traffic is accepted again after the restart');
  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { mongoUrl: mongo.url, duplicateBound: 5 * 25, timeoutMs: 90_000 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
});

// A paused server differs from a killed one: its connections stay open and every call on
// them hangs rather than fails, so only the clients' own timeouts end the wait.
test('MongoDB paused (kill -STOP) for 10 s during traffic, then resumed: nothing accepted is lost or stuck', async () => {
  const mongo = await privateMongo();
  const deployment = await startDeployment({ env: { COMMSTRAT_MONGO_URL: mongo.url, ...repairQuickly } });
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await holdFor(1500, 'traffic before the pause');
  await mongo.pause(10_000);
  const afterPause = traffic.accepted.length;
  await holdFor(3000, 'traffic after the server resumed');
  await traffic.stop();
  console.log(`traffic: ${traffic.accepted.length} accepted, refused ${JSON.stringify([...traffic.refused])}`);
  assert.ok(traffic.accepted.length > afterPause, 'traffic is accepted again after the pause');
  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { mongoUrl: mongo.url, duplicateBound: 5 * 25, timeoutMs: 90_000 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
});

test('MongoDB paused (kill -STOP) for 10 s while Kafka records flow: intake waits and retries in place, then every record is journaled and sent', async () => {
  const mongo = await privateMongo();
  const names = kafkaIntakeNames();
  const deployment = await startDeployment({ env: { COMMSTRAT_MONGO_URL: mongo.url, ...repairQuickly, ...kafkaIntakeEnv(names, 3) } });
  const { producer } = await testKafka([names.topic, names.rejectedTopic], [names.group]);
  const batchIds: string[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const value = JSON.stringify({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: `k${i}` }, priority: (['critical', 'high', 'normal', 'bulk'] as const)[i % 4] });
      const [meta] = await producer.send({ topic: names.topic, acks: -1, messages: [{ key: String(i), value, headers: { 'x-api-key': deployment.apiKey } }] });
      if (meta !== undefined) batchIds.push(`kafka:${names.topic}:${meta.partition}:${meta.baseOffset ?? ''}`);
      await holdFor(20, 'one record every 20 ms');
    }
  })();
  await holdFor(1500, 'records before the pause');
  await mongo.pause(10_000);
  await holdFor(3000, 'records after the server resumed');
  running = false;
  await loop;
  const report = await ledgerOf(deployment, { kafkaBatchIds: batchIds }, { mongoUrl: mongo.url, duplicateBound: 5 * 25, timeoutMs: 90_000 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], batchIds.length, verdict(report));
});

test('Redis paused (kill -STOP) for 10 s during traffic, then resumed: nothing accepted is lost or stuck', async () => {
  const redis = await privateRedis();
  const deployment = await startDeployment({ env: { COMMSTRAT_REDIS_URL: redis.url, ...repairQuickly } });
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await holdFor(1500, 'traffic before the pause');
  await redis.pause(10_000);
  const afterPause = traffic.accepted.length;
  await holdFor(3000, 'traffic after the server resumed');
  await traffic.stop();
  console.log(`traffic: ${traffic.accepted.length} accepted, refused ${JSON.stringify([...traffic.refused])}`);
  assert.ok(traffic.accepted.length > afterPause, 'traffic is accepted again after the pause');
  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { redisUrl: redis.url, duplicateBound: 2 * 5 * 25 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
});

// Its own timeout: the outage alone is a minute by default.
test('PostgreSQL unreachable, then back: traffic is accepted again and nothing accepted is lost or stuck', { timeout: 240_000 }, async () => {
  const { postgresOutageMs } = faultDurations();
  const stack = new URL(stackEnv().postgresUrl);
  const proxy = await TcpProxy.start(stack.hostname, Number(stack.port));
  const deployment = await startDeployment({ dispatcher: false });
  // The deployment's own database, reached through the proxy.
  const behindProxy = new URL(String(deployment.env['COMMSTRAT_POSTGRES_URL']));
  behindProxy.port = String(proxy.port);
  const replica = await deployment.startIngest({ COMMSTRAT_POSTGRES_URL: behindProxy.toString() });
  await deployment.startDispatcher({ COMMSTRAT_POSTGRES_URL: behindProxy.toString() });
  const traffic = startTraffic(replica.url, deployment.apiKey, { everyMs: 50 });
  await holdFor(1500, 'traffic before the fault');
  proxy.cut();
  await holdFor(postgresOutageMs, 'the outage');
  proxy.restore();
  const acceptedDuringOutage = traffic.accepted.length;
  await holdFor(3000, 'traffic after the server is back');
  await traffic.stop();
  assert.ok(traffic.accepted.length > acceptedDuringOutage, 'traffic is accepted again once PostgreSQL is back');
  const report = await ledgerOf(deployment, { rest: traffic.accepted });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
});
