import assert from 'node:assert/strict';
import { test } from 'node:test';
import { smsEncoding } from './sms-encoding.ts';

const a = (n: number) => 'a'.repeat(n);
const cyrillic = (n: number) => 'ж'.repeat(n);

test('plain Latin text is GSM-7: 160 septets fit one part, 161 take two', () => {
  assert.deepEqual(smsEncoding(a(160)), { encoding: 'gsm-7', units: 160, parts: 1 });
  assert.deepEqual(smsEncoding(a(161)), { encoding: 'gsm-7', units: 161, parts: 2 });
});

test('concatenated GSM-7 parts carry 153 septets each: 306 is two parts, 307 three', () => {
  assert.equal(smsEncoding(a(306)).parts, 2);
  assert.equal(smsEncoding(a(307)).parts, 3);
  assert.equal(smsEncoding(a(459)).parts, 3);
  assert.equal(smsEncoding(a(460)).parts, 4);
});

test('every character of the GSM default alphabet stays GSM-7 at one septet', () => {
  const alphabet =
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
  assert.deepEqual(smsEncoding(alphabet), { encoding: 'gsm-7', units: 127, parts: 1 });
});

test('extension characters stay GSM-7 but count two septets each', () => {
  for (const char of ['€', '^', '{', '}', '\\', '[', ']', '~', '|', '\f']) {
    assert.deepEqual(
      smsEncoding(char),
      { encoding: 'gsm-7', units: 2, parts: 1 },
      JSON.stringify(char),
    );
  }
  assert.deepEqual(smsEncoding('€'.repeat(80)), { encoding: 'gsm-7', units: 160, parts: 1 });
  assert.deepEqual(smsEncoding('€'.repeat(80) + 'a'), { encoding: 'gsm-7', units: 161, parts: 2 });
  assert.deepEqual(smsEncoding(`${a(159)}€`), { encoding: 'gsm-7', units: 161, parts: 2 });
});

test('an extension character is never split across parts', () => {
  // 306 septets would be two full parts, but the escape and its code cannot straddle them.
  assert.deepEqual(smsEncoding(`${a(152)}€${a(152)}`), { encoding: 'gsm-7', units: 306, parts: 3 });
  assert.equal(smsEncoding(`${a(151)}€${a(153)}`).parts, 2);
});

test('Cyrillic is UCS-2: 70 characters fit one part, 71 take two', () => {
  assert.deepEqual(smsEncoding(cyrillic(70)), { encoding: 'ucs-2', units: 70, parts: 1 });
  assert.deepEqual(smsEncoding(cyrillic(71)), { encoding: 'ucs-2', units: 71, parts: 2 });
  assert.equal(smsEncoding(cyrillic(134)).parts, 2);
  assert.equal(smsEncoding(cyrillic(135)).parts, 3);
});

test('one character outside GSM-7 makes the whole text UCS-2', () => {
  const info = smsEncoding(`${a(69)}ж`);
  assert.deepEqual(info, { encoding: 'ucs-2', units: 70, parts: 1 });
  assert.equal(smsEncoding(`${a(70)}ж`).parts, 2);
  // Extension characters cost one code unit in UCS-2, not two.
  assert.deepEqual(smsEncoding('ж€'), { encoding: 'ucs-2', units: 2, parts: 1 });
  // Accented letters outside the GSM table (ç lower case, â) need UCS-2 too.
  assert.equal(smsEncoding('façade').encoding, 'ucs-2');
  assert.equal(smsEncoding('pâte').encoding, 'ucs-2');
});

test('an emoji counts two UTF-16 code units and is never split across parts', () => {
  assert.deepEqual(smsEncoding('😀'), { encoding: 'ucs-2', units: 2, parts: 1 });
  assert.deepEqual(smsEncoding('😀'.repeat(35)), { encoding: 'ucs-2', units: 70, parts: 1 });
  assert.deepEqual(smsEncoding('😀'.repeat(36)), { encoding: 'ucs-2', units: 72, parts: 2 });
  // 66 units, then a pair that would straddle the 67-unit boundary starts part two.
  assert.deepEqual(smsEncoding(`${cyrillic(66)}😀${cyrillic(66)}`), {
    encoding: 'ucs-2',
    units: 134,
    parts: 3,
  });
  assert.equal(smsEncoding(`${cyrillic(65)}😀${cyrillic(67)}`).parts, 2);
});

test('an empty text takes no part', () => {
  assert.deepEqual(smsEncoding(''), { encoding: 'gsm-7', units: 0, parts: 0 });
});
