import { strategySchema } from '@commstrat/core';
import { templateSchema } from '@commstrat/templates';
import {
  callbackSettingsSchema,
  inlinePreviewSchema,
  keyCreateSchema,
  moveSchema,
  rollbackSchema,
  templatePreviewSchema,
  tenantCreateSchema,
  tenantPatchSchema,
} from './admin-schemas.ts';

// The /v1/admin part of /openapi.json: the request bodies are the schemas the routes
// validate with (admin-schemas.ts, core's strategySchema).

type Errors = (...statuses: number[]) => Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const body = (schema: object) => ({ required: true, content: { 'application/json': { schema } } });
const pathParam = (name: string, description?: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', minLength: 1 },
  ...(description === undefined ? {} : { description }),
});
const query = (name: string, schema: object, description?: string, required = false) => ({
  name,
  in: 'query',
  required,
  schema,
  ...(description === undefined ? {} : { description }),
});
const dateTime = { type: 'string', format: 'date-time' } as const;
const version = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const;
const limit = { type: 'integer', minimum: 1, maximum: 1000, default: 100 } as const;
const { $id: _strategyId, ...strategyBody } = strategySchema;
const { $id: _templateId, ...templateBody } = templateSchema;

const apiKey = {
  type: 'object',
  required: ['id', 'label', 'scopes', 'created_at', 'revoked_at'],
  properties: {
    id: { type: 'string' },
    label: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string', enum: ['send', 'read', 'admin', 'operator', 'pii'] } },
    created_at: dateTime,
    revoked_at: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const newApiKey = {
  ...apiKey,
  required: [...apiKey.required, 'key'],
  properties: { ...apiKey.properties, key: { type: 'string', description: 'the key itself: shown this once, stored only as its SHA-256 digest' } },
} as const;

const tenant = {
  type: 'object',
  required: ['id', 'name', 'time_zone', 'default_locale', 'created_at'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    time_zone: { type: 'string' },
    default_locale: { type: ['string', 'null'], description: "the locale of a message whose recipient names none; null: each template's default" },
    created_at: dateTime,
  },
} as const;

const storedStrategy = {
  type: 'object',
  required: ['name', 'version', 'channel', 'default_for_channel', 'created_at', 'definition'],
  properties: {
    name: { type: 'string' },
    version,
    channel: { type: 'string' },
    default_for_channel: { type: 'boolean' },
    created_at: dateTime,
    definition: { type: 'object', description: 'the strategy document, defaults filled in' },
  },
} as const;

const storedTemplate = {
  type: 'object',
  required: ['name', 'version', 'created_by', 'created_at', 'definition'],
  properties: {
    name: { type: 'string' },
    version,
    created_by: { type: 'string', description: '`api-key:<key id>`, or `system`' },
    created_at: dateTime,
    definition: { type: 'object', description: 'the template document' },
  },
} as const;

const templatePreview = {
  type: 'object',
  required: ['template', 'renders'],
  properties: {
    template: { type: 'string' },
    version: { ...version, description: 'absent for a template not saved' },
    locale: { type: 'string', description: 'the locale asked for' },
    renders: {
      type: 'array',
      items: {
        type: 'object',
        required: ['channel', 'locale'],
        properties: {
          channel: { type: 'string' },
          locale: { type: 'string', description: 'the variant used: the first of the fallback chain the template has, else its default' },
          subject: { type: 'string' },
          text: { type: 'string' },
          html: { type: 'string' },
          sms: {
            type: 'object',
            required: ['encoding', 'parts', 'units', 'characters'],
            properties: {
              encoding: { type: 'string', enum: ['gsm-7', 'ucs-2'] },
              parts: { type: 'integer', minimum: 0, description: 'the parts (segments) a provider bills' },
              units: { type: 'integer', minimum: 0, description: 'septets (GSM-7) or UTF-16 code units (UCS-2)' },
              characters: { type: 'integer', minimum: 0 },
            },
          },
        },
      },
    },
  },
} as const;

const stopListEntry = {
  type: 'object',
  required: ['reason', 'created_by', 'created_at'],
  properties: {
    phone: { type: 'string' },
    email: { type: 'string' },
    reason: { type: 'string' },
    created_by: { type: 'string' },
    created_at: dateTime,
  },
} as const;

const stopListBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    phone: { type: 'string', description: 'E.164, e.g. +4915112345678' },
    email: { type: 'string' },
    reason: { type: 'string', maxLength: 500 },
  },
  description: 'exactly one of phone and email',
} as const;

const auditEntry = {
  type: 'object',
  required: ['id', 'actor', 'action', 'details', 'at'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    actor: { type: 'string', description: '`api-key:<key id>`, or `system`/`cli` for changes outside the API' },
    action: { type: 'string', description: 'e.g. api_key.create, api_key.revoke, tenant.update, strategy.save, strategy.rollback, strategy.move, template.save, template.rollback, stop_list.add' },
    details: { type: 'object', description: '`before` and `after` (null where there was none) and what else the action records' },
    at: dateTime,
  },
} as const;

/** Schemas the admin paths refer to, for components.schemas. */
export const adminSchemas = {
  ApiKey: apiKey,
  NewApiKey: newApiKey,
  Tenant: tenant,
  StoredStrategy: storedStrategy,
  StoredTemplate: storedTemplate,
  TemplatePreview: templatePreview,
  StopListEntry: stopListEntry,
  AuditEntry: auditEntry,
  CallbackSettings: {
    type: 'object',
    required: ['callback_url', 'webhook_secret', 'signing_secret'],
    properties: {
      callback_url: { type: ['string', 'null'], description: 'the default callback URL; null: only messages with their own URL are called back' },
      webhook_secret: { type: 'string', description: 'the Standard Webhooks secret (`whsec_<base64>`) that verifies webhook-signature, e.g. `new Webhook(webhook_secret).verify(body, headers)` (docs/security.md)' },
      signing_secret: { type: 'string', description: 'deprecated: the HMAC-SHA256 key of the X-Commstrat-Signature header, sent for one more release (docs/api.md#verifying-a-callback)' },
    },
  },
} as const;

const SCOPE_403 = 'forbidden: the key lacks the `admin` scope';
const OPERATOR_403 = 'forbidden: the key lacks the `operator` scope';

/**
 * The /v1/admin operations. `errors` builds the error answers as the rest of the
 * document does. Every admin operation may answer 403 (a key without the scope, checked
 * before the body is read) besides the common 400, 401, 429 and 503.
 */
export function adminPaths(errors: Errors): Record<string, unknown> {
  const common = errors(400, 401, 403, 429, 503);
  const writes = { ...common, ...errors(413, 415, 422) };
  const op = (summary: string, responses: object, extra: object = {}, forbidden = SCOPE_403) => ({
    summary,
    tags: ['admin'],
    ...extra,
    responses: { ...responses, '403': json(ref('Error'), forbidden) },
  });
  return {
    '/v1/admin/keys': {
      post: op('Create an API key of this tenant (send, read, admin, pii); the key is answered once', {
        '201': json(ref('NewApiKey'), 'created'),
        ...writes,
      }, { requestBody: body(keyCreateSchema) }),
      get: op("List this tenant's API keys, revoked ones included (never a key or its digest)", {
        '200': json({ type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: ref('ApiKey') } } }, 'the keys'),
        ...common,
      }),
    },
    '/v1/admin/keys/{id}': {
      delete: op('Revoke an API key: every replica refuses it within about a second', {
        '200': json(ref('ApiKey'), 'revoked (or already revoked)'),
        ...common,
        ...errors(404, 409),
      }, { parameters: [pathParam('id')], description: "409 conflict: it is the tenant's last admin key" }),
    },
    '/v1/admin/tenant': {
      get: op("This key's tenant", { '200': json(ref('Tenant'), 'the tenant'), ...common, ...errors(404) }),
      patch: op("Change this key's tenant's name, time zone or default locale", {
        '200': json(ref('Tenant'), 'the tenant as it now is'),
        ...writes,
      }, { requestBody: body(tenantPatchSchema), description: '422 names /time_zone when it is not an IANA zone, /default_locale when it is not a canonical BCP 47 tag' }),
    },
    '/v1/admin/tenants': {
      post: op('Create a tenant with its first admin key (operator keys only)', {
        '201': json({ ...tenant, required: [...tenant.required, 'admin_key'], properties: { ...tenant.properties, admin_key: ref('NewApiKey') } }, 'created'),
        ...writes,
        ...errors(409),
      }, { requestBody: body(tenantCreateSchema) }, OPERATOR_403),
      get: op('List every tenant by id (operator keys only)', {
        '200': json(
          { type: 'object', required: ['tenants', 'next_after'], properties: { tenants: { type: 'array', items: ref('Tenant') }, next_after: { type: ['string', 'null'] } } },
          'one page; pass next_after as after for the next',
        ),
        ...common,
        ...errors(422),
      }, { parameters: [query('limit', limit), query('after', { type: 'string' })] }, OPERATOR_403),
    },
    '/v1/admin/strategies': {
      post: op('Save a new version of a strategy', { '201': json(ref('StoredStrategy'), 'the saved version'), ...writes }, {
        requestBody: body(strategyBody),
        parameters: [query('default_for_channel', { type: 'string', enum: ['true', 'false'] })],
      }),
      get: op('The newest version of each strategy', {
        '200': json({ type: 'object', required: ['strategies'], properties: { strategies: { type: 'array', items: ref('StoredStrategy') } } }, 'the strategies'),
        ...common,
      }),
    },
    '/v1/admin/strategies/validate': {
      post: op('Check a strategy as a save would, saving nothing', {
        '200': json({ type: 'object', required: ['valid', 'strategy'], properties: { valid: { const: true }, strategy: { type: 'object' } } }, 'valid'),
        ...writes,
      }, { requestBody: body(strategyBody) }),
    },
    '/v1/admin/strategies/{name}': {
      get: op('A version of a strategy (default: the newest)', { '200': json(ref('StoredStrategy'), 'that version'), ...common, ...errors(404, 422) }, {
        parameters: [pathParam('name'), query('version', version)],
      }),
    },
    '/v1/admin/strategies/{name}/versions': {
      get: op('Every version of a strategy, newest first, without the definitions', {
        '200': json(
          versionList(['channel', 'default_for_channel'], { channel: { type: 'string' }, default_for_channel: { type: 'boolean' } }),
          'newest first; default_for_channel is true only on the newest version of a default',
        ),
        ...common,
        ...errors(404),
      }, { parameters: [pathParam('name')] }),
    },
    '/v1/admin/strategies/{name}/diff': {
      get: op('What changed between two versions of a strategy', {
        '200': json(
          {
            type: 'object',
            required: ['name', 'from', 'to', 'changes'],
            properties: {
              name: { type: 'string' },
              from: version,
              to: version,
              changes: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['path'],
                  properties: {
                    path: { type: 'string', description: 'JSON pointer into the definition' },
                    before: { description: 'absent where the path was added' },
                    after: { description: 'absent where the path was removed' },
                  },
                },
              },
            },
          },
          'the changes, each at the deepest place the versions differ',
        ),
        ...common,
        ...errors(404, 422),
      }, { parameters: [pathParam('name'), query('from', version, 'the older version', true), query('to', version, 'default: the newest')] }),
    },
    '/v1/admin/strategies/{name}/rollback': {
      post: op('Save an old version again as the newest (versions are never rewritten)', {
        '201': json(ref('StoredStrategy'), 'the new version, its definition that of to_version'),
        ...writes,
        ...errors(404),
      }, { parameters: [pathParam('name')], requestBody: body(rollbackSchema) }),
    },
    '/v1/admin/strategies/{name}/move': {
      post: op('Move messages pinned to one version to another: they continue with it from their next routing decision', {
        '200': json(
          { type: 'object', required: ['name', 'from_version', 'to_version'], properties: { name: { type: 'string' }, from_version: version, to_version: version } },
          'moved; every replica routes by to_version within about a second',
        ),
        ...writes,
        ...errors(404),
      }, {
        parameters: [pathParam('name')],
        requestBody: body(moveSchema),
        description: '422 names /to_version for a move onto itself, onto another channel or fewer steps, into a cycle or a chain of more than 8 moves',
      }),
    },
    '/v1/admin/templates': {
      get: op('The newest version of each template', {
        '200': json({ type: 'object', required: ['templates'], properties: { templates: { type: 'array', items: ref('StoredTemplate') } } }, 'the templates'),
        ...common,
      }),
    },
    '/v1/admin/templates/validate': {
      post: op('Check a template as a save would (its Liquid, variables schema, MJML, a render of its sample variables), saving nothing', {
        '200': json({ type: 'object', required: ['valid', 'template'], properties: { valid: { const: true }, template: { type: 'object' } } }, 'valid'),
        ...writes,
      }, { requestBody: body(templateBody), description: '422 names each problem by its path in the template, e.g. /channels/sms/ru/text' }),
    },
    '/v1/admin/templates/preview': {
      post: op('Render a template that is not saved with sample variables; for SMS, its encoding and parts', {
        '200': json(ref('TemplatePreview'), 'what each channel renders'),
        ...writes,
      }, { requestBody: body(inlinePreviewSchema), description: '422 template_render_failed when a render fails; validation_failed names /template/... or /variables/...' }),
    },
    '/v1/admin/templates/{name}': {
      get: op('A version of a template (default: the newest)', { '200': json(ref('StoredTemplate'), 'that version'), ...common, ...errors(404, 422) }, {
        parameters: [pathParam('name'), query('version', version)],
      }),
      put: op('Save a template as its next version (an unchanged one saves nothing)', {
        '201': json(ref('StoredTemplate'), 'saved as a new version'),
        '200': json(ref('StoredTemplate'), 'the same as the newest version: nothing saved'),
        ...writes,
      }, { parameters: [pathParam('name')], requestBody: body(templateBody), description: 'checked as validate checks; the name in the body, if any, must be the path\'s' }),
    },
    '/v1/admin/templates/{name}/versions': {
      get: op('Every version of a template, newest first, without the documents', {
        '200': json(versionList(['created_by'], { created_by: { type: 'string' } }), 'newest first'),
        ...common,
        ...errors(404),
      }, { parameters: [pathParam('name')] }),
    },
    '/v1/admin/templates/{name}/diff': {
      get: op('What changed between two versions of a template', {
        '200': json(
          { type: 'object', required: ['name', 'from', 'to', 'changes'], properties: { name: { type: 'string' }, from: version, to: version, changes: { type: 'array', items: { type: 'object' } } } },
          'the changes, each at the deepest place the versions differ (JSON pointer, before, after)',
        ),
        ...common,
        ...errors(404, 422),
      }, { parameters: [pathParam('name'), query('from', version, 'the older version', true), query('to', version, 'default: the newest')] }),
    },
    '/v1/admin/templates/{name}/preview': {
      post: op('Render a stored template with sample variables, as a message in a locale would get it; for SMS, its encoding and parts', {
        '200': json(ref('TemplatePreview'), 'what each channel renders'),
        ...writes,
        ...errors(404),
      }, { parameters: [pathParam('name')], requestBody: body(templatePreviewSchema) }),
    },
    '/v1/admin/templates/{name}/rollback': {
      post: op('Save an old version of a template again as the newest (versions are never rewritten)', {
        '201': json(ref('StoredTemplate'), 'the new version, its document that of to_version'),
        ...writes,
        ...errors(404),
      }, {
        parameters: [pathParam('name')],
        requestBody: body(rollbackSchema),
        description: 'checked and rendered with its sample variables as a save is; audited as template.rollback',
      }),
    },
    '/v1/admin/stop-list': {
      post: op('Put an address on the stop list', {
        '201': json(ref('StopListEntry'), 'listed'),
        '200': json(ref('StopListEntry'), 'listed already'),
        ...writes,
      }, { requestBody: body(stopListBody) }),
      get: op('One page of the stop list, by kind then address', {
        '200': json(
          { type: 'object', required: ['entries', 'next_after'], properties: { entries: { type: 'array', items: ref('StopListEntry') }, next_after: { type: ['string', 'null'] } } },
          'one page; pass next_after as after for the next',
        ),
        ...common,
        ...errors(422),
      }, { parameters: [query('limit', limit), query('after', { type: 'string' })] }),
    },
    '/v1/admin/stop-list/{kind}/{address}': {
      delete: op('Take an address off the stop list', { '204': { description: 'removed' }, ...common, ...errors(404, 422) }, {
        parameters: [{ ...pathParam('kind'), schema: { type: 'string', enum: ['phone', 'email'] } }, pathParam('address', 'URL-encoded: %2B4915…')],
      }),
    },
    '/v1/admin/callbacks': {
      get: op("This tenant's default status-callback URL and signing secret (created on first use)", {
        '200': json(ref('CallbackSettings'), 'the settings'),
        ...common,
        ...errors(404),
      }),
      put: op('Set or remove the default status-callback URL', {
        '200': json(ref('CallbackSettings'), 'the settings as they now are'),
        ...writes,
        ...errors(404),
      }, { requestBody: body(callbackSettingsSchema) }),
    },
    '/v1/admin/callbacks/rotate-secret': {
      post: op('Replace the signing secret of status callbacks', {
        '200': json(ref('CallbackSettings'), 'the settings with the new secret'),
        ...common,
        ...errors(404),
      }),
    },
    '/v1/admin/audit': {
      get: op("This tenant's audit log, newest first", {
        '200': json(
          { type: 'object', required: ['entries', 'next_before_id'], properties: { entries: { type: 'array', items: ref('AuditEntry') }, next_before_id: { type: ['integer', 'null'] } } },
          'one page; pass next_before_id as before_id for the next',
        ),
        ...common,
        ...errors(422),
      }, { parameters: [query('limit', limit), query('before_id', { type: 'integer', minimum: 1 })] }),
    },
  };
}

/**
 * The answer of GET …/{name}/versions: the name and its versions, newest first, each with
 * its number, time and `fields` (without the documents).
 */
export function versionList(required: readonly string[], fields: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'object',
    required: ['name', 'versions'],
    properties: {
      name: { type: 'string' },
      versions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['version', ...required, 'created_at'],
          properties: { version, ...fields, created_at: dateTime },
        },
      },
    },
  };
}
