import { CHANNELS, ValidationError, canonicalLocale, createAjv, isKnownTimeZone, toFieldProblems, type FieldProblem } from '@commstrat/core';
import { GRANTABLE_SCOPES } from '@commstrat/config';

// The bodies of the /v1/admin routes: validated with these schemas and published in
// /openapi.json from them, so the document and the validation cannot drift apart.

/** A tenant id: it names the tenant in paths (receipts) and metrics, so it is kept plain. */
export const TENANT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

const tenantName = { type: 'string', minLength: 1, maxLength: 200 } as const;
const timeZone = { type: 'string', minLength: 1, maxLength: 100, description: 'an IANA time zone, e.g. Europe/Berlin' } as const;

export const keyCreateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scopes'],
  properties: {
    label: { type: 'string', maxLength: 200, default: '', description: "the operator's note of what the key is for" },
    scopes: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', enum: [...GRANTABLE_SCOPES] },
      description: '`operator` is never granted through the API',
    },
  },
} as const;

export const tenantPatchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: tenantName,
    time_zone: timeZone,
    default_locale: {
      type: ['string', 'null'],
      minLength: 2,
      maxLength: 35,
      description: "BCP 47, e.g. ru-RU: the locale of a message whose recipient names none; null: each template's default_locale",
    },
  },
} as const;

export const tenantCreateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name'],
  properties: {
    id: { type: 'string', pattern: TENANT_ID_PATTERN },
    name: tenantName,
    time_zone: { ...timeZone, default: 'UTC' },
  },
} as const;

export const rollbackSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['to_version'],
  properties: { to_version: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } },
} as const;

export const moveSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['from_version'],
  properties: {
    from_version: { type: 'integer', minimum: 1, maximum: 2_147_483_647, description: 'the version whose pinned messages move' },
    to_version: { type: 'integer', minimum: 1, maximum: 2_147_483_647, description: 'where they continue; default: the newest version' },
  },
} as const;

export const callbackSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callback_url'],
  properties: {
    callback_url: { type: ['string', 'null'], maxLength: 2048, pattern: '^https?://', description: 'an http(s) URL, or null to remove the default' },
  },
} as const;

const previewFields = {
  variables: { type: 'object', description: "the message's variables; default: the template's sample_variables" },
  locale: { type: 'string', minLength: 2, maxLength: 35, description: 'BCP 47, e.g. ru-RU: picks the variant as for a message (ru-RU, then ru, then the default)' },
  channel: { type: 'string', enum: [...CHANNELS], description: 'only this channel; default: every channel of the template' },
} as const;

/** POST /v1/admin/templates/{name}/preview: a stored template. */
export const templatePreviewSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { ...previewFields, version: { type: 'integer', minimum: 1, maximum: 2_147_483_647, description: 'default: the newest' } },
} as const;

/** POST /v1/admin/templates/preview: a template not saved (yet), e.g. a file being written. */
export const inlinePreviewSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['template'],
  properties: { ...previewFields, template: { type: 'object', description: 'a template document' } },
} as const;

const ajv = createAjv();
const validators = new Map<object, ReturnType<typeof ajv.compile>>();

/**
 * The body checked against `schema` (defaults filled in), its `time_zone`, if it has
 * one, against the IANA zones, and its `default_locale` as a canonical BCP 47 tag;
 * throws ValidationError naming every bad field.
 */
export function checkBody<T>(schema: object, body: unknown): T {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    validators.set(schema, validate);
  }
  if (!validate(body)) throw new ValidationError(toFieldProblems(validate.errors));
  const zone = (body as { time_zone?: unknown }).time_zone;
  if (typeof zone === 'string' && !isKnownTimeZone(zone)) {
    const problem: FieldProblem = { path: '/time_zone', message: `is not a known IANA time zone: ${zone}` };
    throw new ValidationError([problem]);
  }
  const locale = (body as { default_locale?: unknown }).default_locale;
  if (typeof locale === 'string' && canonicalLocale(locale) !== locale) {
    const canonical = canonicalLocale(locale);
    const message = canonical === undefined ? 'is not a BCP 47 language tag (e.g. "ru-RU", "en")' : `write it as "${canonical}", its canonical form`;
    throw new ValidationError([{ path: '/default_locale', message }]);
  }
  return body as T;
}

/**
 * A positive whole-number query parameter, or undefined when absent or bad; a bad one
 * is added to `problems`, so one answer names every bad parameter.
 */
export function positiveQuery(value: unknown, path: string, problems: FieldProblem[], max = 2_147_483_647): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && /^[1-9][0-9]{0,15}$/.test(value) && Number(value) <= max) return Number(value);
  problems.push({ path, message: `must be a whole number from 1 to ${max}` });
  return undefined;
}
