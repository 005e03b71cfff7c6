import { createAjv, toFieldProblems } from './ajv.ts';
import { BatchTooLargeError, ValidationError } from './errors.ts';

/**
 * A batch request as producers send it, over REST (`POST /v1/messages/batch`) and as a
 * Kafka record value: the messages and whether the batch is all-or-nothing. The items
 * are not checked here: each one is validated on its own, for per-item results. The
 * single source for both doors and for the OpenAPI document (which fills in `items`).
 */
export const batchEnvelopeSchema = {
  $id: 'https://commstrat.dev/schemas/batch-envelope.json',
  type: 'object',
  additionalProperties: false,
  required: ['messages'],
  properties: {
    messages: { type: 'array', minItems: 1 },
    atomic: { type: 'boolean', default: false, description: 'all-or-nothing: one bad item rejects the batch (422)' },
  },
} as const;

const validateEnvelope = createAjv({ useDefaults: false }).compile<{ messages: unknown[]; atomic?: boolean }>(
  batchEnvelopeSchema,
);

/**
 * The messages of a batch envelope, and whether it is atomic. Throws ValidationError
 * naming each bad field (a missing or non-array `messages`, an unknown property), or
 * BatchTooLargeError past `maxMessages`.
 */
export function parseBatchEnvelope(body: unknown, maxMessages: number): { messages: unknown[]; atomic: boolean } {
  if (!validateEnvelope(body)) throw new ValidationError(toFieldProblems(validateEnvelope.errors));
  if (body.messages.length > maxMessages) throw new BatchTooLargeError(body.messages.length, maxMessages);
  return { messages: body.messages, atomic: body.atomic === true };
}
