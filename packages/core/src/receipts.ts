import { createHmac, timingSafeEqual } from 'node:crypto';
import { createAjv, toFieldProblems } from './ajv.ts';
import { ValidationError } from './errors.ts';

/** What a provider said became of a message it accepted. */
export interface Receipt {
  /** The provider's id of the message, as it answered when it accepted it. */
  readonly provider_message_id: string;
  readonly status: 'delivered' | 'undelivered';
  /** The provider's error code or text, for `undelivered`. */
  readonly error?: string;
  /** When the provider saw it happen (RFC 3339); default: when the receipt arrived. */
  readonly at?: string;
}

/** Most receipts one request may carry. */
export const MAX_RECEIPTS_PER_REQUEST = 1000;

/**
 * The generic receipt format every provider's receipts are posted in, until provider
 * definitions map their own formats onto it: `{"receipts": [...]}`.
 */
export const receiptBatchSchema = {
  $id: 'https://commstrat.dev/schemas/receipt-batch.json',
  type: 'object',
  additionalProperties: false,
  required: ['receipts'],
  properties: {
    receipts: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_RECEIPTS_PER_REQUEST,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['provider_message_id', 'status'],
        properties: {
          provider_message_id: { type: 'string', minLength: 1, maxLength: 200 },
          status: { enum: ['delivered', 'undelivered'] },
          error: { type: 'string', maxLength: 500 },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;

const validateReceipts = createAjv({ useDefaults: false }).compile<{ receipts: Receipt[] }>(receiptBatchSchema);

/** The receipts of a request body; throws ValidationError naming each bad field. */
export function parseReceipts(body: unknown): Receipt[] {
  if (!validateReceipts(body)) throw new ValidationError(toFieldProblems(validateReceipts.errors));
  return body.receipts;
}

/**
 * The signature a provider (the sandbox, a relay) sends a receipt request with:
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the provider's secret>`,
 * in the `X-Commstrat-Signature` header. The timestamp is signed, so an old request cannot
 * be made fresh, and the replay window bounds how long one may be sent again.
 */
export function signReceiptBody(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  return `t=${t},v1=${hmacHex(secret, `${t}.${body}`)}`;
}

/** Why a signature is refused; undefined when it is good. */
export type SignatureProblem = 'missing' | 'malformed' | 'mismatch' | 'stale';

/**
 * The one spelling of a signature header: `t=<unix seconds without leading zeros>,v1=<64
 * lower-case hex>`. Anything else is malformed, so two headers that pass the check for
 * one request are the same text: `t=0<T>` (which Number() reads as T, and the HMAC signs
 * as T) cannot pass as a header the replay guard has not seen.
 */
const SIGNATURE_HEADER = /^t=(0|[1-9]\d{0,11}),v1=([0-9a-f]{64})$/;

/**
 * Checks a receipt request's signature header against the provider's secret: it must be
 * in its one spelling (SIGNATURE_HEADER), match the body and be dated within
 * `windowSeconds` of `now` (either way, for clock skew). Compared in constant time. The
 * replay guard must remember the header as checked here, which is then the header as
 * sent: no two spellings of one signature pass.
 */
export function checkReceiptSignature(
  secret: string,
  header: string | undefined,
  body: string,
  now: Date,
  windowSeconds: number,
): SignatureProblem | undefined {
  if (header === undefined || header === '') return 'missing';
  const match = SIGNATURE_HEADER.exec(header);
  if (match === null) return 'malformed';
  const t = Number(match[1]);
  const expected = Buffer.from(hmacHex(secret, `${t}.${body}`), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(match[2] ?? '', 'hex'))) return 'mismatch';
  if (Math.abs(now.getTime() / 1000 - t) > windowSeconds) return 'stale';
  return undefined;
}

function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}
