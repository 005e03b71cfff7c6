import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from './errors.ts';
import { parsePreferenceChange, parseRecipientAddress, preferenceDigest, screenPreferences } from './preferences.ts';

test('a phone is stored in the one E.164 form however it was written; an e-mail address in lower case', () => {
  assert.deepEqual(parseRecipientAddress({ phone: '+7 (916) 123-45-67' }), { kind: 'phone', address: '+79161234567' });
  assert.deepEqual(parseRecipientAddress({ phone: '+49 0151 12345678' }), { kind: 'phone', address: '+4915112345678' });
  assert.deepEqual(parseRecipientAddress({ email: ' Ann@Example.COM ' }), { kind: 'email', address: 'ann@example.com' });
});

test('a bad address is refused naming the field, a bad number with its own code', () => {
  const refused = (input: unknown) => {
    try {
      parseRecipientAddress(input);
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      return { code: error.code, paths: error.problems.map((problem) => problem.path) };
    }
    assert.fail('accepted');
  };
  assert.deepEqual(refused({ phone: '89161234567' }), { code: 'invalid_phone_number', paths: ['/recipient/phone'] });
  assert.deepEqual(refused({ phone: '+1 555' }), { code: 'invalid_phone_number', paths: ['/recipient/phone'] });
  assert.deepEqual(refused({ email: 'not-an-address' }), { code: 'validation_failed', paths: ['/recipient/email'] });
  assert.deepEqual(refused({ phone: '+79161234567', email: 'a@b.co' }), { code: 'validation_failed', paths: ['/recipient/phone'] });
  assert.deepEqual(refused({ push_token: 'x' }), { code: 'validation_failed', paths: ['/recipient/push_token', '/recipient/phone'] });
  assert.deepEqual(refused('+79161234567'), { code: 'validation_failed', paths: ['/recipient'] });
});

test('a preference defaults to the address channel and every category; a channel the address is not reached on is refused', () => {
  assert.deepEqual(parsePreferenceChange({ recipient: { phone: '+79161234567' }, opted_out: true }), {
    address: { kind: 'phone', address: '+79161234567' },
    channel: 'sms',
    category: '*',
    optedOut: true,
  });
  const problems = (input: unknown, at = '') => {
    try {
      parsePreferenceChange(input, at);
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      return error.problems.map((problem) => problem.path);
    }
    assert.fail('accepted');
  };
  assert.deepEqual(problems({ recipient: { phone: '+79161234567' }, channel: 'email', category: 'Marketing', opted_out: 'yes', x: 1 }, '/preferences/3'), [
    '/preferences/3/x',
    '/preferences/3/channel',
    '/preferences/3/category',
    '/preferences/3/opted_out',
  ]);
  // The address's problem and the others, all at once.
  assert.deepEqual(problems({ recipient: { phone: 'x' }, category: 7, opted_out: true }), ['/recipient/phone', '/category']);
});

test('digests are keyed by the secret and the tenant, so one person has different keys per tenant', () => {
  const address = { kind: 'phone', address: '+79161234567' } as const;
  const digest = preferenceDigest('s1', 'acme', address);
  assert.match(digest, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(preferenceDigest('s1', 'acme', address), digest);
  assert.notEqual(preferenceDigest('s2', 'acme', address), digest);
  assert.notEqual(preferenceDigest('s1', 'globex', address), digest);
  assert.notEqual(preferenceDigest('s1', 'acme', { kind: 'email', address: '+79161234567' }), digest);
});

test('screening: nothing held, held for the category, for every category, exempt categories pass', () => {
  const exempt = new Set(['otp']);
  const screen = (category: string | undefined, held: string[] | undefined, channel: 'sms' | 'email' = 'sms') =>
    screenPreferences({ channel, category, optedOut: held === undefined ? undefined : new Set(held), exemptCategories: exempt }).kind;
  assert.equal(screen('marketing', undefined), 'send');
  assert.equal(screen('marketing', []), 'send');
  assert.equal(screen('marketing', ['sms:marketing']), 'suppress');
  assert.equal(screen('news', ['sms:marketing']), 'send');
  assert.equal(screen(undefined, ['sms:marketing']), 'send');
  assert.equal(screen(undefined, ['sms:*']), 'suppress');
  assert.equal(screen('marketing', ['sms:*'], 'email'), 'send');
  assert.equal(screen('otp', ['sms:*', 'sms:otp']), 'send');
  assert.equal(screen('consent', ['sms:*']), 'send');
});
