// Health-aware routing end to end: a weighted route over two sandbox providers, one of
// which starts answering 503 to every request and later recovers. The test counts where
// messages went in each phase (shares with generous bounds, never timings). The
// dispatcher's clock is moved forward once, past the recovery ramp, instead of waiting
// the ramp's minute.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { saveStrategy, upsertProvider, type ProviderInput } from '@commstrat/config';
import { eventually, holdFor } from './harness.ts';
import { setSandboxBehaviour, startDeployment, startSandbox, type Deployment, type RunningSandbox, LOOPBACK } from './services.ts';

const provider = (id: string, sandbox: RunningSandbox): ProviderInput => ({
  id,
  kind: 'http-sms',
  endpoint: sandbox.url,
  credentials: { token: sandbox.token },
  ratePerSecond: 1000,
  concurrency: 4,
  maxBatchSize: 100,
  lingerMs: 5,
  timeoutMs: 10_000,
});

type View = { status: string; provider?: string; timeline: { status: string; provider?: string }[] };

let phoneCounter = 0;
/** A recipient of its own per message: the weighted route is sticky per phone number. */
function nextPhone(): string {
  phoneCounter += 1;
  return `+49151${String(10_000_000 + Math.floor(Math.random() * 80_000_000) + phoneCounter).padStart(8, '0')}`;
}

/** Sends `count` messages, a few at a time, so the dispatcher learns from answers meanwhile; ends when all are sent. */
async function phase(deployment: Deployment, name: string, count: number): Promise<View[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 3) {
    const messages = Array.from({ length: Math.min(3, count - i) }, () => ({
      strategy: 'spread',
      recipient: { phone: nextPhone() },
      content: { text: `${name} ${i}` },
    }));
    const { status, body } = await deployment.api('POST', '/v1/messages/batch', { messages });
    assert.equal(status, 202, JSON.stringify(body));
    ids.push(...body.accepted.map((item: { id: string }) => item.id));
    await holdFor(100, 'batches spread over time, so health has answers to weigh');
  }
  return eventually(`the ${name} messages to be sent`, async () => {
    const views = await Promise.all(ids.map(async (id) => (await deployment.api('GET', `/v1/messages/${id}`)).body as View));
    return views.every((view) => view.status === 'sent') ? views : undefined;
  }, 60_000);
}

/** The share of `views` for which `where` names provider `a`. */
function shareOfA(views: readonly View[], where: (view: View) => string | undefined): number {
  return views.filter((view) => where(view) === 'a').length / views.length;
}

const firstTried = (view: View) => view.timeline.find((event) => event.status === 'sending')?.provider;

test('a provider failing in bursts loses its traffic to the other, and gets it back gradually once it recovers', async (t) => {
  const deployment = await startDeployment({ egressAllow: [LOOPBACK], dispatcher: false });
  const [sandboxA, sandboxB] = await Promise.all([startSandbox(), startSandbox()]);
  await upsertProvider(deployment.sql, deployment.tenantId, provider('a', sandboxA));
  await upsertProvider(deployment.sql, deployment.tenantId, provider('b', sandboxB));
  await saveStrategy(deployment.sql, deployment.tenantId, {
    name: 'spread',
    channel: 'sms',
    steps: [
      {
        route: { mode: 'weighted', providers: [{ id: 'a', weight: 50 }, { id: 'b', weight: 50 }] },
        retry: { max_attempts: 20, base_delay_ms: 100, max_delay_ms: 400 },
      },
    ],
  });
  let offset = 0;
  await deployment.startDispatcher(
    { DISPATCHER_CIRCUIT_FAILURE_THRESHOLD: '3', DISPATCHER_CIRCUIT_OPEN_MS: '1000' },
    { clock: () => Date.now() + offset },
  );

  // Healthy: an even split.
  const healthy = await phase(deployment, 'healthy', 60);
  const evenShare = shareOfA(healthy, (view) => view.provider);
  assert.ok(evenShare > 0.25 && evenShare < 0.75, `a's share while healthy: ${evenShare}`);

  // a answers 503 to everything: its circuit opens after 3 failed requests and it is only
  // probed now and then, so nearly everything goes to b at once, and all of it ends there.
  await setSandboxBehaviour(sandboxA, { error_rate: 1 });
  const failing = await phase(deployment, 'failing', 60);
  assert.equal(shareOfA(failing, (view) => view.provider), 0, 'every message sent while a fails went by b');
  const triedAtA = shareOfA(failing, firstTried);
  // Healthy it would be about half (±7 % for 60 messages).
  assert.ok(triedAtA < 0.3, `share first tried at a while it failed: ${triedAtA}`);

  // a recovers: its next probe closes the circuit, and it starts again from a small share.
  await setSandboxBehaviour(sandboxA, { error_rate: 0 });
  const recovering = await phase(deployment, 'recovering', 60);
  const rampShare = shareOfA(recovering, (view) => view.provider);
  assert.ok(rampShare < 0.3, `a's share right after it recovered: ${rampShare}`);
  assert.ok(sandboxA.received.size > 0 && rampShare > 0, 'the probe closed the circuit and a took messages again');

  // Past the ramp (a minute) and the error half-life: the even split again.
  offset += 5 * 60_000;
  const recovered = await phase(deployment, 'recovered', 60);
  const backShare = shareOfA(recovered, (view) => view.provider);
  assert.ok(backShare > 0.25 && backShare < 0.75, `a's share once recovered: ${backShare}`);
  assert.ok(backShare > rampShare, `a's share grew back: ${rampShare} -> ${backShare}`);
  t.diagnostic(`a's share: healthy ${evenShare}, first tried while failing ${triedAtA}, recovering ${rampShare}, recovered ${backShare}`);
});
