import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ACTIVE_STATES, TERMINAL_STATES, type MessageStatus } from './message.ts';
import { allowedFrom } from './status-transitions.ts';

const ALL: readonly MessageStatus[] = [...ACTIVE_STATES, ...TERMINAL_STATES];

test('no transition leaves a terminal state', () => {
  for (const to of ALL) {
    for (const terminal of TERMINAL_STATES) assert.equal(allowedFrom(to).includes(terminal), false, `${terminal} -> ${to}`);
  }
});

test('a cancel is refused once a dispatcher took the message, a receipt only counts after sent', () => {
  assert.deepEqual([...allowedFrom('cancelled')], ['accepted', 'queued', 'scheduled']);
  assert.deepEqual([...allowedFrom('delivered')], ['sent']);
});

test('a sent message is not sent or scheduled again, but may still fail or expire', () => {
  assert.equal(allowedFrom('sent').includes('sent'), false);
  assert.equal(allowedFrom('sending').includes('sent'), false);
  assert.equal(allowedFrom('scheduled').includes('sent'), false);
  assert.equal(allowedFrom('failed').includes('sent'), true);
});
