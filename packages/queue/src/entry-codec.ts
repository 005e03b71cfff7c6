// How a queued message is written wherever it waits in Redis — a lane stream entry, a
// member of the delayed set, a dead letter — and read back, by the TypeScript code, the
// Lua scripts, `commstrat inspect` and the ledger alike. This comment is the format's
// one description; the scripts and docs/architecture.md point here.
//
// An entry is one string:
//
//     <lane>|<message id>|<body>
//
// - `<lane>`: one digit, the message's priority lane: 1 critical, 2 high, 3 normal, 4 bulk.
//   The Lua scripts read it (`string.sub(entry, 1, 1)`) to know which stream an entry
//   goes to; nothing else in the string is read by Lua.
// - `<message id>`: the message's id (a ULID; never contains `|`). In the delayed set it
//   makes each member unique per message, and lets a cascade timer be found by id.
// - `<body>`: JSON of the rest of the QueuedMessage, with the keys of BODY_KEYS (one
//   letter); values as they are. A field not in BODY_KEYS keeps its own name, so nothing
//   is lost. (Times as epoch milliseconds would save 11 bytes each, and cost about 1 µs
//   per message to convert on both tiers, as much as the whole JSON step: not worth it.)
//
// Example (174 bytes; the same message as 0.1's JSON is 236):
//   3|01M8T6C5AW1E4Y1ZC7PSBK4Y5X|{"t":"acme","c":"sms","r":{"phone":"+79161234567"},"b":{"text":"Your code is 1234. Do not share it with anyone."},"a":"2026-12-02T01:37:15.061Z"}
//
// Where it is stored:
// - a lane stream entry: one field, `m` = the entry;
// - the delayed set (`delayed:v2`): member = the entry, score = due time (ms);
// - the dead-letter stream: `m` = the entry (with `attempts`), `reason`, and, when known,
//   `code` and `provider`.
//
// Read as well, written no more (0.1, before this format): a stream entry or dead letter
// whose `m` is the message's JSON (it starts with `{`), and the 0.1 delayed set
// (`delayed`: ids by due time, payloads `<lane index>|<message JSON>` in `delayed:payload`).
import { PRIORITIES, type Priority, type QueuedMessage } from '@commstrat/core';
import type { DeadLetterEntry, DeadLetterInput } from './lane-options.ts';

/** The field of a stream entry (lane or dead letter) that holds the entry. */
export const ENTRY_FIELD = 'm';

type BodyField = Exclude<keyof QueuedMessage, 'id' | 'priority'>;

/**
 * The short key of each QueuedMessage field in an entry's body. A field added to
 * QueuedMessage must get one here (the type says so); keys are never reused.
 */
const BODY_KEYS: Readonly<Record<BodyField, string>> = {
  tenant_id: 't',
  channel: 'c',
  strategy: 's',
  strategy_version: 'v',
  category: 'g',
  recipient: 'r',
  content: 'b',
  content_by_channel: 'x',
  expires_at: 'e',
  created_at: 'a',
  attempts: 'n',
  step: 'p',
  receipt_timer: 'w',
  rendered_steps: 'd',
};

const FIELD_OF_KEY: ReadonlyMap<string, string> = new Map(Object.entries(BODY_KEYS).map(([field, key]) => [key, field]));
const KEY_OF_FIELD: ReadonlyMap<string, string> = new Map(Object.entries(BODY_KEYS));
/** Index = the lane digit: 1 critical … 4 bulk. */
const LANES_BY_DIGIT: readonly (Priority | undefined)[] = [undefined, ...PRIORITIES];

/** A lane's digit in an entry: 1 = critical. */
export function laneDigit(priority: Priority): number {
  return PRIORITIES.indexOf(priority) + 1;
}

/** The message as one entry string. */
export function encodeEntry(message: QueuedMessage): string {
  // One pass over the message's own fields: this runs once per message on ingest's hot
  // path and costs about what JSON.stringify of the message did (entry-codec.test.ts).
  const body: Record<string, unknown> = {};
  for (const field in message) {
    const value = (message as unknown as Record<string, unknown>)[field];
    if (value === undefined || field === 'id' || field === 'priority') continue;
    body[KEY_OF_FIELD.get(field) ?? field] = value;
  }
  return `${laneDigit(message.priority)}|${message.id}|${JSON.stringify(body)}`;
}

/**
 * The message of an entry string, or of a 0.1 payload (the message's JSON). Throws
 * EntryFormatError when it is neither.
 */
export function decodeEntry(text: string): QueuedMessage {
  if (text.charCodeAt(0) === 123 /* { */) return parseLegacy(text);
  const second = text.indexOf('|', 2);
  const priority = LANES_BY_DIGIT[text.charCodeAt(0) - 48];
  if (text.charCodeAt(1) !== 124 /* | */ || second < 0 || priority === undefined) throw new EntryFormatError(text);
  let body: unknown;
  try {
    body = JSON.parse(text.slice(second + 1));
  } catch {
    throw new EntryFormatError(text);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new EntryFormatError(text);
  const message: Record<string, unknown> = { id: text.slice(2, second), priority };
  const fields = body as Record<string, unknown>;
  for (const key in fields) message[FIELD_OF_KEY.get(key) ?? key] = fields[key];
  return message as unknown as QueuedMessage;
}

/** The message id of an entry string (or of a 0.1 message JSON), without decoding its body. */
export function entryMessageId(text: string): string {
  if (text.startsWith('{')) return parseLegacy(text).id;
  const second = text.indexOf('|', 2);
  if (text.charAt(1) !== '|' || second < 0) throw new EntryFormatError(text);
  return text.slice(2, second);
}

/** The message of a stream entry's fields (`m` = the entry). */
export function decodeStreamEntry(fields: readonly string[]): QueuedMessage {
  const index = fields.indexOf(ENTRY_FIELD);
  const value = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
  if (value === undefined) throw new EntryFormatError(`a stream entry without the field "${ENTRY_FIELD}"`);
  return decodeEntry(value);
}

/** The fields of a dead letter: `code` and `provider` are what `commstrat replay dlq` filters on. */
export function encodeDeadLetter({ message, reason, code, provider }: DeadLetterInput): string[] {
  const fields = [ENTRY_FIELD, encodeEntry(message), 'reason', reason];
  if (code !== undefined) fields.push('code', code);
  if (provider !== undefined) fields.push('provider', provider);
  return fields;
}

/** A dead letter of either format; a message that cannot be read is undefined (skipped, not fatal). */
export function decodeDeadLetter(entryId: string, fields: readonly string[]): DeadLetterEntry {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i] ?? '', fields[i + 1] ?? '');
  let message: QueuedMessage | undefined;
  try {
    message = decodeEntry(values.get(ENTRY_FIELD) ?? '');
  } catch {
    message = undefined;
  }
  if (typeof message?.id !== 'string' || typeof message.tenant_id !== 'string') message = undefined;
  return {
    entryId,
    at: new Date(Number(entryId.slice(0, entryId.indexOf('-')))),
    message,
    reason: values.get('reason') ?? '',
    code: values.get('code'),
    provider: values.get('provider'),
  };
}

/** A 0.1 delayed payload (`<lane index>|<message JSON>`): the message. */
export function decodeLegacyDelayedPayload(payload: string): QueuedMessage {
  return parseLegacy(payload.slice(payload.indexOf('|') + 1));
}

/** Thrown when a string in a lane, the delayed set or the dead-letter stream is no entry of either format. */
export class EntryFormatError extends Error {
  constructor(text: string) {
    super(`not a queue entry (entry-codec.ts): ${text.length > 80 ? `${text.slice(0, 80)}…` : text}`);
    this.name = 'EntryFormatError';
  }
}

function parseLegacy(json: string): QueuedMessage {
  let message: unknown;
  try {
    message = JSON.parse(json);
  } catch {
    throw new EntryFormatError(json);
  }
  if (typeof message !== 'object' || message === null || typeof (message as { id?: unknown }).id !== 'string') throw new EntryFormatError(json);
  return message as QueuedMessage;
}
