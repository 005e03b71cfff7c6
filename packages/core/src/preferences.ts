// Recipient preferences as plain data: which address a preference names (normalised),
// the key a preference store holds it under (a keyed digest), and what a claimed message
// becomes when its recipient opted out. The store is packages/journal preference-store.ts;
// the dispatcher looks a claimed batch up in one round trip and calls screenPreferences.
import { createHmac } from 'node:crypto';
import type { AddressKind, ContactAddress } from './contact-policy.ts';
import { ValidationError, type FieldProblem } from './errors.ts';
import { CATEGORY_PATTERN, type Channel } from './message-schema.ts';
import { canonicalE164 } from './phone.ts';

/**
 * Used when COMMSTRAT_CONTACT_HASH_SECRET is not set, by every tier alike: keeps addresses
 * out of key names and digests, but is no secret.
 */
export const DEFAULT_CONTACT_HASH_SECRET = 'commstrat-contact-hash-v1';

/** A preference that holds for every category of its channel (what an inbound STOP sets). */
export const ANY_CATEGORY = '*';

/**
 * The category of the replies to STOP, START and HELP (inbound-keywords.ts): never
 * suppressed by a preference, so "you are unsubscribed" reaches the one who asked.
 */
export const CONSENT_CATEGORY = 'consent';

/** Most preferences one request may set (POST /v1/preferences/batch). */
export const MAX_PREFERENCES_PER_REQUEST = 10_000;

/** The channel an address kind is reached on: a phone by SMS, an e-mail address by e-mail. */
export const ADDRESS_CHANNEL: Readonly<Record<AddressKind, Channel>> = Object.freeze({ phone: 'sms', email: 'email' });

/** Where one opt-out is: its channel and category (`*`: every category). */
export interface OptOutScope {
  readonly channel: Channel;
  readonly category: string;
}

/** The one string a preference store holds an opt-out under, within its address. */
export function optOutKey(scope: OptOutScope): string {
  return `${scope.channel}:${scope.category}`;
}

/** The scope of an optOutKey string. */
export function parseOptOutKey(key: string): OptOutScope {
  const colon = key.indexOf(':');
  return { channel: key.slice(0, colon) as Channel, category: key.slice(colon + 1) };
}

/** An e-mail address as preferences, caps and the stop list compare it: trimmed, lower case. */
export function normalizeEmail(input: string): string | undefined {
  const email = input.trim().toLowerCase();
  return email.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? email : undefined;
}

/**
 * A recipient address as a tenant writes it (`{"phone": "+49 151 1234 5678"}` or
 * `{"email": "Ann@Example.com"}`), checked and normalised: a phone to its E.164 form as
 * libphonenumber writes it, an e-mail address to lower case. `at` is the JSON pointer of
 * the object. Throws ValidationError naming the field.
 */
export function parseRecipientAddress(input: unknown, at = '/recipient'): ContactAddress {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError([{ path: at, message: 'must be an object with phone or email' }]);
  }
  const fields = input as Record<string, unknown>;
  const problems: FieldProblem[] = Object.keys(fields)
    .filter((key) => key !== 'phone' && key !== 'email')
    .map((key) => ({ path: `${at}/${key}`, message: 'is not an allowed property' }));
  const given = (['phone', 'email'] as const).filter((kind) => fields[kind] !== undefined);
  if (given.length !== 1) problems.push({ path: `${at}/phone`, message: 'exactly one of phone and email is required' });
  if (problems.length > 0) throw new ValidationError(problems);
  const [kind] = given as [AddressKind];
  const value = fields[kind];
  if (kind === 'phone') {
    const phone = typeof value === 'string' && value.length <= 40 ? canonicalE164(value) : undefined;
    if (phone === undefined) {
      throw new ValidationError([{ path: `${at}/phone`, message: 'is not a valid phone number in international form (+ and country code)' }], 'invalid_phone_number');
    }
    return { kind, address: phone };
  }
  const email = typeof value === 'string' ? normalizeEmail(value) : undefined;
  if (email === undefined) throw new ValidationError([{ path: `${at}/email`, message: 'is not an e-mail address' }]);
  return { kind, address: email };
}

/** One opt-out (or its removal) as a tenant sends it, checked: what a preference store applies. */
export interface PreferenceChange extends OptOutScope {
  readonly address: ContactAddress;
  /** True: the recipient opted out; false: the opt-out is removed (opted back in). */
  readonly optedOut: boolean;
  readonly reason?: string;
}

/**
 * A preference as the API takes it: `{"recipient": {...}, "channel": "sms", "category":
 * "marketing", "opted_out": true, "reason": "..."}`; `channel` defaults to the address's
 * (sms for a phone, email for an e-mail address), `category` to `*` (every category).
 * Throws ValidationError naming each bad field under `at`.
 */
export function parsePreferenceChange(input: unknown, at = ''): PreferenceChange {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError([{ path: at, message: 'must be an object with recipient, category and opted_out' }]);
  }
  const { recipient, channel, category = ANY_CATEGORY, opted_out: optedOut, reason, ...rest } = input as Record<string, unknown>;
  const problems: FieldProblem[] = Object.keys(rest).map((key) => ({ path: `${at}/${key}`, message: 'is not an allowed property' }));
  let address: ContactAddress | undefined;
  let addressError: ValidationError | undefined;
  try {
    address = parseRecipientAddress(recipient, `${at}/recipient`);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    addressError = error;
  }
  const expected = address === undefined ? undefined : ADDRESS_CHANNEL[address.kind];
  if (channel !== undefined && expected !== undefined && channel !== expected) {
    problems.push({ path: `${at}/channel`, message: `must be ${expected} for this recipient (a ${address?.kind} is reached on ${expected})` });
  }
  if (typeof category !== 'string' || (category !== ANY_CATEGORY && !new RegExp(CATEGORY_PATTERN).test(category))) {
    problems.push({ path: `${at}/category`, message: 'must be "*" (every category) or a category: 1-40 lower-case letters, digits, "_" or "-", starting with a letter' });
  }
  if (typeof optedOut !== 'boolean') problems.push({ path: `${at}/opted_out`, message: 'is required: true to opt out, false to opt back in' });
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500)) {
    problems.push({ path: `${at}/reason`, message: 'must be a string of at most 500 characters' });
  }
  // The address's own error alone keeps its code (invalid_phone_number); with others, all are named.
  if (addressError !== undefined && problems.length === 0) throw addressError;
  if (addressError !== undefined) problems.unshift(...addressError.problems);
  if (problems.length > 0 || address === undefined || expected === undefined) throw new ValidationError(problems);
  return {
    address,
    channel: expected,
    category: category as string,
    optedOut: optedOut as boolean,
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

/**
 * The key a tenant's preferences for one address are stored under: HMAC-SHA-256 of the
 * tenant and the normalised address under the operator's secret, base64url (43
 * characters). Keyed, because an unkeyed digest of a phone number is undone by trying
 * the few billion numbers there are; with the tenant in it, one person's digests differ
 * from tenant to tenant.
 */
export function preferenceDigest(secret: string, tenantId: string, address: ContactAddress): string {
  return createHmac('sha256', secret).update(`${tenantId}\u0000${address.kind}:${address.address}`).digest('base64url');
}

/** What a message's preferences make of it: sent, or suppressed with the reason. */
export type PreferenceVerdict = { readonly kind: 'send' } | { readonly kind: 'suppress'; readonly reason: string };

/**
 * Whether a message of `category` (undefined: none) going out on `channel` may go to a
 * recipient who holds `optedOut` (optOutKey strings) there. An opt-out of `*` holds back
 * every category; one of a category only that category. Exempt categories (the
 * tenant's, e.g. one-time passwords, and CONSENT_CATEGORY) are never held back.
 */
export function screenPreferences(input: {
  readonly channel: Channel;
  readonly category: string | undefined;
  readonly optedOut: ReadonlySet<string> | undefined;
  readonly exemptCategories: ReadonlySet<string>;
}): PreferenceVerdict {
  const { channel, category, optedOut } = input;
  if (optedOut === undefined || optedOut.size === 0) return { kind: 'send' };
  if (category !== undefined && (category === CONSENT_CATEGORY || input.exemptCategories.has(category))) return { kind: 'send' };
  if (optedOut.has(optOutKey({ channel, category: ANY_CATEGORY }))) return { kind: 'suppress', reason: `recipient opted out of ${channel}` };
  if (category !== undefined && optedOut.has(optOutKey({ channel, category }))) {
    return { kind: 'suppress', reason: `recipient opted out of ${category} on ${channel}` };
  }
  return { kind: 'send' };
}

/** Whether a message of `category` is looked up at all: exempt ones never are (no round trip). */
export function needsPreferenceCheck(category: string | undefined, exemptCategories: ReadonlySet<string>): boolean {
  return category === undefined || (category !== CONSENT_CATEGORY && !exemptCategories.has(category));
}
