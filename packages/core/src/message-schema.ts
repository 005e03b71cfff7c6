import type { FromSchema } from 'json-schema-to-ts';
import { PRIORITIES } from './lanes.ts';

export const CHANNELS = ['sms', 'email', 'push', 'messenger', 'webhook'] as const;

/** What a strategy (and provider) name may be; a message naming anything else names no strategy. */
export const STRATEGY_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
export type Channel = (typeof CHANNELS)[number];

/** What a message says: a text (and for e-mail a subject, HTML, attachments), or a template and its variables. */
export const messageContentSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 10000 },
    subject: { type: 'string', maxLength: 998 },
    // E-mail only: the HTML body, sent beside `text` as multipart/alternative.
    html: { type: 'string', minLength: 1, maxLength: 200000 },
    // E-mail attachments by URL are part of the public shape so that a producer gets
    // a specific refusal (attachments_not_supported), not "unknown property".
    attachments: {
      type: 'array',
      maxItems: 10,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: { type: 'string', format: 'uri', maxLength: 2048 },
          filename: { type: 'string', minLength: 1, maxLength: 255 },
          content_type: { type: 'string', minLength: 1, maxLength: 255 },
        },
      },
    },
    template_id: { type: 'string', minLength: 1, maxLength: 200 },
    variables: { type: 'object' },
  },
} as const;

/**
 * What a message category may be: a short lower-case name such as `marketing` or
 * `transactional`. Frequency caps of a strategy's contact policy count per category.
 */
export const CATEGORY_PATTERN = '^[a-z][a-z0-9_-]{0,39}$';

/**
 * The public shape of one message as a producer sends it. This schema is the single
 * source for validation (compiled once), for the TypeScript type below and for the
 * OpenAPI document. Field names are public API: extend, never rename.
 */
export const messageRequestSchema = {
  $id: 'https://commstrat.dev/schemas/message-request.json',
  type: 'object',
  additionalProperties: false,
  required: ['recipient', 'content'],
  anyOf: [{ required: ['channel'] }, { required: ['strategy'] }],
  properties: {
    channel: { type: 'string', enum: CHANNELS },
    strategy: { type: 'string', minLength: 1, maxLength: 100, pattern: STRATEGY_NAME_PATTERN },
    priority: { type: 'string', enum: PRIORITIES, default: 'normal' },
    category: {
      type: 'string',
      pattern: CATEGORY_PATTERN,
      description: 'what kind of message it is, e.g. marketing or transactional; frequency caps count per category',
    },
    recipient: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        phone: { type: 'string', minLength: 2, maxLength: 20 },
        email: { type: 'string', format: 'email', maxLength: 254 },
        push_token: { type: 'string', minLength: 1, maxLength: 4096 },
        chat_id: { type: 'string', minLength: 1, maxLength: 200 },
        time_zone: { type: 'string', minLength: 1, maxLength: 64 },
        locale: {
          type: 'string',
          minLength: 2,
          maxLength: 35,
          description: "BCP 47 language tag, e.g. ru-RU: picks a template's variant (ru-RU, then ru, then its default); absent: the tenant's default locale",
        },
      },
    },
    content: messageContentSchema,
    content_by_channel: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      description: 'content for the cascade steps on these channels, instead of content',
      // Spelled out rather than built from CHANNELS, so the TypeScript type follows it.
      properties: {
        sms: messageContentSchema,
        email: messageContentSchema,
        push: messageContentSchema,
        messenger: messageContentSchema,
        webhook: messageContentSchema,
      },
    },
    send_at: { type: 'string', format: 'date-time' },
    expires_at: { type: 'string', format: 'date-time' },
    ttl: { type: 'integer', minimum: 1, description: 'seconds after acceptance' },
    idempotency_key: { type: 'string', minLength: 1, maxLength: 200 },
    tags: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 100 } },
    metadata: { type: 'object' },
    // http(s) only: the dispatcher POSTs status callbacks there.
    callback_url: { type: 'string', format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]', maxLength: 2048 },
  },
} as const;

export type MessageRequest = FromSchema<typeof messageRequestSchema>;

/**
 * The message schema as the OpenAPI document states it: the validation schema plus the
 * rules validateMessageRequest checks in code, for their own codes and messages (an SMS
 * needs a phone in E.164 form, an e-mail an address, a push a device token, a messenger
 * message a chat id, expires_at and ttl exclude each
 * other). validate-message.test.ts keeps the two in step. Rules no schema can state (a
 * real number, an existing strategy, a future expiry, a known time zone) stay in code
 * and in the document's 422 description.
 */
export function documentedMessageRequestSchema(): Record<string, unknown> {
  const { $id: _id, ...schema } = messageRequestSchema;
  const needs = (channel: Channel, field: string) => ({
    if: { required: ['channel'], properties: { channel: { const: channel } } },
    then: { properties: { recipient: { required: [field] } } },
  });
  const { recipient } = schema.properties;
  const isEmail = { required: ['channel'], properties: { channel: { const: 'email' } } };
  return {
    ...schema,
    properties: {
      ...schema.properties,
      recipient: {
        ...recipient,
        properties: {
          ...recipient.properties,
          phone: { ...recipient.properties.phone, pattern: E164_PATTERN, description: 'E.164, and a real number' },
        },
      },
    },
    allOf: [
      needs('sms', 'phone'),
      needs('email', 'email'),
      needs('push', 'push_token'),
      needs('messenger', 'chat_id'),
      { not: { required: ['expires_at', 'ttl'] } },
      // An e-mail has a subject and a text or HTML body; HTML is for e-mail only.
      {
        if: isEmail,
        then: { properties: { content: { required: ['subject'], anyOf: [{ required: ['text'] }, { required: ['html'] }] } } },
      },
      { if: { required: ['channel'], not: isEmail }, then: { properties: { content: { not: { required: ['html'] } } } } },
      // Part of the shape so that the refusal is specific: 422 attachments_not_supported.
      { properties: { content: { not: { required: ['attachments'] } } } },
    ],
  };
}

/** The form isValidE164 checks before asking libphonenumber whether the number is real. */
export const E164_PATTERN = '^\\+[1-9][0-9]{6,14}$';
