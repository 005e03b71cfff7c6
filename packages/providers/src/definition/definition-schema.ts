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
import { authDefinitionSchema, checkAuthDefinition, type AuthDefinition } from './auth.ts';
import { receiptMappingProblems, receiptMappingSchema, type ReceiptMapping } from './receipt-schema.ts';
import { inboundMappingProblems, inboundMappingSchema, type InboundMapping } from './inbound-mapping.ts';

/** What a classified provider error means for the messages of the request. */
export const ERROR_CLASSES = [
  'retryable',
  'rate_limited',
  'provider_down',
  'permanent',
  // Our account or credentials refused: permanent for the messages, and a fault of the row.
  'misconfigured',
] as const;
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
    // auth: one branch per kind, in auth.ts.
    auth: authDefinitionSchema,
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
        // --- auth section additions (how the request goes out) ---
        encoding: {
          enum: ['json', 'form'],
          description: 'json (default) or application/x-www-form-urlencoded; in a form an array is sent comma-separated',
        },
        batch_by: {
          type: 'string',
          minLength: 1,
          description: 'template over `message`: messages rendering it differently never share a request',
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
          required: ['path'],
          description: 'accepted when the value at path is one of `in`; without `in`, when there is one',
          properties: {
            path: jsonPath,
            in: { type: 'array', minItems: 1, items: { type: ['string', 'number', 'boolean'] } },
          },
        },
        error_code: jsonPath,
        // --- auth section additions (answers that are not a list per message) ---
        shared: {
          type: 'boolean',
          description: 'the answer is one item for every message of the request (a batch with one id)',
        },
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
          retry_after: { ...jsonPath, description: 'seconds to wait, read from the body (Retry-After wins)' },
        },
      },
    },
    // Receipt mapping (receipt-schema.ts): the provider's own delivery reports.
    receipts: receiptMappingSchema,
    // Inbound mapping (inbound-mapping.ts): messages the provider's numbers receive.
    inbound: inboundMappingSchema,
  },
} as const;

export interface ProviderDefinition {
  readonly name: string;
  readonly channel: Channel;
  readonly follows: string;
  readonly auth?: AuthDefinition;
  readonly send: {
    readonly method: 'POST' | 'PUT';
    readonly path: string;
    readonly max_batch_size: number;
    readonly headers?: Readonly<Record<string, string>>;
    readonly body: unknown;
    readonly encoding?: 'json' | 'form';
    readonly batch_by?: string;
  };
  readonly response: {
    readonly items: string;
    readonly message_ref?: string;
    readonly provider_message_id: string;
    readonly accepted: {
      readonly path: string;
      readonly in?: readonly (string | number | boolean)[];
    };
    readonly error_code?: string;
    readonly shared?: boolean;
    readonly provider_message_id_template?: string;
  };
  readonly errors: readonly {
    readonly status: number | readonly [number, number];
    readonly body?: { readonly path: string; readonly in: readonly (string | number)[] };
    readonly class: ErrorClass;
    readonly retry_after?: string;
  }[];
  /** How the provider's own delivery reports map onto receipts; see receipt-schema.ts. */
  readonly receipts?: ReceiptMapping;
  /** How the provider's webhook for incoming messages maps onto inbound reports; see inbound-mapping.ts. */
  readonly inbound?: InboundMapping;
}

const validate = createAjv({
  useDefaults: false,
  allowUnionTypes: true,
  // The auth section's branch is chosen by its `type`, so only that branch's errors show.
  discriminator: true,
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
  if (!validate(document)) throw new ValidationError(authTypeProblems(toFieldProblems(validate.errors)));
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
  definition.errors.forEach((rule, i) => checkPath(rule.retry_after, `/errors/${i}/retry_after`));
  problems.push(...checkAuthDefinition(definition.auth));
  if (definition.receipts !== undefined) problems.push(...receiptMappingProblems(definition.receipts));
  if (definition.inbound !== undefined) problems.push(...inboundMappingProblems(definition.inbound));
  if (problems.length > 0) throw new ValidationError(problems);
  return definition;
}

/** An unknown auth type is reported by the discriminator at /auth; name the field and the choices. */
function authTypeProblems(problems: FieldProblem[]): FieldProblem[] {
  return problems.map((problem) =>
    problem.path === '/auth' && problem.message.includes('tag "type"')
      ? { path: '/auth/type', message: `must be one of: ${AUTH_TYPE_NAMES}` }
      : problem,
  );
}

const AUTH_TYPE_NAMES = authDefinitionSchema.oneOf.map((branch) => branch.properties.type.const).join(', ');
