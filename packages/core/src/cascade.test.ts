import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  advanceReason,
  currentStepIndex,
  messageForStep,
  nextStepIndex,
  receiptDeadline,
  stepChannel,
  stepContent,
  timerVerdict,
} from './cascade.ts';
import type { QueuedMessage } from './message.ts';
import { validateStrategy, type Strategy } from './strategy.ts';

const otp: Strategy = validateStrategy({
  name: 'otp',
  channel: 'push',
  steps: [
    { route: { mode: 'failover', providers: ['push-a'] }, next: { on: 'no_receipt', within_seconds: 60 } },
    { channel: 'sms', priority: 'critical', route: { mode: 'failover', providers: ['sms-a'] }, next: { on: 'failure' } },
    { channel: 'email', content: { template_id: 'otp-mail' }, route: { mode: 'failover', providers: ['mail'] } },
  ],
});

const queued: QueuedMessage = {
  id: 'm1',
  tenant_id: 't',
  channel: 'push',
  strategy: undefined,
  priority: 'high',
  recipient: { phone: '+491511234567', push_token: 'tok' },
  content: { text: 'Your code is 123456', variables: { code: '123456' } },
  content_by_channel: { sms: { text: '123456 is your code' } },
  expires_at: undefined,
  attempts: 3,
};

test('a step sends on its own channel, else the strategy\'s', () => {
  assert.equal(stepChannel(otp, 0), 'push');
  assert.equal(stepChannel(otp, 1), 'sms');
  assert.equal(currentStepIndex(queued), 0);
  assert.equal(currentStepIndex({ step: 2 }), 2);
});

test('content comes from content_by_channel for the step\'s channel, else content, then the step\'s own fields', () => {
  assert.deepEqual(stepContent(queued, otp, 0), queued.content);
  assert.deepEqual(stepContent(queued, otp, 1), { text: '123456 is your code' });
  assert.deepEqual(stepContent(queued, otp, 2), { ...queued.content, template_id: 'otp-mail' });
});

test("a step a template rendered at intake sends the template's fields over the rest of its content, while it still sends on the channel it was rendered for", () => {
  const rendered = { ...queued, rendered_steps: [{ step: 2, channel: 'email' as const, content: { subject: 'Код', html: '<p>Ваш код 123456</p>' } }] };
  // The message's text is not the e-mail's: the template's fields replace subject, text and html together.
  assert.deepEqual(stepContent(rendered, otp, 2), { variables: { code: '123456' }, template_id: 'otp-mail', subject: 'Код', html: '<p>Ваш код 123456</p>' });
  assert.deepEqual(stepContent(rendered, otp, 1), { text: '123456 is your code' }, 'other steps as before');
  // A move onto a version whose step 2 sends on another channel: the e-mail is not sent as an SMS.
  const moved = validateStrategy({ ...otp, steps: [otp.steps[0], otp.steps[1], { channel: 'sms', route: { mode: 'failover', providers: ['sms-a'] } }] });
  assert.deepEqual(stepContent(rendered, moved, 2), { text: '123456 is your code' });
});

test('a step moves on by its rule: no_receipt also after failures, failure never for a missing receipt, the last never', () => {
  assert.equal(nextStepIndex(otp, 0, 'no_receipt'), 1);
  assert.equal(nextStepIndex(otp, 0, 'failure'), 1);
  assert.equal(nextStepIndex(otp, 0, 'undelivered'), 1);
  assert.equal(nextStepIndex(otp, 1, 'failure'), 2);
  assert.equal(nextStepIndex(otp, 1, 'undelivered'), 2);
  assert.equal(nextStepIndex(otp, 1, 'no_receipt'), undefined);
  assert.equal(nextStepIndex(otp, 2, 'failure'), undefined);
  assert.equal(nextStepIndex(otp, 7, 'failure'), undefined);
});

test('a receipt timer is due within_seconds after sent, only on no_receipt steps', () => {
  assert.equal(receiptDeadline(otp.steps[0], 1_000), 61_000);
  assert.equal(receiptDeadline(otp.steps[1], 1_000), undefined);
  assert.equal(receiptDeadline(undefined, 1_000), undefined);
});

test('the message of the next step keeps its id, is pinned to the version, starts its attempts afresh, in the step\'s lane', () => {
  const next = messageForStep({ ...queued, receipt_timer: 0 }, otp, 4, 1);
  assert.equal(next.id, 'm1');
  assert.equal(next.strategy, 'otp');
  assert.equal(next.strategy_version, 4);
  assert.equal(next.step, 1);
  assert.equal(next.priority, 'critical');
  assert.equal(next.attempts, undefined);
  assert.equal(next.receipt_timer, undefined);
  assert.equal(messageForStep(queued, otp, 4, 2).priority, 'high');
});

test('a due timer moves a message on only while it is still sent on the timer\'s step', () => {
  assert.equal(timerVerdict({ status: 'sent', step: 0 }, 0), 'move_on');
  assert.equal(timerVerdict({ status: 'sent' }, 0), 'move_on');
  assert.equal(timerVerdict({ status: 'delivered', step: 0 }, 0), 'drop');
  assert.equal(timerVerdict({ status: 'failed', step: 0 }, 0), 'drop');
  assert.equal(timerVerdict({ status: 'sent', step: 1 }, 0), 'drop');
  assert.equal(timerVerdict({ status: 'next_step', step: 1 }, 0), 'send_next');
  assert.equal(timerVerdict({ status: 'next_step', step: 2 }, 0), 'drop');
  assert.equal(timerVerdict(undefined, 0), 'drop');
});

test('the reasons of a move say why', () => {
  assert.equal(advanceReason('no_receipt', otp.steps[0]), 'no delivery receipt within 60 s');
  assert.equal(advanceReason('undelivered', otp.steps[0], 'absent_subscriber'), 'undelivered: absent_subscriber');
});
