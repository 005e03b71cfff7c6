import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';
import {
  ACTIVE_STATES,
  ERROR_CODES,
  SMS_ENCODINGS,
  TERMINAL_STATES,
  batchEnvelopeSchema,
  documentedMessageRequestSchema,
  receiptBatchSchema,
} from '@commstrat/core';
import { adminPaths, adminSchemas, versionList } from './openapi-admin.ts';
import { consentPaths, consentResultSchemas, consentSchemas } from './openapi-consent.ts';
import { providerDefinitionSchema } from '@commstrat/providers';

const require = createRequire(import.meta.url);

const errorDetail = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', enum: Object.keys(ERROR_CODES) },
    message: { type: 'string' },
    problems: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path', 'message'],
        properties: { path: { type: 'string', description: 'JSON pointer' }, message: { type: 'string' } },
      },
    },
  },
} as const;

const errorBody = {
  type: 'object',
  required: ['error'],
  properties: {
    error: { $ref: '#/components/schemas/ErrorDetail' },
    request_id: { type: 'string' },
    rejected: { description: 'batch_rejected: the bad items', $ref: '#/components/schemas/RejectedItems' },
  },
} as const;

const STATUSES = [...ACTIVE_STATES, ...TERMINAL_STATES];

const acceptedItems = {
  type: 'array',
  items: {
    type: 'object',
    required: ['index', 'id', 'status'],
    properties: {
      index: { type: 'integer', minimum: 0 },
      id: { type: 'string' },
      status: { type: 'string', enum: STATUSES },
      duplicate: { type: 'boolean', const: true },
    },
  },
} as const;

const rejectedItems = {
  type: 'array',
  items: {
    type: 'object',
    required: ['index', 'error'],
    properties: { index: { type: 'integer', minimum: 0 }, error: { $ref: '#/components/schemas/ErrorDetail' } },
  },
} as const;

const batchResult = {
  type: 'object',
  required: ['batch_id', 'accepted', 'rejected'],
  properties: {
    batch_id: { type: 'string' },
    accepted: { $ref: '#/components/schemas/AcceptedItems' },
    rejected: { $ref: '#/components/schemas/RejectedItems' },
  },
} as const;

const dateTime = { type: 'string', format: 'date-time' } as const;

const messageView = {
  type: 'object',
  required: ['id', 'batch_id', 'status', 'priority', 'recipient', 'created_at', 'timeline'],
  properties: {
    id: { type: 'string' },
    batch_id: { type: 'string' },
    status: { type: 'string', enum: STATUSES },
    channel: { type: 'string' },
    strategy: { type: 'string', description: 'once routed: the strategy that routed it' },
    strategy_version: { type: 'integer', minimum: 1, description: 'once routed: the version of the strategy that routed it' },
    step: { type: 'integer', minimum: 0, description: 'once routed: the index of the strategy step (cascade) it is on' },
    provider: { type: 'string', description: 'the provider it was handed to' },
    provider_message_id: { type: ['string', 'null'], description: "that provider's id for it" },
    priority: { type: 'string' },
    category: { type: 'string', description: "the producer's category, e.g. marketing" },
    recipient: { type: 'object' },
    tags: { type: 'array', items: { type: 'string' } },
    idempotency_key: { type: 'string' },
    created_at: dateTime,
    send_at: dateTime,
    expires_at: dateTime,
    redrive_of: { type: 'string', description: 'set on a message an operator re-sent: the id of the finished message it re-sends' },
    redriven_as: { type: 'string', description: 'set on a finished message an operator re-sent: the id of the new message' },
    locale: { type: 'string', description: "set when it names a template: the locale asked for (the recipient's, else the tenant's default)" },
    templates: {
      type: 'array',
      description: 'the steps a template rendered at intake, each with the template version it is pinned to and the locale of the variant used',
      items: {
        type: 'object',
        required: ['step', 'channel', 'template', 'version', 'locale'],
        properties: {
          step: { type: 'integer', minimum: 0 },
          channel: { type: 'string' },
          template: { type: 'string' },
          version: { type: 'integer', minimum: 1 },
          locale: { type: 'string' },
        },
      },
    },
    sms: {
      type: 'object',
      description: 'set when the message may go as an SMS: GSM-7 or UCS-2, and the parts a provider bills for (160/70 in one part, 153/67 per part when longer)',
      required: ['encoding', 'parts', 'units'],
      properties: {
        encoding: { type: 'string', enum: SMS_ENCODINGS },
        parts: { type: 'integer', minimum: 0 },
        units: { type: 'integer', minimum: 0, description: 'septets (GSM-7) or UTF-16 code units (UCS-2)' },
      },
    },
    timeline: {
      type: 'array',
      items: {
        type: 'object',
        required: ['status', 'at'],
        properties: { status: { type: 'string', enum: STATUSES }, at: dateTime, step: { type: 'integer', minimum: 0 } },
      },
    },
  },
} as const;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Which codes answer with `status`, for its description. */
const codesOf = (status: number) =>
  Object.entries(ERROR_CODES)
    .filter(([, entry]) => entry.httpStatus === status)
    .map(([code]) => code)
    .join(', ');

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((status) => [String(status), { description: codesOf(status), content: { 'application/json': { schema: ref('Error') } } }]),
  );

/** Every /v1 operation may meet these: bad key, rate limit, a path that does not decode, a dependency down. */
const common = errors(400, 401, 429, 503);

/**
 * What 422 means for a body: the JSON Schema above, and the rules only the server can
 * check. Said here so a client (or a fuzzer) knows a schema-valid message may still be refused.
 */
const DOMAIN_RULES_422 =
  'validation_failed, invalid_phone_number, batch_rejected, input_not_storable. Besides the schema, the server refuses: a phone number that is not a real number, a strategy the tenant does not have (or no default for the channel), expires_at in the past, a ttl ending before send_at, a time_zone that is not an IANA zone, a body too large to journal.';

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
// The receipt format without its $id: inline in the document.
const { $id: _receiptSchemaId, ...receiptBody } = receiptBatchSchema;

const idParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string', minLength: 1 } });
const query = (name: string, schema: object) => ({ name, in: 'query', required: false, schema });

/**
 * The OpenAPI 3.1 document, built from the same JSON Schemas the API validates with,
 * so the document cannot drift from the validation.
 */
export function openApiDocument(): Record<string, unknown> {
  const { $id: _batchId, ...batchEnvelope } = batchEnvelopeSchema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'commstrat ingest API',
      version: '0.1.0',
      description: 'Send notifications, follow their status, cancel them. Authenticate with `Authorization: Bearer <API key>`.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } },
      schemas: {
        MessageRequest: documentedMessageRequestSchema(),
        BatchRequest: {
          ...batchEnvelope,
          properties: {
            ...batchEnvelope.properties,
            messages: { ...batchEnvelope.properties.messages, items: ref('MessageRequest') },
          },
        },
        BatchResult: batchResult,
        AcceptedItems: acceptedItems,
        RejectedItems: rejectedItems,
        Message: messageView,
        ErrorDetail: errorDetail,
        Error: errorBody,
        ...adminSchemas,
        ...providerAdminSchemas,
        ...consentSchemas,
        ...consentResultSchemas,
      },
    },
    security: [{ apiKey: [] }],
    paths: {
      '/v1/messages': {
        post: {
          summary: 'Send one message',
          requestBody: { required: true, content: { 'application/json': { schema: ref('MessageRequest') } } },
          responses: {
            '202': json(
              { type: 'object', required: ['id', 'status'], properties: { id: { type: 'string' }, status: { type: 'string', enum: ['queued', 'scheduled'] } } },
              'journaled and queued (or scheduled)',
            ),
            ...common,
            ...errors(413, 415),
            '422': { description: DOMAIN_RULES_422, content: { 'application/json': { schema: ref('Error') } } },
          },
        },
        get: {
          summary: 'List messages, newest first',
          parameters: [
            query('status', { type: 'string', enum: STATUSES }),
            query('tag', { type: 'string' }),
            query('from', dateTime),
            query('to', dateTime),
            query('batch_id', { type: 'string' }),
            query('after', { type: 'string' }),
            query('limit', { type: 'integer', minimum: 1, maximum: 1000, default: 100 }),
          ],
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['messages', 'next_after'],
                properties: { messages: { type: 'array', items: ref('Message') }, next_after: { type: ['string', 'null'] } },
              },
              'one page; pass next_after as after for the next',
            ),
            ...common,
            ...errors(422),
          },
        },
      },
      '/v1/messages/batch': {
        post: {
          summary: 'Send a batch of messages',
          requestBody: { required: true, content: { 'application/json': { schema: ref('BatchRequest') } } },
          responses: {
            '202': json(ref('BatchResult'), 'every item accepted'),
            '207': json(ref('BatchResult'), 'some items accepted; `rejected` lists the others by index, code and path'),
            ...common,
            ...errors(413, 415),
            '422': {
              description: `no item accepted (a BatchResult, the batch journaled) or the envelope or an atomic batch refused (an Error). ${DOMAIN_RULES_422}`,
              content: { 'application/json': { schema: { oneOf: [ref('BatchResult'), ref('Error')] } } },
            },
          },
        },
      },
      '/v1/messages/{id}': {
        get: { summary: 'A message with its status timeline', parameters: [idParam('id')], responses: { '200': json(ref('Message'), 'the message'), ...common, ...errors(404) } },
        delete: {
          summary: 'Cancel a message not yet sent',
          parameters: [idParam('id')],
          responses: {
            '200': json({ type: 'object', required: ['id', 'status'], properties: { id: { type: 'string' }, status: { const: 'cancelled' } } }, 'cancelled'),
            ...common,
            ...errors(404, 409),
          },
        },
      },
      '/v1/providers/{tenant}/{provider}/receipts': {
        post: {
          summary: "Delivery receipts from a provider, signed with the provider's receipt secret (no API key)",
          description:
            "The generic format below, or the provider's own reports when its definition maps them (receipts: section; Twilio form callbacks, Sinch recipient reports; docs/providers.md).",
          security: [],
          parameters: [idParam('tenant'), idParam('provider'), {
            name: 'X-Commstrat-Signature',
            in: 'header',
            required: false,
            description: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">; required unless the definition authenticates otherwise',
            schema: { type: 'string' },
          }, {
            name: 'X-Twilio-Signature',
            in: 'header',
            required: false,
            description: "for a twilio-sms provider: Twilio's base64 HMAC-SHA1 of the status callback URL and the sorted fields",
            schema: { type: 'string' },
          }],
          requestBody: { required: true, content: { 'application/json': { schema: receiptBody } } },
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['received', 'applied', 'duplicate', 'late', 'unknown'],
                // ignored: intermediate reports in a provider's own format (mapped providers only).
                properties: Object.fromEntries(['received', 'applied', 'duplicate', 'late', 'unknown', 'ignored'].map((name) => [name, { type: 'integer', minimum: 0 }])),
              },
              'what came of each receipt',
            ),
            ...errors(400, 401, 413, 422, 503),
          },
        },
      },
      '/v1/batches/{id}': {
        get: {
          summary: 'A batch with its messages counted by status',
          parameters: [idParam('id')],
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['id', 'source', 'received_at', 'accepted', 'rejected', 'by_status'],
                properties: {
                  id: { type: 'string' },
                  source: { type: 'string', enum: ['rest', 'kafka', 'redrive', 'inbound'] },
                  received_at: dateTime,
                  accepted: { type: 'integer', minimum: 0 },
                  rejected: { type: 'integer', minimum: 0 },
                  by_status: { type: 'object', additionalProperties: { type: 'integer', minimum: 1 } },
                },
              },
              'the batch',
            ),
            ...common,
            ...errors(404),
          },
        },
      },
      ...adminPaths(errors),
      ...providerAdminPaths,
      ...consentPaths(errors),
    },
  };
}

// --- Admin: providers and provider definitions (admin-provider-routes.ts) ---

const { $id: _definitionSchemaId, ...providerDefinitionBody } = providerDefinitionSchema;
// The body of PUT /v1/admin/provider-definitions/{name}: the path names it, so `name`
// may be left out (when given, it must equal the path's).
const namedByPath = {
  ...providerDefinitionBody,
  required: (providerDefinitionBody.required as readonly string[]).filter((field) => field !== 'name'),
};
const limit = (description: string, minimum: number) => ({ type: 'integer', minimum, description });
const providerFields = {
  kind: { type: 'string', description: 'http-sms, smtp, webhook, a shipped definition (infobip-sms) or a stored definition of the tenant' },
  endpoint: { type: 'string', description: 'base URL (smtp:// for smtp)' },
  rate_per_second: limit('most messages per second across all dispatcher replicas', 1),
  concurrency: limit('most requests in flight per dispatcher replica', 1),
  max_batch_size: limit("most messages per request; at most the definition's max_batch_size", 1),
  linger_ms: limit('how long a part-full batch waits, ms', 0),
  timeout_ms: limit('time limit of one request, ms', 1),
  enabled: { type: 'boolean' },
  prices: { type: 'object', additionalProperties: { type: 'number', minimum: 0 }, description: 'price per message by ISO country code, "*" for any other' },
} as const;

const providerAdminSchemas = {
  Provider: {
    type: 'object',
    required: ['id', 'kind', 'definition', 'endpoint', 'credentials', 'rate_per_second', 'concurrency', 'max_batch_size', 'linger_ms', 'timeout_ms', 'enabled', 'prices'],
    properties: {
      id: { type: 'string' },
      ...providerFields,
      definition: {
        type: ['object', 'null'],
        description: 'null for a built-in adapter kind',
        required: ['source', 'name', 'version'],
        properties: {
          source: { type: 'string', enum: ['shipped', 'stored', 'unknown'] },
          name: { type: 'string' },
          version: { type: ['integer', 'null'], description: 'the stored version it is pinned to; null when shipped' },
        },
      },
      credentials: { type: 'object', additionalProperties: { type: 'string' }, description: 'masked: "****", with the last 4 characters of a value of 16 or more' },
    },
  },
  ProviderChange: {
    type: 'object',
    additionalProperties: false,
    description: 'Create: kind (or definition) and endpoint are needed, limits have defaults. Update: a field left out keeps its value.',
    properties: {
      id: { type: 'string', description: 'must equal the id in the path (required by validate)' },
      ...providerFields,
      definition_version: { type: 'integer', minimum: 1, description: 'pin a stored definition (kind) to this version; default its newest when kind is given' },
      definition: { ...ref('ProviderDefinition'), description: 'inline: saved as a new version of its name (when changed) and pinned' },
      credentials: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] }, description: 'replaces all; a value equal to its mask keeps the stored one; left out: kept' },
    },
  },
  ProviderDefinition: providerDefinitionBody,
  ProviderDefinitionNamedByPath: namedByPath,
  StoredProviderDefinition: {
    type: 'object',
    required: ['name', 'version', 'created_by', 'created_at', 'definition'],
    properties: {
      name: { type: 'string' },
      version: { type: 'integer', minimum: 1 },
      created_by: { type: 'string' },
      created_at: dateTime,
      definition: ref('ProviderDefinition'),
    },
  },
} as const;

/** Admin routes answer 403 to a key without the admin scope, and 422 naming every bad field. */
const adminErrors = { ...common, ...errors(403) };
const adminWrite = { ...adminErrors, ...errors(404, 413, 415), '422': { description: 'validation_failed: `problems` names every bad field; nothing saved', content: { 'application/json': { schema: ref('Error') } } } };

const providerAdminPaths = {
  '/v1/admin/providers': {
    get: { summary: "The tenant's providers, credentials masked", responses: { '200': json({ type: 'object', required: ['providers'], properties: { providers: { type: 'array', items: ref('Provider') } } }, 'by id'), ...adminErrors } },
  },
  // Before /v1/admin/providers/{id}: the method guard takes the first path that matches.
  '/v1/admin/providers/validate': {
    post: {
      summary: 'Check a provider (with its id) as PUT would, saving nothing',
      requestBody: { required: true, content: { 'application/json': { schema: ref('ProviderChange') } } },
      responses: {
        '200': json(
          {
            type: 'object',
            required: ['valid', 'created', 'changed', 'provider'],
            properties: {
              valid: { const: true },
              created: { type: 'boolean' },
              changed: { type: 'boolean' },
              provider: ref('Provider'),
              definition: { type: 'object', properties: { name: { type: 'string' }, version: { type: 'integer' }, new_version: { type: 'boolean' } } },
            },
          },
          'it would be saved so',
        ),
        ...adminWrite,
      },
    },
  },
  '/v1/admin/providers/{id}': {
    get: { summary: 'One provider, credentials masked', parameters: [idParam('id')], responses: { '200': json(ref('Provider'), 'the provider'), ...adminErrors, ...errors(404) } },
    put: {
      summary: 'Create or change a provider; audited; reaches every replica within about a second',
      parameters: [idParam('id')],
      requestBody: { required: true, content: { 'application/json': { schema: ref('ProviderChange') } } },
      responses: { '200': json(ref('Provider'), 'changed (or already so)'), '201': json(ref('Provider'), 'created'), ...adminWrite },
    },
  },
  '/v1/admin/provider-definitions': {
    get: { summary: 'The newest version of each stored definition', responses: { '200': json({ type: 'object', required: ['definitions'], properties: { definitions: { type: 'array', items: ref('StoredProviderDefinition') } } }, 'by name'), ...adminErrors } },
  },
  '/v1/admin/provider-definitions/{name}/versions': {
    get: {
      summary: 'Every version of a stored definition, newest first, without the definitions',
      parameters: [idParam('name')],
      responses: {
        '200': json(versionList(['created_by'], { created_by: { type: 'string' } }), 'newest first'),
        ...adminErrors,
        ...errors(404),
      },
    },
  },
  '/v1/admin/provider-definitions/{name}': {
    get: {
      summary: 'A stored definition, its newest version or ?version=N',
      parameters: [idParam('name'), query('version', { type: 'integer', minimum: 1 })],
      responses: { '200': json(ref('StoredProviderDefinition'), 'that version'), ...adminErrors, ...errors(404, 422) },
    },
    put: {
      summary: 'Save a definition as the next version of its name; audited',
      parameters: [idParam('name')],
      requestBody: { required: true, content: { 'application/json': { schema: ref('ProviderDefinitionNamedByPath') } } },
      responses: { '200': json(ref('StoredProviderDefinition'), 'the same as the newest version: nothing saved'), '201': json(ref('StoredProviderDefinition'), 'a new version'), ...adminWrite },
    },
  },
} as const;

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>commstrat API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script>
</body></html>`;

/** `/openapi.json` and a human-readable page at `/docs`, served without authentication. */
export function openApiRouter(): Router {
  const router = express.Router();
  const document = openApiDocument();
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(DOCS_PAGE);
  });
  router.use('/docs/assets', express.static(dirname(require.resolve('swagger-ui-dist/package.json'))));
  return router;
}
