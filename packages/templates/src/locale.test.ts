import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalLocale } from '@commstrat/core';
import { localeChain, pickLocale } from './locale.ts';

test('locales are canonicalised as BCP 47 tags; what is not one is undefined', () => {
  assert.equal(canonicalLocale('ru-ru'), 'ru-RU');
  assert.equal(canonicalLocale('zh-hant-tw'), 'zh-Hant-TW');
  assert.equal(canonicalLocale('ru_RU'), undefined);
  assert.equal(canonicalLocale(''), undefined);
});

test('the chain drops subtags from the end, skipping extension singletons', () => {
  assert.deepEqual(localeChain('ru-RU'), ['ru-RU', 'ru']);
  assert.deepEqual(localeChain('zh-Hant-TW'), ['zh-Hant-TW', 'zh-Hant', 'zh']);
  assert.deepEqual(localeChain('de-DE-u-co-phonebk'), ['de-DE-u-co-phonebk', 'de-DE-u-co', 'de-DE', 'de']);
});

test('ru-RU falls back to ru, then to the default; without a locale the default is used', () => {
  const variants = { en: {}, ru: {}, 'pt-BR': {} };
  assert.equal(pickLocale(variants, 'ru-RU', 'en'), 'ru');
  assert.equal(pickLocale(variants, 'pt-BR', 'en'), 'pt-BR');
  assert.equal(pickLocale(variants, 'pt-PT', 'en'), 'en');
  assert.equal(pickLocale(variants, undefined, 'en'), 'en');
  assert.equal(pickLocale({ en: {}, 'ru-RU': {} }, 'ru', 'en'), 'en', 'a broader locale does not take a narrower variant');
});
