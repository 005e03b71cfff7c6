// What a Kafka record means to ingest, and what a rejected record looks like: plain
// functions of the record, no connection, so every rule here is unit-tested.
import {
  MalformedJsonError,
  ValidationError,
  parseBatchEnvelope,
  parseJsonInput,
  type ErrorCode,
  type JsonInputLimits,
  type FieldProblem,
} from '@commstrat/core';
import type { IHeaders, KafkaMessage, Message as OutgoingRecord } from 'kafkajs';

/**
 * The record header that carries the tenant's API key, checked like REST's bearer token.
 * One shared topic with a key per record lets any producer send for any tenant it holds a
 * key of, and needs no topic administration per tenant; a topic per tenant (tenant taken
 * from the topic name) can be added later as a configuration option.
 */
export const API_KEY_HEADER = 'x-api-key';

/** Where a record was read: its coordinates in the source topic. */
export interface RecordSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** The error a rejected record carries: the same body an API error answers with. */
export interface RejectionError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly problems?: readonly FieldProblem[];
}

/** What a record asks for, like POST /v1/messages (one message) or /v1/messages/batch. */
export interface RecordRequest {
  /** The messages, as sent; intake validates each one. */
  readonly items: readonly unknown[];
  /** A single message is all-or-nothing, as on REST; a batch says so with `atomic`. */
  readonly atomic: boolean;
  /** The parsed value, journaled as the request body. */
  readonly body: unknown;
}

/**
 * The journal id of the request a record carries. It depends only on where the record
 * sits in the log, so a redelivered record (after a crash, a rebalance or an offset
 * reset) finds its request already journaled and nothing is accepted twice.
 */
export function recordBatchId(source: RecordSource): string {
  return `kafka:${source.topic}:${source.partition}:${source.offset}`;
}

/** A header's first value as text; names match case-insensitively, as in HTTP. */
export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  }
  return undefined;
}

/** How many values the record carries for a header, over every spelling of its name. */
export function headerCount(headers: IHeaders | undefined, name: string): number {
  const wanted = name.toLowerCase();
  let count = 0;
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    count += Array.isArray(value) ? value.length : 1;
  }
  return count;
}

/**
 * Parses a record value: one message object, or a batch envelope
 * `{ "messages": [...], "atomic"?: boolean }` (told apart by its `messages` property,
 * which a message does not have). Throws the error REST would answer with.
 */
export function parseRecordValue(
  value: Buffer | null,
  limits: JsonInputLimits & { readonly maxBatchMessages: number },
): RecordRequest {
  if (value === null) throw new MalformedJsonError(new Error('record has no value'));
  // The same rule as REST bodies: size, strict UTF-8, nesting depth, then JSON.
  const body = parseJsonInput(value, limits);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ValidationError([
      { path: '', message: 'must be a message object or a batch envelope { "messages": [...] }' },
    ]);
  }
  if (!Object.hasOwn(body, 'messages')) return { items: [body], atomic: true, body };
  const { messages, atomic } = parseBatchEnvelope(body, limits.maxBatchMessages);
  return { items: messages, atomic, body };
}

/**
 * The error of a non-atomic batch none of whose items is valid: the whole record is
 * rejected as it was sent, its problems pointing into `/messages/<index>`.
 */
export function everyItemRejected(
  items: readonly { readonly index: number; readonly error: RejectionError }[],
): RejectionError {
  const [first] = items;
  return {
    code: 'batch_rejected',
    message: `all ${items.length} message(s) of the batch are invalid${first === undefined ? '' : `; first: /messages/${first.index}: ${first.error.message}`}`,
    problems: items.flatMap(({ index, error }) =>
      (error.problems ?? [{ path: '', message: error.message }]).map((p) => ({
        path: `/messages/${index}${p.path}`,
        message: p.message,
      })),
    ),
  };
}

/** The headers rejectedRecord adds to what the producer sent. */
export const OWN_HEADERS: ReadonlySet<string> = new Set([
  'x-error-code',
  'x-error-path',
  'x-error-message',
  'x-source-topic',
  'x-source-partition',
  'x-source-offset',
  'x-tenant-id',
  'x-item-index',
]);

/**
 * The record written to the rejected topic: the original key and value bytes (or, for
 * one bad item of a batch, that item's JSON), the original headers except the API key,
 * and headers saying why and where from. Enough to fix the producer or replay by hand.
 */
export function rejectedRecord(
  original: KafkaMessage,
  source: RecordSource,
  error: RejectionError,
  context: { readonly tenantId?: string; readonly item?: { readonly index: number; readonly value: unknown } } = {},
): OutgoingRecord {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(original.headers ?? {})) {
    // The key is a credential; whoever reads the rejected topic must not learn it.
    if (name.toLowerCase() !== API_KEY_HEADER && value !== undefined) headers[name] = value;
  }
  Object.assign(headers, {
    'x-error-code': error.code,
    'x-error-path': error.problems?.[0]?.path ?? '',
    'x-error-message': error.message,
    'x-source-topic': source.topic,
    'x-source-partition': String(source.partition),
    'x-source-offset': source.offset,
    ...(context.tenantId === undefined ? {} : { 'x-tenant-id': context.tenantId }),
    ...(context.item === undefined ? {} : { 'x-item-index': String(context.item.index) }),
  });
  return {
    key: original.key,
    value: context.item === undefined ? original.value : JSON.stringify(context.item.value),
    headers,
  };
}
