// The cascade timer's decisions against fakes of the journal and the routing cache; the
// real servers are in tests/integration/src/cascades.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DependencyUnavailableError, validateStrategy, type Message, type MessageStatus, type QueuedMessage, type StatusEvent } from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import { createLogger, createRegistry, dispatcherMetrics } from '@commstrat/observability';
import type { LaneEntry } from '@commstrat/queue';
import { SettledSet } from './settled-set.ts';
import { CascadeTimers } from './cascade-timers.ts';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const strategy = validateStrategy({
  name: 'otp',
  channel: 'sms',
  steps: [
    { route: { mode: 'failover', providers: ['a'] }, next: { on: 'no_receipt', within_seconds: 60 } },
    { priority: 'critical', route: { mode: 'failover', providers: ['b'] } },
  ],
});
const routing: Routing = { strategy, version: 3, providers: new Map(), tenantTimeZone: 'UTC', stopList: new Set() };

const timer: LaneEntry = {
  lane: 'normal',
  entryId: '1-0',
  message: {
    id: 'm1',
    tenant_id: 't',
    channel: 'sms',
    strategy: 'otp',
    strategy_version: 3,
    priority: 'normal',
    recipient: { phone: '+491511234567' },
    content: { text: 'code' },
    expires_at: undefined,
    receipt_timer: 0,
  },
};

function journaled(status: MessageStatus, step: number, sentAt = NOW - 61_000): Message {
  return {
    id: 'm1',
    status,
    step,
    timeline: [{ status: 'sent', at: new Date(sentAt), step: 0 }],
  } as unknown as Message;
}

/** A fake journal: `reads` are answered in turn; moves succeed as `moves` says. */
function fakes(reads: (Message[] | Error)[], moves: boolean[] = [true], resolveError?: Error) {
  const moved: { id: string; fromStep: number; event: StatusEvent }[] = [];
  const journal = {
    findMessages() {
      const next = reads.shift() ?? [];
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
    moveToNextStep(id: string, fromStep: number, event: StatusEvent) {
      moved.push({ id, fromStep, event });
      return Promise.resolve(moves.shift() ?? false);
    },
  };
  const settledWith: { deferred: { message: QueuedMessage; dueAt: number }[]; acks: LaneEntry[] }[] = [];
  const lanes = {
    settle(outcome: { deferred?: []; acks?: [] }) {
      settledWith.push({ deferred: outcome.deferred ?? [], acks: outcome.acks ?? [] });
      return Promise.resolve();
    },
  };
  const journalForSet = { recordOutcomes: () => Promise.resolve() };
  const settled = new SettledSet(journalForSet, lanes);
  const timers = new CascadeTimers({
    journal,
    routing: {
      resolve: () => (resolveError === undefined ? Promise.resolve(routing) : Promise.reject(resolveError)),
    },
    logger: createLogger({ service: 'test', console: false }),
    metrics: dispatcherMetrics(createRegistry('test')),
    random: () => 0.5,
  });
  return { timers, settled, moved, settledWith };
}

test('a due timer of a message still sent on its step moves it on and hands back its next step, pinned', async () => {
  const { timers, settled, moved } = fakes([[journaled('sent', 0)]]);
  const [next] = await timers.handle([timer], NOW, settled);
  assert.equal(moved.length, 1);
  assert.equal(moved[0]?.fromStep, 0);
  assert.equal(moved[0]?.event.status, 'next_step');
  assert.equal(moved[0]?.event.step, 1);
  assert.equal(moved[0]?.event.strategy_version, 3);
  assert.equal(moved[0]?.event.reason, 'no delivery receipt within 60 s; next: step 1');
  assert.equal(next?.entryId, '1-0');
  assert.equal(next?.message.step, 1);
  assert.equal(next?.message.strategy_version, 3);
  assert.equal(next?.message.priority, 'critical');
  assert.equal(next?.message.receipt_timer, undefined);
});

test('a timer that came early waits for the rest of its time, counted from the journal\'s sent', async () => {
  const { timers, settled, moved, settledWith } = fakes([[journaled('sent', 0, NOW - 20_000)]]);
  assert.deepEqual(await timers.handle([timer], NOW, settled), []);
  assert.equal(moved.length, 0);
  await settled.commit();
  assert.equal(settledWith[0]?.deferred[0]?.dueAt, NOW + 40_000);
  assert.equal(settledWith[0]?.deferred[0]?.message.receipt_timer, 0);
  assert.equal(settledWith[0]?.acks.length, 1);
});

test('a delivered message, or one past the timer\'s step, drops the timer', async () => {
  for (const message of [journaled('delivered', 0), journaled('sent', 1), journaled('failed', 0)]) {
    const { timers, settled, moved, settledWith } = fakes([[message]]);
    assert.deepEqual(await timers.handle([timer], NOW, settled), []);
    assert.equal(moved.length, 0);
    await settled.commit();
    assert.equal(settledWith[0]?.acks.length, 1);
    assert.equal(settledWith[0]?.deferred.length, 0);
  }
});

test('a move lost to an undelivered receipt still sends the next step; one lost to a delivered receipt sends nothing', async () => {
  const undelivered = fakes([[journaled('sent', 0)], [journaled('next_step', 1)]], [false]);
  const [next] = await undelivered.timers.handle([timer], NOW, undelivered.settled);
  assert.equal(next?.message.step, 1);

  const delivered = fakes([[journaled('sent', 0)], [journaled('delivered', 0)]], [false]);
  assert.deepEqual(await delivered.timers.handle([timer], NOW, delivered.settled), []);
  await delivered.settled.commit();
  assert.equal(delivered.settledWith[0]?.acks.length, 1);
});

test('a message an undelivered receipt already moved on is sent by its timer without another move', async () => {
  const { timers, settled, moved } = fakes([[journaled('next_step', 1)]]);
  const [next] = await timers.handle([timer], NOW, settled);
  assert.equal(moved.length, 0);
  assert.equal(next?.message.step, 1);
});

test('when the journal or the configuration store cannot be read, the timer comes back in 2-4 s', async () => {
  for (const case_ of [fakes([new Error('journal down')]), fakes([[journaled('sent', 0)]], [true], new DependencyUnavailableError('config'))]) {
    assert.deepEqual(await case_.timers.handle([timer], NOW, case_.settled), []);
    assert.equal(case_.moved.length, 0);
    await case_.settled.commit();
    assert.equal(case_.settledWith[0]?.deferred[0]?.dueAt, NOW + 3000);
  }
});
