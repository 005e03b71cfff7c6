import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_RECEIPTS_PER_REQUEST, ValidationError, type FieldProblem, type Receipt } from '@commstrat/core';
import { firstJsonPath, queryJsonPath } from './json-path.ts';
import { isIdTemplate, type ReceiptMapping } from './receipt-schema.ts';
import { asText, renderTemplate } from './template.ts';

/** What one receipt request in a provider's own format said. */
export interface MappedReceipts {
  /** Final reports, as commstrat receipts. */
  readonly receipts: Receipt[];
  /** Reports whose status the mapping does not list (intermediate ones such as `sent`). */
  readonly ignored: { readonly provider_message_id: string; readonly status: string }[];
}

/**
 * The body of a receipt request as the mapping's format reads it: JSON as parsed, a
 * form as one object of its fields (a field given twice keeps its first value).
 */
export function parseReceiptBody(mapping: Pick<ReceiptMapping, 'format'>, body: string): unknown {
  if (mapping.format === 'form') {
    const fields: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(body)) if (!Object.hasOwn(fields, name)) fields[name] = value;
    return fields;
  }
  try {
    return JSON.parse(body) as unknown;
  } catch (error) {
    throw new ValidationError([{ path: '', message: `is not JSON: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}

/**
 * Maps a provider's delivery reports onto commstrat receipts. `body` is what
 * parseReceiptBody read; a body that is a JSON array is read element by element, so
 * one report or a list of them per request both work. Throws ValidationError naming
 * each report that lacks an id or a status (by its index among the reports).
 */
export function mapProviderReceipts(mapping: ReceiptMapping, body: unknown): MappedReceipts {
  const reports = (Array.isArray(body) ? (body as unknown[]) : [body]).flatMap((part) => queryJsonPath(part, mapping.items));
  const problems: FieldProblem[] = [];
  if (reports.length === 0) problems.push({ path: '', message: `holds no report at ${mapping.items}` });
  if (reports.length > MAX_RECEIPTS_PER_REQUEST) problems.push({ path: '', message: `holds ${reports.length} reports; at most ${MAX_RECEIPTS_PER_REQUEST} per request` });
  const receipts: Receipt[] = [];
  const ignored: MappedReceipts['ignored'][number][] = [];
  reports.forEach((report, index) => {
    const id = isIdTemplate(mapping.provider_message_id)
      ? asText(renderTemplate(mapping.provider_message_id, { report }))
      : asText(firstJsonPath(report, mapping.provider_message_id));
    const status = asText(firstJsonPath(report, mapping.status));
    // A template with a missing part leaves a separator alone ("abc:"); that is no id either.
    const before = problems.length;
    if (id === '' || /^[:\s]|[:\s]$/.test(id)) problems.push({ path: `/${index}`, message: `has no provider message id at ${mapping.provider_message_id}` });
    if (status === '') problems.push({ path: `/${index}`, message: `has no status at ${mapping.status}` });
    if (problems.length > before) return;
    const ours = Object.hasOwn(mapping.statuses, status) ? mapping.statuses[status] : undefined;
    if (ours === undefined) {
      ignored.push({ provider_message_id: id, status });
      return;
    }
    const error = ours === 'undelivered' ? errorOf(mapping, report) : undefined;
    const at = mapping.at === undefined ? undefined : timeOf(firstJsonPath(report, mapping.at));
    receipts.push({
      provider_message_id: id.slice(0, 200),
      status: ours,
      ...(error === undefined ? {} : { error }),
      ...(at === undefined ? {} : { at }),
    });
  });
  if (problems.length > 0) throw new ValidationError(problems);
  return { receipts, ignored };
}

/** "<code>: <text>", either alone, or the provider's status when it gave neither. */
function errorOf(mapping: ReceiptMapping, report: unknown): string {
  const read = (path: string | undefined) => (path === undefined ? '' : asText(firstJsonPath(report, path)));
  const parts = [read(mapping.error_code), read(mapping.error_text)].filter((part) => part !== '');
  return (parts.length > 0 ? parts.join(': ') : asText(firstJsonPath(report, mapping.status))).slice(0, 500);
}

/** An RFC 3339 time from what the provider gave, or nothing when it is no time. */
function timeOf(value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

/**
 * Twilio's request signature (twilio.com/docs/usage/security#validating-requests): the
 * full URL Twilio called, then every POST field sorted by name as name+value with no
 * separators, HMAC-SHA1 under the account's auth token, base64.
 */
export function twilioSignature(authToken: string, url: string, fields: Readonly<Record<string, string>>): string {
  const signed = Object.keys(fields)
    .sort()
    .reduce((text, name) => `${text}${name}${fields[name] ?? ''}`, url);
  return createHmac('sha1', authToken).update(signed, 'utf8').digest('base64');
}

/** Checks an `X-Twilio-Signature` header in constant time; undefined when it is good. */
export function checkTwilioSignature(
  authToken: string,
  url: string,
  fields: Readonly<Record<string, string>>,
  header: string | undefined,
): 'missing' | 'mismatch' | undefined {
  if (header === undefined || header === '') return 'missing';
  const expected = Buffer.from(twilioSignature(authToken, url, fields));
  const given = Buffer.from(header.trim());
  return expected.length === given.length && timingSafeEqual(expected, given) ? undefined : 'mismatch';
}

/**
 * Checks an HTTP basic `Authorization` header (a provider that calls back with a
 * provisioned user and password, e.g. Sinch) in constant time; undefined when it is good.
 */
export function checkBasicAuth(username: string, password: string, header: string | undefined): 'missing' | 'mismatch' | undefined {
  if (header === undefined || header === '') return 'missing';
  const expected = Buffer.from(`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  const given = Buffer.from(header.trim());
  return expected.length === given.length && timingSafeEqual(expected, given) ? undefined : 'mismatch';
}
