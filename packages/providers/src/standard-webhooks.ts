import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks (https://www.standardwebhooks.com/) headers: `webhook-id` (the
 * same on every retry of one event), `webhook-timestamp` (Unix seconds) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, signed by
 * the `standardwebhooks` library so a receiver verifies with that library (or any
 * implementation of the specification) in its own language.
 */
export const STANDARD_WEBHOOK_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/**
 * The signing key of a secret: a `whsec_<base64>` secret stands for the bytes it encodes
 * (our callback secrets are of this form, some written in the URL-safe alphabet); any
 * other secret (a webhook provider row's `credentials.secret` as a tenant typed it) is
 * its UTF-8 bytes, which a receiver gives the library as `new Webhook(secret, { format: 'raw' })`.
 */
export function standardWebhookKey(secret: string): Buffer {
  if (secret.startsWith('whsec_')) {
    const encoded = secret.slice('whsec_'.length);
    if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
      const key = Buffer.from(encoded, 'base64');
      if (key.length > 0) return key;
    }
  }
  return Buffer.from(secret, 'utf8');
}

/** The secret in the form the specification's libraries take: `whsec_` and the key in standard base64. */
export function standardWebhookSecret(secret: string): string {
  return `whsec_${standardWebhookKey(secret).toString('base64')}`;
}

/** Signs deliveries under one secret; keep one per secret, the key is decoded once. */
export class StandardWebhookSigner {
  private readonly webhook: Webhook;

  constructor(secret: string) {
    this.webhook = new Webhook(standardWebhookKey(secret), { format: 'raw' });
  }

  /** The three headers of one delivery of event `id`, signed at `at`, of `body` byte for byte. */
  headers(id: string, at: Date, body: string): Record<(typeof STANDARD_WEBHOOK_HEADERS)[number], string> {
    return {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': this.webhook.sign(id, at, body),
    };
  }
}
