import { ValidationError, createAjv, isKnownTimeZone, toFieldProblems, type FieldProblem } from '@commstrat/core';
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
  properties: { name: tenantName, time_zone: timeZone },
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

const ajv = createAjv();
const validators = new Map<object, ReturnType<typeof ajv.compile>>();

/**
 * The body checked against `schema` (defaults filled in), and its `time_zone`, if it
 * has one, against the IANA zones; throws ValidationError naming every bad field.
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
