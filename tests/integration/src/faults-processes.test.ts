// kill -9 of a dispatcher mid-batch and of an ingest mid-request, while traffic flows;
// each ends with the ledger: nothing accepted is lost or stuck, and the duplicates stay
// within the at-least-once bound (what the killed replica had in flight).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, stackEnv, holdFor } from './harness.ts';
import { freePort, ledgerOf, startTraffic, TcpProxy, verdict } from './faults.ts';
import { setSandboxBehaviour, spawnApp, startDeployment, type Deployment } from './services.ts';

const CONCURRENCY = 4;
// The demo rate of 1 000/s gives a burst of 25: no provider request carries more.
const LARGEST_REQUEST = 25;
// The critical lane's request slot per provider (apps/dispatcher/src/provider-registry.ts).
const URGENT_SLOTS = 1;
// What one dispatcher crash may resend, per provider: the requests the provider has and
// whose answer is not journaled. Other lanes: at most `concurrency` in flight plus
// `concurrency` answered awaiting the journal (no request starts beyond that). Critical:
// one in flight plus one answered awaiting the journal (the next waits for it). So
// 2 × (concurrency + critical slots) requests of at most the burst each: 250 here.
const CRASH_BOUND = 2 * (CONCURRENCY + URGENT_SLOTS) * LARGEST_REQUEST;

async function listening(url: string): Promise<void> {
  await eventually(`${url} to answer`, async () => {
    const response = await fetch(`${url}/health/live`).catch(() => undefined);
    return response?.ok === true ? true : undefined;
  }, 30_000);
}

/** Every message in the journal, accepted or not, has finished: no orphan of a crash. */
async function unfinishedInJournal(deployment: Deployment): Promise<number> {
  return deployment.db.collection('messages').countDocuments({ status: { $in: ['accepted', 'queued', 'scheduled', 'sending'] } });
}

test('kill -9 of a dispatcher mid-batch: its entries are reclaimed, nothing is lost, duplicates stay within its in-flight batches', async () => {
  const deployment = await startDeployment({ dispatcher: false, routing: { concurrency: CONCURRENCY, lingerMs: 10 } });
  // Answers drip out for about a second after the provider took the messages: a kill
  // then lands between "the provider has them" and "the journal says so".
  await setSandboxBehaviour(deployment.sandbox, { drip_ms: 8 });
  const port = await freePort();
  const victim = spawnApp('dispatcher', { ...deployment.env, DISPATCHER_PORT: String(port), DISPATCHER_CONSUMER: 'victim' });
  await listening(`http://127.0.0.1:${port}`);
  const traffic = startTraffic(deployment.ingest.url, deployment.apiKey);
  await eventually('the victim to have sent some batches', () => Promise.resolve(deployment.sandbox.received.size >= 100 ? true : undefined), 30_000);
  const receivedBeforeKill = deployment.sandbox.received.size;
  victim.child.kill('SIGKILL');
  const [, signal] = await victim.exited;
  assert.equal(signal, 'SIGKILL');
  await holdFor(1000, 'traffic keeps coming while no dispatcher runs');
  await setSandboxBehaviour(deployment.sandbox, { drip_ms: 0 });
  // The survivor reclaims what the victim held once the visibility timeout has passed.
  await deployment.startDispatcher({ DISPATCHER_VISIBILITY_TIMEOUT_MS: '1500', DISPATCHER_CONSUMER: 'survivor' });
  await holdFor(1000, 'traffic while the survivor takes over');
  await traffic.stop();

  const report = await ledgerOf(deployment, { rest: traffic.accepted }, { duplicateBound: CRASH_BOUND });
  assert.ok(report.accepted > receivedBeforeKill, 'traffic flowed before and after the kill');
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
  assert.equal(await unfinishedInJournal(deployment), 0);
});

test('kill -9 of an ingest mid-request: every 202 is journaled and sent, the requests cut off are repaired or never acknowledged', async () => {
  const deployment = await startDeployment({ routing: { concurrency: CONCURRENCY } });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const victim = spawnApp('ingest', { ...deployment.env, INGEST_PORT: String(port) });
  await listening(url);
  // Short pauses and many requests in flight, so the kill lands inside some of them.
  const traffic = startTraffic(url, deployment.apiKey, { everyMs: 5 });
  await eventually('the victim to accept traffic', () => Promise.resolve(traffic.accepted.length >= 20 ? true : undefined), 30_000);
  await holdFor(500, 'the kill lands inside requests in flight');
  victim.child.kill('SIGKILL');
  await victim.exited;
  await traffic.stop();
  assert.ok(traffic.accepted.length > 0, 'the victim accepted traffic before the kill');
  const cutOff = [...traffic.refused].filter(([reason]) => typeof reason === 'string').reduce((sum, [, count]) => sum + count, 0);
  assert.ok(cutOff > 0, `some requests were cut off by the kill: ${JSON.stringify([...traffic.refused])}`);

  // Another replica's recovery pass finds what the victim journaled but did not enqueue.
  await deployment.startIngest({ INGEST_RECOVERY_GRACE_MS: '0', INGEST_RECOVERY_INTERVAL_MS: '200' });
  const report = await ledgerOf(deployment, { rest: traffic.accepted });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], report.accepted, verdict(report));
  await eventually('no message of a cut-off request to be left unfinished', async () => ((await unfinishedInJournal(deployment)) === 0 ? true : undefined), 20_000);
});

test('kill -9 of a dispatcher whose journal lags behind its provider: duplicates stay within the bound', async () => {
  // The victim's journal answers a second late (a proxy holds every MongoDB reply back),
  // its provider at once. Before the fix a replica kept sending while the unjournaled
  // outcomes piled up, and a crash resent all of them (about 1 900 in a 2-minute soak).
  const deployment = await startDeployment({ dispatcher: false, routing: { concurrency: CONCURRENCY, lingerMs: 10 } });
  const { body } = await deployment.api('POST', '/v1/messages/batch', { messages: Array.from({ length: 1000 }, (_, i) => ({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: `m${i}` } })) });
  const ids: string[] = body.accepted.map((item: { id: string }) => item.id);
  const more = await deployment.api('POST', '/v1/messages/batch', { messages: Array.from({ length: 1000 }, (_, i) => ({ channel: 'sms', recipient: { phone: '+79161234567' }, content: { text: `n${i}` } })) });
  ids.push(...more.body.accepted.map((item: { id: string }) => item.id));
  const mongo = new URL(stackEnv().mongoUrl);
  const slowJournal = await TcpProxy.start(mongo.hostname, Number(mongo.port), 1000);
  const journalUrl = new URL(String(deployment.env['COMMSTRAT_MONGO_URL']));
  journalUrl.port = String(slowJournal.port);
  journalUrl.searchParams.set('directConnection', 'true');
  const port = await freePort();
  const victim = spawnApp('dispatcher', { ...deployment.env, COMMSTRAT_MONGO_URL: journalUrl.toString(), DISPATCHER_PORT: String(port), DISPATCHER_CONSUMER: 'victim' });
  await listening(`http://127.0.0.1:${port}`);
  await eventually('the victim to be sending', () => Promise.resolve(deployment.sandbox.received.size >= 300 ? true : undefined), 30_000);
  await holdFor(1500, 'the victim sends for a while before it is killed');
  victim.child.kill('SIGKILL');
  await victim.exited;
  await deployment.startDispatcher({ DISPATCHER_VISIBILITY_TIMEOUT_MS: '1500', DISPATCHER_CONSUMER: 'survivor' });
  const report = await ledgerOf(deployment, { rest: ids }, { duplicateBound: CRASH_BOUND });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], ids.length, verdict(report));
});
