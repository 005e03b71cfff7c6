import { ValidationError, type FieldProblem } from './errors.ts';
import { PRIORITIES, type Priority } from './lanes.ts';
import { CATEGORY_PATTERN, CHANNELS, type Channel, type MessageRequest } from './message-schema.ts';
import { validE164Form } from './phone.ts';

/**
 * A strategy's contact policy: how often a recipient may be contacted, and who is left
 * alone. The stop list itself is the tenant's (packages/config); the policy says which
 * priorities pass it and the caps.
 */
export interface ContactPolicy {
  readonly caps?: readonly FrequencyCap[];
  /**
   * Priorities that neither caps nor the stop list hold back. Absent:
   * DEFAULT_EXEMPT_PRIORITIES (`critical`, e.g. a one-time password or a fraud alert).
   */
  readonly exempt_priorities?: readonly Priority[];
}

/**
 * At most `max` messages of `category` in any `per_seconds` (a sliding window) to one
 * recipient address on `channel` (absent: on whatever channel the message goes).
 */
export interface FrequencyCap {
  readonly category: string;
  readonly channel?: Channel;
  readonly max: number;
  readonly per_seconds: number;
  /** `defer`: wait in the delayed set until the window allows it; `drop`: end `failed`. */
  readonly over: 'defer' | 'drop';
}

export const DEFAULT_EXEMPT_PRIORITIES: readonly Priority[] = ['critical'];

/** The most a cap may allow per window: each counted message is one entry in Redis. */
export const MAX_CAP = 10_000;

/** The JSON Schema of `contact_policy` in a strategy document (strategySchema embeds it). */
export const contactPolicySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    caps: {
      type: 'array',
      maxItems: 20,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['category', 'max', 'per_seconds', 'over'],
        properties: {
          category: { type: 'string', pattern: CATEGORY_PATTERN },
          channel: { type: 'string', enum: CHANNELS },
          max: { type: 'integer', minimum: 1, maximum: MAX_CAP },
          // Up to 31 days: a window is kept in Redis as long as it is.
          per_seconds: { type: 'integer', minimum: 1, maximum: 2_678_400 },
          over: { type: 'string', enum: ['defer', 'drop'] },
        },
      },
    },
    exempt_priorities: { type: 'array', maxItems: PRIORITIES.length, uniqueItems: true, items: { type: 'string', enum: PRIORITIES } },
  },
} as const;

/** What a cap counts, as one string: two caps with the same key would count the same thing. */
export function capKey(cap: Pick<FrequencyCap, 'category' | 'channel' | 'per_seconds'>): string {
  return `${cap.category}\u0000${cap.channel ?? '*'}\u0000${cap.per_seconds}`;
}

/** Problems a schema cannot state: two caps counting the same thing. */
export function contactPolicyProblems(policy: Pick<ContactPolicy, 'caps'>, at: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  (policy.caps ?? []).forEach((cap, i) => {
    const key = capKey(cap);
    if (seen.has(key)) problems.push({ path: `${at}/caps/${i}`, message: 'counts the same category, channel and window as an earlier cap' });
    seen.add(key);
  });
  return problems;
}

export type AddressKind = 'phone' | 'email';

/** A recipient address as caps count it and stop lists name it. */
export interface ContactAddress {
  readonly kind: AddressKind;
  /** E.164 for a phone, lower case for an e-mail address. */
  readonly address: string;
}

/**
 * The address `channel` reaches the recipient at: the phone for SMS, the e-mail address
 * for e-mail. Push, messenger and webhook messages have none a cap or a stop list knows
 * (a push token is a device, not a person), so the contact policy does not hold them back.
 */
export function contactAddress(channel: Channel, recipient: MessageRequest['recipient']): ContactAddress | undefined {
  if (channel === 'sms' && recipient.phone !== undefined) return { kind: 'phone', address: recipient.phone };
  if (channel === 'email' && recipient.email !== undefined) return { kind: 'email', address: recipient.email.toLowerCase() };
  return undefined;
}

/** The one string a stop list holds an address under. */
export function stopListKey(address: ContactAddress): string {
  return `${address.kind}:${address.address}`;
}

/**
 * A stop-list entry as an operator writes it (`{"phone": "+4915…"}` or `{"email": "…"}`),
 * checked and normalised. Throws ValidationError naming the field.
 */
export function parseStopListAddress(input: { readonly phone?: unknown; readonly email?: unknown }): ContactAddress {
  const given = (['phone', 'email'] as const).filter((kind) => input[kind] !== undefined);
  if (given.length !== 1) {
    throw new ValidationError([{ path: '/phone', message: 'exactly one of phone and email is required' }]);
  }
  const [kind] = given as [AddressKind];
  const value = input[kind];
  if (kind === 'phone') {
    const phone = typeof value === 'string' ? validE164Form(value) : undefined;
    if (phone === undefined) {
      throw new ValidationError([{ path: '/phone', message: 'is not a valid phone number in E.164 form' }], 'invalid_phone_number');
    }
    // The one form messages are accepted in (validateMessageRequest), so the entry matches them.
    return { kind, address: phone };
  }
  if (typeof value !== 'string' || value.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(value)) {
    throw new ValidationError([{ path: '/email', message: 'is not an e-mail address' }]);
  }
  return { kind, address: value.toLowerCase() };
}

export function isExempt(policy: ContactPolicy | undefined, priority: Priority): boolean {
  return (policy?.exempt_priorities ?? DEFAULT_EXEMPT_PRIORITIES).includes(priority);
}

/** What the policy makes of a message before it is routed. */
export type ScreenVerdict = { readonly kind: 'send' } | { readonly kind: 'fail'; readonly reason: string };

export const OPTED_OUT_REASON = 'recipient opted out';

/** A message to an address on the tenant's stop list ends `failed`, unless its priority is exempt. */
export function screenRecipient(input: {
  readonly policy: ContactPolicy | undefined;
  readonly priority: Priority;
  readonly channel: Channel;
  readonly recipient: MessageRequest['recipient'];
  readonly stopped: (key: string) => boolean;
}): ScreenVerdict {
  if (isExempt(input.policy, input.priority)) return { kind: 'send' };
  const address = contactAddress(input.channel, input.recipient);
  if (address === undefined || !input.stopped(stopListKey(address))) return { kind: 'send' };
  return { kind: 'fail', reason: OPTED_OUT_REASON };
}

/** The caps a message going out on `channel` counts against: none when exempt or uncategorised. */
export function applicableCaps(
  policy: ContactPolicy | undefined,
  message: { readonly priority: Priority; readonly category?: string | undefined },
  channel: Channel,
): FrequencyCap[] {
  if (policy?.caps === undefined || message.category === undefined || isExempt(policy, message.priority)) return [];
  return policy.caps.filter((cap) => cap.category === message.category && (cap.channel === undefined || cap.channel === channel));
}

/** What to do with a message a cap holds back. */
export type CapVerdict =
  | { readonly kind: 'defer'; readonly until: number; readonly reason: string }
  | { readonly kind: 'fail'; readonly reason: string }
  | { readonly kind: 'expire'; readonly reason: string };

/**
 * A message over `cap`, whose window lets the next one through at `allowedAt` (ms):
 * deferred until then, dropped (ends `failed`), or — when it would expire first —
 * expired, as the message could only wait for nothing.
 */
export function overCapVerdict(cap: FrequencyCap, channel: Channel, allowedAt: number, expiresAt: number | undefined): CapVerdict {
  const what = `frequency cap: at most ${cap.max} ${cap.category} ${cap.channel ?? channel} per ${cap.per_seconds} s to this recipient`;
  if (cap.over === 'drop') return { kind: 'fail', reason: `${what}; dropped` };
  if (expiresAt !== undefined && allowedAt >= expiresAt) return { kind: 'expire', reason: `${what}; expires before the cap allows it` };
  return { kind: 'defer', until: allowedAt, reason: `${what}; next allowed at ${new Date(allowedAt).toISOString()}` };
}
