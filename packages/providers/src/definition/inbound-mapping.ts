import { MAX_INBOUND_PER_REQUEST, ValidationError, type FieldProblem, type InboundReport } from '@commstrat/core';
import { firstJsonPath, parseJsonPath, queryJsonPath } from './json-path.ts';
import { receiptMappingSchema, type ReceiptMapping } from './receipt-schema.ts';
import { asText } from './template.ts';

/**
 * The `inbound:` section of a provider definition: how the provider's own webhook for
 * messages sent to the tenant's number (Twilio's "A message comes in") maps onto
 * commstrat's inbound report, how such a request is authenticated (as receipts are), and
 * what the provider expects as the answer. See docs/providers.md, "Inbound messages".
 */
const jsonPath = { type: 'string', pattern: '^\\$', maxLength: 500 } as const;

export const inboundMappingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'items', 'from', 'text', 'auth'],
  properties: {
    format: { enum: ['json', 'form'], description: 'the body: JSON, or application/x-www-form-urlencoded' },
    items: { ...jsonPath, description: 'the messages in one request; "$" when the body is one message' },
    from: jsonPath,
    to: jsonPath,
    text: jsonPath,
    provider_message_id: jsonPath,
    at: jsonPath,
    auth: receiptMappingSchema.properties.auth,
    answer: {
      type: 'object',
      additionalProperties: false,
      required: ['content_type', 'body'],
      description: 'what the provider expects back (Twilio: an empty TwiML <Response/>); absent: the generic JSON answer',
      properties: { content_type: { type: 'string', minLength: 1, maxLength: 100 }, body: { type: 'string', maxLength: 2000 } },
    },
  },
} as const;

export interface InboundMapping {
  readonly format: 'json' | 'form';
  readonly items: string;
  readonly from: string;
  readonly to?: string;
  readonly text: string;
  readonly provider_message_id?: string;
  readonly at?: string;
  readonly auth: ReceiptMapping['auth'];
  readonly answer?: { readonly content_type: string; readonly body: string };
}

/** What the schema cannot say about an inbound mapping: readable paths, complete auth. */
export function inboundMappingProblems(mapping: InboundMapping, at = '/inbound'): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const field of ['items', 'from', 'to', 'text', 'provider_message_id', 'at'] as const) {
    const path = mapping[field];
    if (path === undefined) continue;
    try {
      parseJsonPath(path);
    } catch (error) {
      problems.push({ path: `${at}/${field}`, message: error instanceof Error ? error.message : String(error) });
    }
  }
  if (mapping.auth.type === 'twilio_signature') {
    if (mapping.auth.secret === undefined) problems.push({ path: `${at}/auth/secret`, message: 'is required for type twilio_signature (the auth token)' });
    if (mapping.auth.url === undefined) problems.push({ path: `${at}/auth/url`, message: 'is required for type twilio_signature (the webhook URL of the number)' });
    if (mapping.format !== 'form') problems.push({ path: `${at}/format`, message: 'must be form for type twilio_signature' });
  }
  if (mapping.auth.type === 'basic') {
    for (const field of ['username', 'password'] as const) {
      if (mapping.auth[field] === undefined) problems.push({ path: `${at}/auth/${field}`, message: 'is required for type basic' });
    }
  }
  return problems;
}

/**
 * Maps a provider's inbound webhook body (as parseReceiptBody read it) onto inbound
 * reports. Throws ValidationError naming each message without a sender, by its index.
 */
export function mapProviderInbound(mapping: InboundMapping, body: unknown): InboundReport[] {
  const items = (Array.isArray(body) ? (body as unknown[]) : [body]).flatMap((part) => queryJsonPath(part, mapping.items));
  const problems: FieldProblem[] = [];
  if (items.length === 0) problems.push({ path: '', message: `holds no message at ${mapping.items}` });
  if (items.length > MAX_INBOUND_PER_REQUEST) problems.push({ path: '', message: `holds ${items.length} messages; at most ${MAX_INBOUND_PER_REQUEST} per request` });
  const reports: InboundReport[] = [];
  items.forEach((item, index) => {
    const read = (path: string | undefined) => (path === undefined ? '' : asText(firstJsonPath(item, path)));
    const from = read(mapping.from).trim();
    if (from === '') {
      problems.push({ path: `/${index}`, message: `has no sender at ${mapping.from}` });
      return;
    }
    const [to, id, at] = [read(mapping.to).trim(), read(mapping.provider_message_id).trim(), read(mapping.at)];
    const time = at === '' ? undefined : new Date(at);
    reports.push({
      from: from.slice(0, 64),
      text: read(mapping.text).slice(0, 10_000),
      ...(to === '' ? {} : { to: to.slice(0, 64) }),
      ...(id === '' ? {} : { provider_message_id: id.slice(0, 200) }),
      ...(time === undefined || Number.isNaN(time.getTime()) ? {} : { at: time.toISOString() }),
    });
  });
  if (problems.length > 0) throw new ValidationError(problems);
  return reports;
}
