import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidPhoneNumber } from 'libphonenumber-js';
import { isValidE164 } from './phone.ts';

test('E.164 numbers are judged as libphonenumber judges them; anything else is refused', () => {
  const numbers = ['+79161234567', '+4915112345678', '+14155552671', '+7000', '+12', '+790000000000000', '+441234'];
  for (const phone of numbers) assert.equal(isValidE164(phone), isValidPhoneNumber(phone), phone);
  for (const phone of ['79161234567', '+7 916 123-45-67', '+79161234567 ', 'tel:+79161234567', '+0123456789']) {
    assert.equal(isValidE164(phone), false, phone);
  }
});
