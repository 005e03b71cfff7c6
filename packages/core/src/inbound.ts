// Inbound messages (a recipient writing back) as plain data: the generic format a
// provider (or a relay) posts them in, and what a tenant's callback URL receives for each.
import { createAjv, toFieldProblems } from './ajv.ts';
import type { KeywordAction } from './consent-settings.ts';
import { ValidationError } from './errors.ts';

/** One inbound message as a provider reported it. */
export interface InboundReport {
  /** The sender, as the provider wrote it (an E.164 number for SMS). */
  readonly from: string;
  /** The number (or sender id) it was sent to. */
  readonly to?: string;
  readonly text: string;
  /** The provider's id of it: what tells a provider's retry from a new message. */
  readonly provider_message_id?: string;
  /** When the provider received it (RFC 3339); default: when it reached us. */
  readonly at?: string;
}

/** Most inbound messages one request may carry. */
export const MAX_INBOUND_PER_REQUEST = 1000;

/** The generic inbound format, signed like receipts: `{"messages": [...]}`. */
export const inboundBatchSchema = {
  $id: 'https://commstrat.dev/schemas/inbound-batch.json',
  type: 'object',
  additionalProperties: false,
  required: ['messages'],
  properties: {
    messages: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_INBOUND_PER_REQUEST,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'text'],
        properties: {
          from: { type: 'string', minLength: 1, maxLength: 64 },
          to: { type: 'string', minLength: 1, maxLength: 64 },
          text: { type: 'string', maxLength: 10000 },
          provider_message_id: { type: 'string', minLength: 1, maxLength: 200 },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;

const validateInbound = createAjv({ useDefaults: false }).compile<{ messages: InboundReport[] }>(inboundBatchSchema);

/** The inbound messages of a generic request body; throws ValidationError naming each bad field. */
export function parseInbound(body: unknown): InboundReport[] {
  if (!validateInbound(body)) throw new ValidationError(toFieldProblems(validateInbound.errors));
  return body.messages;
}

/**
 * What a keyword did: the sender opted out of or back into the channel (`opted_out`,
 * `opted_in`), was sent the help text (`replied`), or nothing (`none`: no keyword, or a
 * sender that is no phone number).
 */
export type InboundAction = 'opted_out' | 'opted_in' | 'replied' | 'none';

/**
 * What a tenant's callback URL receives for one inbound message, beside the status
 * callbacks of its messages: `type` tells the two apart (`message.status` there).
 * `event_id` is `inbound:<inbound id>`, the same on every attempt.
 */
export interface InboundCallbackPayload {
  readonly type: 'inbound.message';
  readonly event_id: string;
  readonly inbound_id: string;
  readonly tenant_id: string;
  /** The tenant's provider it came through (its id). */
  readonly provider: string;
  readonly provider_message_id: string | null;
  readonly channel: 'sms';
  readonly from: string;
  readonly to: string | null;
  readonly text: string;
  /** When it reached us, and when the provider says it received it (ISO 8601). */
  readonly received_at: string;
  readonly at: string;
  /** The keyword the text is (null: none), in which language, and what it did. */
  readonly keyword: KeywordAction | null;
  readonly language: string | null;
  readonly action: InboundAction;
  /** The message sent back (a reply to the keyword), if one was. */
  readonly reply_message_id: string | null;
}
