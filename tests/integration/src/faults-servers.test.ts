// Servers failing under traffic: a Redis restart (AOF on), a MongoDB restart, PostgreSQL
// unreachable. Redis and MongoDB are private instances the test kills; PostgreSQL is the
// stack's, cut off behind a TCP proxy: the stack's servers are shared with other tests and
// are never stopped here. Each ends with the ledger.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stackEnv } from './harness.ts';
import { faultDurations, ledgerOf, privateMongo, privateRedis, startTraffic, TcpProxy, verdict } from './faults.ts';
import { startDeployment } from './services.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The recovery pass repairs what a lost Redis write leaves behind (AOF fsyncs once a
// second), so it runs often here; the dispatcher reclaims what a restart left pending.
const repairQuickly = {
  INGEST_RECOVERY_GRACE_MS: '2000',
  INGEST_RECOVERY_INTERVAL_MS: '500',
  DISPATCHER_VISIBILITY_TIMEOUT_MS: '2000',
};

// Known defect, not yet found: after a Redis restart a message sometimes stays `queued`
// (1 of about 500 in a run; docs/reliability.md). The test runs and reports every time,
// but does not fail the suite until the cause is fixed.
test(
  'Redis killed and restarted (AOF on) during traffic: nothing accepted is lost or stuck',
  { todo: 'an intermittent message left queued after the restart (docs/reliability.md, "Open defects")' },
  async () => {
  const redis = await privateRedis();
  const deployment = await startDeployment({ env: { COMMSTRAT_REDIS_URL: redis.url, ...repairQuickly } });
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await sleep(1500);
  await redis.restart(1000);
  await sleep(2000);
  await traffic.stop();
  assert.ok(traffic.refused.size > 0, 'some requests were refused while Redis was down');
  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { redisUrl: redis.url, duplicateBound: 2 * 5 * 25 });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
  },
);

test('MongoDB killed and restarted during traffic: nothing accepted is lost or stuck', async () => {
  const mongo = await privateMongo();
  const deployment = await startDeployment({ env: { COMMSTRAT_MONGO_URL: mongo.url, ...repairQuickly } });
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await sleep(1500);
  await mongo.restart(1000);
  // Requests of the outage may wait for the server (driver retries) rather than fail.
  const afterRestart = traffic.accepted.length;
  await sleep(3000);
  await traffic.stop();
  assert.ok(traffic.accepted.length > afterRestart, 'traffic is accepted again after the restart');
  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { mongoUrl: mongo.url, duplicateBound: 5 * 25, timeoutMs: 90_000 });
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
  await sleep(1500);
  proxy.cut();
  await sleep(postgresOutageMs);
  proxy.restore();
  const acceptedDuringOutage = traffic.accepted.length;
  await sleep(3000);
  await traffic.stop();
  assert.ok(traffic.accepted.length > acceptedDuringOutage, 'traffic is accepted again once PostgreSQL is back');
  const report = await ledgerOf(deployment, { rest: traffic.accepted });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
});
