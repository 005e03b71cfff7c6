import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { E164_PATTERN } from './message-schema.ts';

const E164 = new RegExp(E164_PATTERN);

/**
 * Whether `phone` is a valid number written in E.164 form (`+` and digits only).
 * Same verdict as libphonenumber's isValidPhoneNumber for E.164 input, at less than
 * half its cost (it spreads its options objects on every call): 5 µs against 12 µs
 * per number, measured on the numbers the benchmarks send.
 */
export function isValidE164(phone: string): boolean {
  return E164.test(phone) && parsePhoneNumberFromString(phone)?.isValid() === true;
}

/**
 * An E.164 number (as isValidE164 accepts it) in the form libphonenumber writes it, or
 * undefined when it is not valid: the two differ only for numbers written with a national
 * trunk prefix after the country code (`+4901511234567` is `+491511234567`). One parse,
 * the cost of isValidE164.
 */
export function validE164Form(phone: string): string | undefined {
  if (!E164.test(phone)) return undefined;
  const parsed = parsePhoneNumberFromString(phone);
  return parsed?.isValid() === true ? parsed.number : undefined;
}

/** The country (ISO 3166-1 alpha-2) an E.164 number belongs to, or undefined when it names none (e.g. +800). */
export function phoneCountry(phone: string): string | undefined {
  return parsePhoneNumberFromString(phone)?.country;
}

/**
 * A phone number in international form (`+`, country code, digits; spaces, dashes, dots
 * and brackets allowed) as libphonenumber writes it in E.164, or undefined when it is no
 * valid number. The one form of a number the service compares: `+49 0151 1234567` and
 * `+491511234567` are the same number.
 */
export function canonicalE164(input: string): string | undefined {
  const trimmed = input.trim();
  if (!/^\+[0-9 ().-]{6,30}$/.test(trimmed)) return undefined;
  const parsed = parsePhoneNumberFromString(trimmed);
  return parsed?.isValid() === true ? parsed.number : undefined;
}
