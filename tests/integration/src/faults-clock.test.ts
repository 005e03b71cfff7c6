// Clock edges, with the dispatcher's injectable clock: the end of a send window, the DST
// switches (a local opening that does not exist, and one that occurs twice), and send_at
// in the past. Each ends with the ledger, and nothing reaches the provider outside the window.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy } from '@commstrat/config';
import { eventually, holdFor } from './harness.ts';
import { ledgerOf, verdict } from './faults.ts';
import { startDeployment, type Deployment } from './services.ts';
import { sms, postMessage as post } from './requests.ts';

// Far enough ahead that a clock moved into 2027 does not expire the messages.
const EXPIRES = '2028-01-01T00:00:00Z';

/** A deployment whose default strategy has `window`, and a dispatcher on a clock the test sets. */
async function windowed(window: object): Promise<{ deployment: Deployment; setClock: (iso: string) => void }> {
  const deployment = await startDeployment({ dispatcher: false });
  await saveStrategy(
    deployment.sql,
    deployment.tenantId,
    { name: 'sms-default', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, window }] },
    { defaultForChannel: true },
  );
  // The clock runs at real speed from the instant the test last set.
  let offset = 0;
  await deployment.startDispatcher({}, { clock: () => Date.now() + offset });
  return { deployment, setClock: (iso) => (offset = new Date(iso).getTime() - Date.now()) };
}


async function scheduledFor(deployment: Deployment, id: string): Promise<string> {
  return eventually(`message ${id} to be scheduled`, async () => {
    const { body } = await deployment.api('GET', `/v1/messages/${id}`);
    if (body.status !== 'scheduled') return undefined;
    return /opens (\S+)$/.exec(body.timeline.at(-1)?.reason ?? '')?.[1];
  });
}

test('at the end of a send window: just inside goes now, just after waits for the next opening', async () => {
  const { deployment, setClock } = await windowed({ start: '09:00', end: '10:00', time_zone: 'UTC' });
  setClock('2027-03-10T09:59:50Z');
  const inside = await post(deployment, sms('inside', { expires_at: EXPIRES }));
  await eventually('the message inside the window to be sent', () => Promise.resolve(deployment.sandbox.received.size === 1 ? true : undefined));
  setClock('2027-03-10T10:00:00.100Z');
  const after = await post(deployment, sms('after', { expires_at: EXPIRES }));
  assert.equal(await scheduledFor(deployment, after), '2027-03-11T09:00:00.000Z');
  await holdFor(500, 'nothing may be sent after the window closed');
  assert.equal(deployment.sandbox.received.list({ clientRef: after }).length, 0, 'nothing sent after the window closed');
  setClock('2027-03-11T08:59:59.500Z');
  await holdFor(300, 'nor before it opens');
  assert.equal(deployment.sandbox.received.list({ clientRef: after }).length, 0, 'nor before it opens');
  setClock('2027-03-11T09:00:00.200Z');
  const report = await ledgerOf(deployment, { rest: [inside, after] });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 2, verdict(report));
});

test('the DST switches: a local opening that does not exist opens at the jump, one that occurs twice at the first', async () => {
  // Europe/Berlin springs forward on 2027-03-28 at 02:00 CET (01:00 UTC) to 03:00 CEST:
  // 02:30 does not exist that day. It falls back on 2027-10-31 at 03:00 CEST (01:00 UTC)
  // to 02:00 CET: 02:30 happens at 00:30 UTC and again at 01:30 UTC.
  const { deployment, setClock } = await windowed({ start: '02:30', end: '05:00', time_zone: 'Europe/Berlin' });
  setClock('2027-03-28T00:10:00Z');
  const spring = await post(deployment, sms('spring', { expires_at: EXPIRES }));
  assert.equal(await scheduledFor(deployment, spring), '2027-03-28T01:00:00.000Z');
  setClock('2027-03-28T01:00:00.200Z');
  await eventually('the spring message to be sent at the jump', () => Promise.resolve(deployment.sandbox.received.size === 1 ? true : undefined));

  setClock('2027-10-31T00:00:00Z');
  const autumn = await post(deployment, sms('autumn', { expires_at: EXPIRES }));
  assert.equal(await scheduledFor(deployment, autumn), '2027-10-31T00:30:00.000Z');
  setClock('2027-10-31T00:30:00.200Z');
  const report = await ledgerOf(deployment, { rest: [spring, autumn] });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 2, verdict(report));
});

test('send_at in the past is sent at once; send_at and expiry both past is refused, not accepted to expire', async () => {
  const deployment = await startDeployment();
  const past = new Date(Date.now() - 3600_000).toISOString();
  const id = await post(deployment, sms('late', { send_at: past }));
  const both = await deployment.api('POST', '/v1/messages', sms('hopeless', { send_at: past, expires_at: new Date(Date.now() - 60_000).toISOString() }));
  assert.equal(both.status, 422, JSON.stringify(both.body));
  const report = await ledgerOf(deployment, { rest: [id] });
  assert.ok(report.ok, verdict(report));
  assert.equal(report.byStatus['sent'], 1, verdict(report));
  assert.equal(deployment.sandbox.received.list({ clientRef: id }).length, 1);
});
