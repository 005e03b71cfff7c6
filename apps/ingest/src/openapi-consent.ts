import { CATEGORY_PATTERN, MAX_PREFERENCES_PER_REQUEST, consentSettingsSchema, inboundBatchSchema } from '@commstrat/core';

// The consent part of /openapi.json: recipient preferences (preference-routes.ts), the
// tenant's consent settings (admin-consent-routes.ts), inbound messages (inbound-routes.ts).

type Errors = (...statuses: number[]) => Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = (schema: object) => ({ required: true, content: { 'application/json': { schema } } });
const query = (name: string, schema: object, description?: string) => ({
  name,
  in: 'query',
  required: false,
  schema,
  ...(description === undefined ? {} : { description }),
});
const dateTime = { type: 'string', format: 'date-time' } as const;
const { $id: _inboundSchemaId, ...inboundBody } = inboundBatchSchema;
const nullableString = { type: ['string', 'null'] } as const;
const category = {
  type: 'string',
  description: '"*" for every category (what an inbound STOP sets), else a category such as marketing',
  anyOf: [{ const: '*' }, { pattern: CATEGORY_PATTERN }],
} as const;
const recipient = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  description: 'exactly one: a phone in international form (stored in E.164), or an e-mail address (stored in lower case)',
  properties: { phone: { type: 'string', minLength: 2, maxLength: 40 }, email: { type: 'string', minLength: 3, maxLength: 254 } },
} as const;
const channel = { type: 'string', enum: ['sms', 'email'], description: "default: the address's (sms for a phone, email for an e-mail address)" } as const;

const preferenceChange = {
  type: 'object',
  additionalProperties: false,
  required: ['recipient', 'opted_out'],
  properties: {
    recipient,
    channel,
    category: { ...category, default: '*' },
    opted_out: { type: 'boolean', description: 'true: opted out; false: the opt-out is removed' },
    reason: { type: 'string', maxLength: 500 },
  },
} as const;

export const consentSchemas = {
  PreferenceChange: preferenceChange,
  PreferenceBatch: {
    type: 'object',
    additionalProperties: false,
    required: ['preferences'],
    properties: {
      preferences: {
        type: 'array',
        minItems: 1,
        // Not maxItems: more is refused with 413 batch_too_large, as a message batch is.
        description: `at most ${MAX_PREFERENCES_PER_REQUEST} items; more is 413 batch_too_large`,
        items: ref('PreferenceChange'),
      },
    },
  },
  OptOut: {
    type: 'object',
    required: ['channel', 'category', 'source', 'at'],
    properties: {
      channel: { type: 'string' },
      category: { type: 'string' },
      source: { type: 'string', enum: ['api', 'inbound'], description: 'set through this API, or by an inbound keyword (STOP) of the recipient' },
      reason: { type: 'string' },
      at: dateTime,
    },
  },
  ConsentSettings: (() => {
    const { properties } = consentSettingsSchema;
    return {
      type: 'object',
      required: ['exempt_categories', 'keywords', 'defaults'],
      properties: {
        ...properties,
        defaults: { type: 'array', items: { type: 'string', enum: ['exempt_categories', 'keywords'] }, description: 'the settings the tenant left to their defaults' },
      },
    };
  })(),
} as const;

export function consentPaths(errors: Errors): Record<string, unknown> {
  const common = errors(400, 401, 429, 503);
  const writes = { ...common, ...errors(403, 413, 415), '422': { description: 'validation_failed, invalid_phone_number: `problems` names every bad field', content: { 'application/json': { schema: ref('Error') } } } };
  const address = [
    query('phone', { type: 'string', minLength: 2, maxLength: 40 }, 'the recipient, URL-encoded (%2B4915…); exactly one of phone and email'),
    query('email', { type: 'string', minLength: 3, maxLength: 254 }),
  ];
  return {
    '/v1/preferences': {
      post: {
        summary: "Set one recipient's opt-out of a channel and category (or remove it)",
        requestBody: body(ref('PreferenceChange')),
        responses: {
          '200': json(
            {
              type: 'object',
              required: ['recipient', 'channel', 'category', 'opted_out', 'changed'],
              properties: {
                recipient: { type: 'object' },
                channel: { type: 'string' },
                category: { type: 'string' },
                opted_out: { type: 'boolean' },
                changed: { type: 'boolean', description: 'false: it was so already' },
              },
            },
            'in force for every message claimed from now on',
          ),
          ...writes,
        },
      },
      get: {
        summary: "A recipient's opt-outs",
        parameters: address,
        responses: {
          '200': json(
            { type: 'object', required: ['recipient', 'opt_outs'], properties: { recipient: { type: 'object' }, opt_outs: { type: 'array', items: ref('OptOut') } } },
            'its opt-outs, oldest first (none: an empty list)',
          ),
          ...common,
          ...errors(403, 422),
        },
      },
      delete: {
        summary: "Remove a recipient's opt-outs: all of them, or those of one channel and/or category",
        parameters: [...address, query('channel', channel), query('category', category)],
        responses: { '204': { description: 'removed' }, ...common, ...errors(403, 404, 422) },
      },
    },
    '/v1/preferences/batch': {
      post: {
        summary: `Set up to ${MAX_PREFERENCES_PER_REQUEST} opt-outs (or removals) in one request`,
        requestBody: body(ref('PreferenceBatch')),
        responses: {
          '200': json(ref('PreferenceBatchResult'), 'every item applied'),
          '207': json(ref('PreferenceBatchResult'), 'some items applied; `rejected` lists the others by index'),
          ...writes,
          '422': {
            description: 'no item applied (a PreferenceBatchResult) or the envelope refused (an Error)',
            content: { 'application/json': { schema: { oneOf: [ref('PreferenceBatchResult'), ref('Error')] } } },
          },
        },
      },
    },
    '/v1/providers/{tenant}/{provider}/inbound': {
      post: {
        summary: "Inbound messages from a provider (recipients writing back), signed with the provider's receipt secret (no API key)",
        description:
          "The generic format below, or the provider's own webhook when its definition maps it (inbound: section; Twilio's form-encoded \"A message comes in\" with X-Twilio-Signature; docs/providers.md). Keywords (STOP, START, HELP) change the sender's preferences; each message is forwarded to the tenant's callback URL.",
        security: [],
        parameters: [
          { name: 'tenant', in: 'path', required: true, schema: { type: 'string', minLength: 1 } },
          { name: 'provider', in: 'path', required: true, schema: { type: 'string', minLength: 1 } },
          { name: 'X-Commstrat-Signature', in: 'header', required: false, description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">; required unless the definition authenticates otherwise', schema: { type: 'string' } },
          { name: 'X-Twilio-Signature', in: 'header', required: false, description: "for a twilio-sms provider: Twilio's base64 HMAC-SHA1 of the number's webhook URL and the sorted fields", schema: { type: 'string' } },
        ],
        requestBody: { required: true, content: { 'application/json': { schema: inboundBody } } },
        responses: {
          '200': json(
            {
              type: 'object',
              required: ['received', 'messages'],
              properties: {
                received: { type: 'integer', minimum: 0 },
                messages: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['id', 'keyword', 'repeated'],
                    properties: { id: { type: 'string' }, keyword: { type: ['string', 'null'], enum: ['stop', 'start', 'help', null] }, repeated: { type: 'boolean' } },
                  },
                },
              },
            },
            "journaled, keywords carried out (a provider's own format gets the answer its definition names, e.g. TwiML)",
          ),
          ...errors(400, 401, 413, 422, 503),
        },
      },
    },
    '/v1/inbound': {
      get: {
        summary: 'Inbound messages, newest first',
        parameters: [
          query('from', { type: 'string', minLength: 2, maxLength: 40 }, 'only those of this sender, URL-encoded (%2B4915…)'),
          query('after', { type: 'string' }),
          query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
        ],
        responses: {
          '200': json(
            { type: 'object', required: ['messages', 'next_after'], properties: { messages: { type: 'array', items: ref('InboundMessage') }, next_after: { type: ['string', 'null'] } } },
            'one page; pass next_after as after for the next',
          ),
          ...common,
          ...errors(403, 422),
        },
      },
    },
    '/v1/admin/consent': {
      get: {
        summary: 'The consent settings: categories no opt-out holds back, inbound keywords per language and their replies',
        responses: { '200': json(ref('ConsentSettings'), 'what applies'), ...common, ...errors(403, 404) },
      },
      put: {
        summary: 'Replace the consent settings; a field left out takes its default; audited',
        requestBody: body(consentSettingsSchema),
        responses: { '200': json(ref('ConsentSettings'), 'what applies now'), ...writes, ...errors(404) },
      },
    },
  };
}

export const consentResultSchemas = {
  InboundMessage: {
    type: 'object',
    required: ['id', 'provider', 'channel', 'from', 'text', 'received_at', 'at', 'keyword', 'action'],
    properties: {
      id: { type: 'string' },
      provider: { type: 'string' },
      provider_message_id: nullableString,
      channel: { const: 'sms' },
      from: { type: 'string' },
      to: nullableString,
      text: { type: 'string' },
      received_at: dateTime,
      at: dateTime,
      keyword: { type: ['string', 'null'], enum: ['stop', 'start', 'help', null] },
      language: nullableString,
      action: { type: ['string', 'null'], enum: ['opted_out', 'opted_in', 'replied', 'none', null], description: 'null while its keyword is being handled' },
      reply_message_id: nullableString,
    },
  },
  PreferenceBatchResult: {
    type: 'object',
    required: ['changed', 'unchanged', 'rejected'],
    properties: {
      changed: { type: 'integer', minimum: 0 },
      unchanged: { type: 'integer', minimum: 0, description: 'items that were so already' },
      rejected: ref('RejectedItems'),
    },
  },
} as const;
