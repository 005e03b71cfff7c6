import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_KEYWORDS, effectiveConsent, matchKeyword, normalizeKeyword, parseConsentSettings } from './consent-settings.ts';
import { ValidationError } from './errors.ts';

test('keywords match the whole text, whatever its case, spacing and punctuation, in Latin and Cyrillic', () => {
  assert.deepEqual(matchKeyword('stop', DEFAULT_KEYWORDS), { action: 'stop', language: 'en', keyword: 'STOP' });
  assert.equal(matchKeyword('  Stop!! ', DEFAULT_KEYWORDS)?.action, 'stop');
  assert.equal(matchKeyword('UNSTOP', DEFAULT_KEYWORDS)?.action, 'start');
  assert.deepEqual(matchKeyword('стоп', DEFAULT_KEYWORDS), { action: 'stop', language: 'ru', keyword: 'СТОП' });
  assert.deepEqual(matchKeyword('Помощь.', DEFAULT_KEYWORDS), { action: 'help', language: 'ru', keyword: 'ПОМОЩЬ' });
  assert.equal(matchKeyword('старт', DEFAULT_KEYWORDS)?.action, 'start');
  // A sentence with the word in it is a message, not a keyword.
  assert.equal(matchKeyword('please stop texting me', DEFAULT_KEYWORDS), undefined);
  assert.equal(matchKeyword('', DEFAULT_KEYWORDS), undefined);
  assert.equal(matchKeyword('🙂', DEFAULT_KEYWORDS), undefined);
  assert.equal(normalizeKeyword('ёлка'), 'ЕЛКА');
  assert.equal(normalizeKeyword('ＳＴＯＰ'), 'STOP');
});

test("a tenant's languages replace the defaults, with their replies; the first language that has a keyword gives its reply", () => {
  const settings = effectiveConsent(
    parseConsentSettings({
      keywords: {
        ru: { stop: ['СТОП', 'STOP'], start: ['СТАРТ'], help: ['ПОМОЩЬ'], replies: { help: 'Ответьте СТОП, чтобы отписаться' } },
        en: { stop: ['STOP', 'END'], start: ['START'], help: ['HELP'], replies: { help: 'Reply STOP to unsubscribe' } },
      },
    }),
  );
  assert.deepEqual(matchKeyword('stop', settings.keywords), { action: 'stop', language: 'ru', keyword: 'STOP' });
  assert.deepEqual(matchKeyword('help', settings.keywords), { action: 'help', language: 'en', keyword: 'HELP', reply: 'Reply STOP to unsubscribe' });
  assert.equal(matchKeyword('помощь', settings.keywords)?.reply, 'Ответьте СТОП, чтобы отписаться');
  assert.equal(matchKeyword('quit', settings.keywords), undefined, 'the default English set no longer applies');
  assert.deepEqual(settings.exempt_categories, []);
  assert.deepEqual(effectiveConsent(null).keywords, DEFAULT_KEYWORDS);
});

test('settings are refused naming the field: one keyword for two actions, a keyword of no letter, an unknown field', () => {
  const paths = (input: unknown) => {
    try {
      parseConsentSettings(input);
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      return error.problems.map((problem) => problem.path);
    }
    assert.fail('accepted');
  };
  assert.deepEqual(paths({ keywords: { en: { stop: ['STOP'], start: ['stop.'], help: ['HELP'] } } }), ['/keywords/en/start/0']);
  assert.deepEqual(paths({ keywords: { en: { stop: ['STOP'], start: ['START'], help: ['HELP'] }, ru: { stop: ['СТОП'], start: ['СТАРТ'], help: ['STOP'] } } }), [
    '/keywords/ru/help/0',
  ]);
  assert.deepEqual(paths({ keywords: { en: { stop: ['!!'], start: ['START'], help: ['HELP'] } } }), ['/keywords/en/stop/0']);
  assert.ok(paths({ exempt_categories: ['OTP'] }).includes('/exempt_categories/0'));
  assert.ok(paths({ keywords: { english: { stop: [], start: [], help: [] } } }).length > 0);
  assert.ok(paths({ other: true }).length > 0);
});
