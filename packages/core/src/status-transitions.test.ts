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

test('a cascade moves on from a failed attempt or a sent step, never from a delivered or ended message', () => {
  assert.deepEqual([...allowedFrom('next_step')], ['accepted', 'queued', 'scheduled', 'sending', 'sent']);
  for (const terminal of TERMINAL_STATES) assert.equal(allowedFrom('next_step').includes(terminal), false, terminal);
  // The next step's send follows the move; the move itself is not repeated by a status write.
  assert.equal(allowedFrom('next_step').includes('next_step'), false);
  assert.equal(allowedFrom('sending').includes('next_step'), true);
  assert.equal(allowedFrom('sent').includes('next_step'), true);
  assert.equal(allowedFrom('cancelled').includes('next_step'), false);
});

test('a message is suppressed only before a provider took it', () => {
  assert.deepEqual([...allowedFrom('suppressed')], ['accepted', 'queued', 'scheduled', 'sending', 'next_step']);
  assert.equal(allowedFrom('suppressed').includes('sent'), false);
  assert.ok(TERMINAL_STATES.includes('suppressed'));
});
