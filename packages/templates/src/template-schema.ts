import { CHANNELS, STRATEGY_NAME_PATTERN, type Channel } from '@commstrat/core';
import { SOURCE_LIMITS } from './limits.ts';

/**
 * A message template: what a message says on each channel, in each locale, written in
 * Liquid over variables its JSON Schema declares. Stored versioned per tenant
 * (packages/config); a message names it by `content.template_id`, or a strategy step does.
 */
export interface Template {
  readonly name: string;
  readonly description?: string;
  /** The variant used when no locale of the message's fallback chain has one, e.g. `en`. */
  readonly default_locale: string;
  /** A JSON Schema of the `variables` object a message must send. */
  readonly variables: Readonly<Record<string, unknown>>;
  /** Variables the preview renders with when given none, and that a save renders once. */
  readonly sample_variables?: Readonly<Record<string, unknown>>;
  /** Liquid partials, by name, for `{% render "name" %}` / `{% include "name" %}`: the only files a template can reach. */
  readonly partials?: Readonly<Record<string, string>>;
  /** Per channel, per locale (a BCP 47 tag such as `ru` or `ru-RU`). */
  readonly channels: Readonly<Partial<Record<Channel, Readonly<Record<string, TemplateVariant>>>>>;
}

/** What one channel says in one locale; each field is Liquid. */
export interface TemplateVariant {
  /** E-mail subject, push title. */
  readonly subject?: string;
  readonly text?: string;
  /** E-mail only: the HTML body; output is HTML-escaped unless `| raw`. */
  readonly html?: string;
  /** E-mail only, instead of `html`: MJML, compiled to HTML once per template version. */
  readonly mjml?: string;
}

/** The fields a variant may render, in the order they are rendered. */
export const VARIANT_FIELDS = ['subject', 'text', 'html', 'mjml'] as const;
export type VariantField = (typeof VARIANT_FIELDS)[number];

const variant = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    subject: { type: 'string', minLength: 1, maxLength: SOURCE_LIMITS.subject },
    text: { type: 'string', minLength: 1, maxLength: SOURCE_LIMITS.text },
    html: { type: 'string', minLength: 1, maxLength: SOURCE_LIMITS.html },
    mjml: { type: 'string', minLength: 1, maxLength: SOURCE_LIMITS.mjml },
  },
} as const;

const variantsByLocale = {
  type: 'object',
  minProperties: 1,
  maxProperties: 100,
  propertyNames: { minLength: 2, maxLength: 35 },
  additionalProperties: variant,
  description: 'by BCP 47 locale, e.g. "en", "ru", "ru-RU"',
} as const;

/**
 * The JSON Schema of a template document: validation here, and the admin API's OpenAPI.
 * Field names are public API: extend, never rename. What a schema cannot say (canonical
 * locales, a default variant per channel, the fields each channel takes, Liquid that
 * parses, variables the schema declares) is checked by checkTemplate.
 */
export const templateSchema = {
  $id: 'https://commstrat.dev/schemas/template.json',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'default_locale', 'variables', 'channels'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100, pattern: STRATEGY_NAME_PATTERN },
    description: { type: 'string', maxLength: 1000 },
    default_locale: { type: 'string', minLength: 2, maxLength: 35, description: 'BCP 47, e.g. "en"' },
    variables: { type: 'object', description: 'a JSON Schema of the variables object (type: object)' },
    sample_variables: { type: 'object', description: 'what the preview renders with when given no variables' },
    partials: {
      type: 'object',
      maxProperties: 20,
      propertyNames: { pattern: STRATEGY_NAME_PATTERN, maxLength: 100 },
      additionalProperties: { type: 'string', maxLength: SOURCE_LIMITS.partial },
    },
    channels: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: Object.fromEntries(CHANNELS.map((channel) => [channel, variantsByLocale])),
    },
  },
} as const;
