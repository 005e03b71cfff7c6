import type { FieldProblem } from '@commstrat/core';
import { parseJsonPath } from './json-path.ts';

/**
 * The `receipts:` section of a provider definition: how the provider's own delivery
 * reports map onto commstrat's generic receipt, and how a report request is
 * authenticated. See docs/providers.md, "Receipt mapping".
 */

/** How a receipt request proves it comes from the provider. */
export const RECEIPT_AUTH_TYPES = ['commstrat_signature', 'twilio_signature', 'basic'] as const;
export type ReceiptAuthType = (typeof RECEIPT_AUTH_TYPES)[number];

const jsonPath = { type: 'string', pattern: '^\\$', maxLength: 500 } as const;

/** A JSONPath into one item, or a template over it when the id is built from several fields. */
export const idSource = {
  type: 'string',
  pattern: '^(\\$|.*\\{\\{)',
  maxLength: 500,
  description: 'JSONPath ("$.id") or template ("{{ report.batch_id }}:{{ report.recipient | digits }}")',
} as const;

export const receiptMappingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'items', 'provider_message_id', 'status', 'statuses', 'auth'],
  properties: {
    format: { enum: ['json', 'form'], description: 'the body: JSON, or application/x-www-form-urlencoded' },
    items: { ...jsonPath, description: 'the reports in one request; "$" when the body is one report' },
    provider_message_id: idSource,
    status: jsonPath,
    statuses: {
      type: 'object',
      minProperties: 1,
      additionalProperties: { enum: ['delivered', 'undelivered'] },
      description: 'provider status → ours; a status not listed (intermediate) is ignored',
    },
    error_code: jsonPath,
    error_text: jsonPath,
    at: jsonPath,
    auth: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: RECEIPT_AUTH_TYPES },
        secret: { type: 'string', minLength: 1, description: 'template over credentials' },
        username: { type: 'string', minLength: 1, description: 'basic: template over credentials' },
        password: { type: 'string', minLength: 1, description: 'basic: template over credentials' },
        url: { type: 'string', minLength: 1, description: 'template over credentials: the URL the provider calls' },
      },
    },
  },
} as const;

export interface ReceiptMapping {
  readonly format: 'json' | 'form';
  readonly items: string;
  readonly provider_message_id: string;
  readonly status: string;
  readonly statuses: Readonly<Record<string, 'delivered' | 'undelivered'>>;
  readonly error_code?: string;
  readonly error_text?: string;
  readonly at?: string;
  readonly auth: {
    readonly type: ReceiptAuthType;
    readonly secret?: string;
    readonly url?: string;
    readonly username?: string;
    readonly password?: string;
  };
}

/** True when an id source is a template rather than a JSONPath. */
export function isIdTemplate(source: string): boolean {
  return source.includes('{{');
}

/** What the schema cannot say about a receipt mapping: readable paths, complete auth. */
export function receiptMappingProblems(mapping: ReceiptMapping, at = '/receipts'): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const checkPath = (path: string | undefined, where: string) => {
    if (path === undefined || isIdTemplate(path)) return;
    try {
      parseJsonPath(path);
    } catch (error) {
      problems.push({ path: `${at}/${where}`, message: error instanceof Error ? error.message : String(error) });
    }
  };
  checkPath(mapping.items, 'items');
  checkPath(mapping.provider_message_id, 'provider_message_id');
  checkPath(mapping.status, 'status');
  checkPath(mapping.error_code, 'error_code');
  checkPath(mapping.error_text, 'error_text');
  checkPath(mapping.at, 'at');
  if (mapping.auth.type === 'twilio_signature') {
    if (mapping.auth.secret === undefined) problems.push({ path: `${at}/auth/secret`, message: 'is required for type twilio_signature (the auth token)' });
    if (mapping.auth.url === undefined) problems.push({ path: `${at}/auth/url`, message: 'is required for type twilio_signature (the status callback URL)' });
    // Twilio signs JSON bodies differently (a bodySHA256 query parameter); only form bodies are implemented.
    if (mapping.format !== 'form') problems.push({ path: `${at}/format`, message: 'must be form for type twilio_signature' });
  }
  if (mapping.auth.type === 'basic') {
    for (const field of ['username', 'password'] as const) {
      if (mapping.auth[field] === undefined) problems.push({ path: `${at}/auth/${field}`, message: 'is required for type basic' });
    }
  }
  return problems;
}
