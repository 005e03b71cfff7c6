import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applicableCaps,
  contactAddress,
  overCapVerdict,
  parseStopListAddress,
  screenRecipient,
  stopListKey,
  type ContactPolicy,
  type FrequencyCap,
} from './contact-policy.ts';
import { ValidationError } from './errors.ts';
import { validateStrategy } from './strategy.ts';

const marketingSms: FrequencyCap = { category: 'marketing', channel: 'sms', max: 3, per_seconds: 86_400, over: 'defer' };
const policy: ContactPolicy = { caps: [marketingSms, { category: 'marketing', max: 1, per_seconds: 3600, over: 'drop' }] };
const phone = { phone: '+4915112345678' };

test('caps apply by category and channel; an uncategorised or exempt message counts against none', () => {
  assert.deepEqual(applicableCaps(policy, { priority: 'normal', category: 'marketing' }, 'sms'), policy.caps);
  assert.deepEqual(
    applicableCaps(policy, { priority: 'normal', category: 'marketing' }, 'email').map((cap) => cap.per_seconds),
    [3600],
    'a cap without a channel counts on every channel',
  );
  assert.deepEqual(applicableCaps(policy, { priority: 'normal', category: 'transactional' }, 'sms'), []);
  assert.deepEqual(applicableCaps(policy, { priority: 'normal' }, 'sms'), []);
  assert.deepEqual(applicableCaps(policy, { priority: 'critical', category: 'marketing' }, 'sms'), [], 'critical is exempt by default');
  assert.equal(applicableCaps({ ...policy, exempt_priorities: [] }, { priority: 'critical', category: 'marketing' }, 'sms').length, 2);
  assert.deepEqual(applicableCaps(undefined, { priority: 'bulk', category: 'marketing' }, 'sms'), []);
});

test('a stopped recipient fails with "recipient opted out" unless its priority is exempt', () => {
  const stopped = new Set([stopListKey({ kind: 'phone', address: '+4915112345678' }), 'email:ann@example.com']);
  const screen = (priority: 'normal' | 'critical', channel: 'sms' | 'email' | 'push', recipient: object, p?: ContactPolicy) =>
    screenRecipient({ policy: p, priority, channel, recipient, stopped: (key) => stopped.has(key) });
  assert.deepEqual(screen('normal', 'sms', phone), { kind: 'fail', reason: 'recipient opted out' });
  assert.deepEqual(screen('critical', 'sms', phone), { kind: 'send' });
  assert.deepEqual(screen('critical', 'sms', phone, { exempt_priorities: [] }), { kind: 'fail', reason: 'recipient opted out' });
  assert.deepEqual(screen('normal', 'sms', { phone: '+4915100000000' }), { kind: 'send' });
  assert.deepEqual(screen('normal', 'email', { email: 'Ann@Example.COM' }), { kind: 'fail', reason: 'recipient opted out' }, 'e-mail compared in lower case');
  assert.deepEqual(screen('normal', 'email', phone), { kind: 'send' }, 'an e-mail message is not stopped by a stopped phone');
  assert.deepEqual(screen('normal', 'push', { push_token: 'x', ...phone }), { kind: 'send' });
});

test('a message over a cap is deferred to when the window allows it, dropped, or expired when it would expire first', () => {
  const at = Date.parse('2026-12-02T10:00:00Z');
  const deferred = overCapVerdict(marketingSms, 'sms', at, undefined);
  assert.equal(deferred.kind, 'defer');
  assert.equal(deferred.kind === 'defer' ? deferred.until : 0, at);
  assert.equal(
    deferred.reason,
    'frequency cap: at most 3 marketing sms per 86400 s to this recipient; next allowed at 2026-12-02T10:00:00.000Z',
  );
  assert.equal(overCapVerdict({ ...marketingSms, over: 'drop' }, 'sms', at, undefined).kind, 'fail');
  assert.match(overCapVerdict({ ...marketingSms, over: 'drop' }, 'sms', at, undefined).reason, /; dropped$/);
  assert.equal(overCapVerdict(marketingSms, 'sms', at, at).kind, 'expire');
  assert.equal(overCapVerdict(marketingSms, 'sms', at, at + 1).kind, 'defer');
});

test('stop-list addresses are checked and normalised, naming the bad field', () => {
  assert.deepEqual(parseStopListAddress({ phone: '+4915112345678' }), { kind: 'phone', address: '+4915112345678' });
  assert.deepEqual(parseStopListAddress({ email: 'Ann@Example.com' }), { kind: 'email', address: 'ann@example.com' });
  const pathOf = (input: object) => {
    try {
      parseStopListAddress(input);
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      return error.problems.map((problem) => problem.path);
    }
    return assert.fail('expected a ValidationError');
  };
  assert.deepEqual(pathOf({ phone: '12345' }), ['/phone']);
  assert.deepEqual(pathOf({ email: 'not an address' }), ['/email']);
  assert.deepEqual(pathOf({}), ['/phone']);
  assert.deepEqual(pathOf({ phone: '+4915112345678', email: 'a@b.c' }), ['/phone']);
  assert.deepEqual(contactAddress('email', { email: 'A@B.C' }), { kind: 'email', address: 'a@b.c' });
});

test('a strategy takes a contact policy; bad caps are refused with their paths', () => {
  const strategy = (contact_policy: unknown) => ({
    name: 'campaign',
    channel: 'sms',
    contact_policy,
    steps: [{ route: { mode: 'failover', providers: ['a'] } }],
  });
  assert.deepEqual(validateStrategy(strategy(policy)).contact_policy, policy);
  const problems = (input: unknown) => {
    try {
      validateStrategy(input);
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      return error.problems.map((problem) => problem.path).sort();
    }
    return assert.fail('expected a ValidationError');
  };
  assert.deepEqual(problems(strategy({ caps: [{ ...marketingSms, max: 0, over: 'later' }] })), [
    '/contact_policy/caps/0/max',
    '/contact_policy/caps/0/over',
  ]);
  assert.deepEqual(problems(strategy({ caps: [marketingSms, { ...marketingSms, max: 5 }] })), ['/contact_policy/caps/1']);
  assert.deepEqual(problems(strategy({ exempt_priorities: ['urgent'] })), ['/contact_policy/exempt_priorities/0']);
});
