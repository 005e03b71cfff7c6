import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusEvent } from '@commstrat/core';
import { mergeTimelines, placeStatusEvents, type StatusChange } from './status-events.ts';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, 0, ms));
const sending: StatusEvent = { status: 'sending', at: at(10), provider: 'p1' };
const sent: StatusEvent = { status: 'sent', at: at(20), provider: 'p1', exchange_id: 'x1' };

function changesOf(ids: readonly string[], ...events: StatusEvent[]): StatusChange[] {
  return events.flatMap((event) => ids.map((messageId) => ({ messageId, event })));
}

test('a batch the provider accepted whole keeps all its events in the exchange, and no run is left', () => {
  const { exchanges, runs } = placeStatusEvents([{ _id: 'x1', message_ids: ['a', 'b'] }], changesOf(['a', 'b'], sending, sent));
  assert.deepEqual(exchanges[0]?.events, [sending, sent]);
  assert.deepEqual(runs, []);
});

test('events that differ per message after the shared ones become one run per distinct sequence', () => {
  const failed: StatusEvent = { status: 'failed', at: at(20), reason: 'provider p1 rejected it: invalid_number' };
  const changes = [...changesOf(['a', 'b', 'c'], sending), ...changesOf(['a', 'b'], sent), ...changesOf(['c'], failed)];
  const { exchanges, runs } = placeStatusEvents([{ _id: 'x1', message_ids: ['a', 'b', 'c'] }], changes);
  assert.deepEqual(exchanges[0]?.events, [sending]);
  assert.deepEqual(
    runs.map((run) => [run.message_ids, run.events.map((e) => e.status)]),
    [
      [['a', 'b'], ['sent']],
      [['c'], ['failed']],
    ],
  );
});

test('equal events made as separate objects are shared like one object', () => {
  const changes = ['a', 'b'].map(
    (messageId): StatusChange => ({ messageId, event: { status: 'scheduled', at: at(30), reason: 'attempt 2 after back-off' } }),
  );
  const { exchanges, runs } = placeStatusEvents([{ _id: 'x1', message_ids: ['a', 'b'] }], [...changesOf(['a', 'b'], sending), ...changes]);
  assert.deepEqual(exchanges[0]?.events?.map((e) => e.status), ['sending', 'scheduled']);
  assert.equal(runs.length, 0);
});

test('an exchange whose messages share nothing carries no events, and changes without an exchange are runs', () => {
  const expired: StatusEvent = { status: 'expired', at: at(5), reason: 'expired before it could be sent' };
  const { exchanges, runs } = placeStatusEvents(
    [{ _id: 'x1', message_ids: ['a', 'b'] }],
    [...changesOf(['a'], sending), ...changesOf(['d', 'e'], expired)],
  );
  assert.equal(exchanges[0]?.events, undefined, 'b has no events here, so nothing is shared');
  assert.deepEqual(
    runs.map((run) => run.message_ids),
    [['a'], ['d', 'e']],
  );
});

test('timelines merge own events first, then every source by time, ties in id order', () => {
  const accepted: StatusEvent = { status: 'accepted', at: at(0) };
  const queued: StatusEvent = { status: 'queued', at: at(0) };
  const scheduled: StatusEvent = { status: 'scheduled', at: at(20), reason: 'retry' };
  const timelines = mergeTimelines(
    new Map([
      ['a', [accepted, queued]],
      ['b', [accepted]],
    ]),
    [
      { _id: '02', message_ids: ['a'], events: [scheduled] },
      { _id: '01', message_ids: ['a', 'b'], events: [sending, sent] },
      { _id: '03', message_ids: ['z'], events: [sent] },
    ],
  );
  assert.deepEqual(timelines.get('a')?.map((e) => e.status), ['accepted', 'queued', 'sending', 'sent', 'scheduled']);
  assert.deepEqual(timelines.get('b')?.map((e) => e.status), ['accepted', 'sending', 'sent']);
  assert.equal(timelines.has('z'), false, 'only the messages asked for');
});

test('a sent event gets the provider id of its message from the exchange it names, wherever the event was kept', () => {
  const viaRun: StatusEvent = { status: 'sent', at: at(20), provider: 'p1', exchange_id: 'x2' };
  const timelines = mergeTimelines(
    new Map([
      ['a', []],
      ['b', []],
      ['c', []],
    ]),
    [
      { _id: 'x1', message_ids: ['a', 'b'], events: [sending, sent], provider_message_ids: ['pa', null] },
      { _id: 'x2', message_ids: ['c'], provider_message_ids: ['pc'] },
      { _id: 'r1', message_ids: ['c'], events: [viaRun] },
    ],
  );
  assert.equal(timelines.get('a')?.at(-1)?.provider_message_id, 'pa');
  assert.equal(timelines.get('b')?.at(-1)?.provider_message_id, undefined, 'not accepted: no provider id');
  assert.equal(timelines.get('c')?.at(-1)?.provider_message_id, 'pc');
  assert.equal(sent.provider_message_id, undefined, 'the shared event object is left as it was');
});
