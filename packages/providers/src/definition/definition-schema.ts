import {
  CHANNELS,
  ValidationError,
  createAjv,
  toFieldProblems,
  type Channel,
  type FieldProblem,
} from '@commstrat/core';
import { parse as parseYaml } from 'yaml';
import { parseJsonPath } from './json-path.ts';
import { receiptMappingProblems, receiptMappingSchema, type ReceiptMapping } from './receipt-schema.ts';

/** What a classified provider error means for the messages of the request. */
export const ERROR_CLASSES = ['retryable', 'rate_limited', 'provider_down', 'permanent'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

const statusMatch = {
  oneOf: [
    { type: 'integer', minimum: 100, maximum: 599 },
    {
      type: 'array',
      items: { type: 'integer', minimum: 100, maximum: 599 },
      minItems: 2,
      maxItems: 2,
      description: '[lowest, highest]',
    },
  ],
} as const;
const jsonPath = { type: 'string', pattern: '^\\$', maxLength: 500 } as const;

/**
 * A declarative HTTP provider: how messages become one request, how the answer maps
 * back per message, and how errors are classified. See docs/providers.md.
 */
export const providerDefinitionSchema = {
  $id: 'https://commstrat.dev/schemas/provider-definition.json',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'channel', 'follows', 'send', 'response', 'errors'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,62}$' },
    channel: { type: 'string', enum: CHANNELS },
    follows: {
      type: 'string',
      minLength: 1,
      description: 'the API version and documentation page this follows',
    },
    auth: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: ['header', 'query', 'basic'] },
        name: { type: 'string', minLength: 1, description: 'header or query parameter name' },
        value: { type: 'string', description: 'template, e.g. "App {{ credentials.api_key }}"' },
        username: { type: 'string' },
        password: { type: 'string' },
      },
    },
    send: {
      type: 'object',
      additionalProperties: false,
      required: ['method', 'path', 'max_batch_size', 'body'],
      properties: {
        method: { enum: ['POST', 'PUT'] },
        path: { type: 'string', pattern: '^/' },
        max_batch_size: { type: 'integer', minimum: 1, maximum: 10000 },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        body: { description: 'JSON template; context: messages, credentials' },
        encoding: {
          enum: ['json', 'form'],
          description: 'json (default) or application/x-www-form-urlencoded; in a form an array is sent comma-separated',
        },
      },
    },
    response: {
      type: 'object',
      additionalProperties: false,
      required: ['items', 'provider_message_id', 'accepted'],
      properties: {
        items: jsonPath,
        message_ref: {
          ...jsonPath,
          description: 'our message id in an item; by position when absent',
        },
        provider_message_id: jsonPath,
        accepted: {
          type: 'object',
          additionalProperties: false,
          required: ['path', 'in'],
          properties: {
            path: jsonPath,
            in: { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } },
          },
        },
        error_code: jsonPath,
        provider_message_id_template: {
          type: 'string',
          minLength: 1,
          description: 'template over `id` (the value at provider_message_id) and `message`',
        },
      },
    },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['status', 'class'],
        properties: {
          status: statusMatch,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['path', 'in'],
            properties: {
              path: jsonPath,
              in: { type: 'array', minItems: 1, items: { type: ['string', 'number'] } },
            },
          },
          class: { enum: ERROR_CLASSES },
        },
      },
    },
    // Receipt mapping (receipt-schema.ts): the provider's own delivery reports.
    receipts: receiptMappingSchema,
  },
} as const;

export interface ProviderDefinition {
  readonly name: string;
  readonly channel: Channel;
  readonly follows: string;
  readonly auth?: {
    readonly type: 'header' | 'query' | 'basic';
    readonly name?: string;
    readonly value?: string;
    readonly username?: string;
    readonly password?: string;
  };
  readonly send: {
    readonly method: 'POST' | 'PUT';
    readonly path: string;
    readonly max_batch_size: number;
    readonly headers?: Readonly<Record<string, string>>;
    readonly body: unknown;
    readonly encoding?: 'json' | 'form';
  };
  readonly response: {
    readonly items: string;
    readonly message_ref?: string;
    readonly provider_message_id: string;
    readonly accepted: {
      readonly path: string;
      readonly in: readonly (string | number | boolean)[];
    };
    readonly error_code?: string;
    readonly provider_message_id_template?: string;
  };
  readonly errors: readonly {
    readonly status: number | readonly [number, number];
    readonly body?: { readonly path: string; readonly in: readonly (string | number)[] };
    readonly class: ErrorClass;
  }[];
  /** How the provider's own delivery reports map onto receipts; see receipt-schema.ts. */
  readonly receipts?: ReceiptMapping;
}

const validate = createAjv({
  useDefaults: false,
  allowUnionTypes: true,
}).compile<ProviderDefinition>(providerDefinitionSchema);

/**
 * Parses a definition written as YAML or JSON (JSON is YAML) and checks it: the schema,
 * then what a schema cannot say (every JSONPath readable, auth complete). Throws
 * ValidationError listing every problem with its path in the definition.
 */
export function parseProviderDefinition(text: string): ProviderDefinition {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ValidationError([
      {
        path: '',
        message: `is not YAML or JSON: ${error instanceof Error ? error.message : String(error)}`,
      },
    ]);
  }
  if (!validate(document)) throw new ValidationError(toFieldProblems(validate.errors));
  const definition = document;
  const problems: FieldProblem[] = [];
  const checkPath = (path: string | undefined, at: string) => {
    if (path === undefined) return;
    try {
      parseJsonPath(path);
    } catch (error) {
      problems.push({ path: at, message: error instanceof Error ? error.message : String(error) });
    }
  };
  const { response } = definition;
  checkPath(response.items, '/response/items');
  checkPath(response.message_ref, '/response/message_ref');
  checkPath(response.provider_message_id, '/response/provider_message_id');
  checkPath(response.accepted.path, '/response/accepted/path');
  checkPath(response.error_code, '/response/error_code');
  definition.errors.forEach((rule, i) => checkPath(rule.body?.path, `/errors/${i}/body/path`));
  const auth = definition.auth;
  if (
    auth !== undefined &&
    auth.type !== 'basic' &&
    (auth.name === undefined || auth.value === undefined)
  ) {
    problems.push({ path: '/auth', message: `type ${auth.type} needs name and value` });
  }
  if (auth?.type === 'basic' && auth.username === undefined) {
    problems.push({ path: '/auth/username', message: 'is required for type basic' });
  }
  if (definition.receipts !== undefined) problems.push(...receiptMappingProblems(definition.receipts));
  if (problems.length > 0) throw new ValidationError(problems);
  return definition;
}
