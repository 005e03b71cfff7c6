import { createHmac } from 'node:crypto';
import { EgressRefusedError, ProviderUnavailableError, type CommstratError, type QueuedMessage } from '@commstrat/core';
import type { EgressPolicy } from '@commstrat/egress';
import { egressRefusal, type MessageOutcome, type ProviderAdapter, type SendResult } from './adapter.ts';
import { answerExcerpt } from './answer-excerpt.ts';
import { HttpClient, RequestTimeoutError } from './http-client.ts';
import { StandardWebhookSigner } from './standard-webhooks.ts';

export interface WebhookAdapterOptions {
  readonly id: string;
  /** The tenant's URL every message is POSTed to. */
  readonly url: string;
  /** The HMAC-SHA256 key shared with the tenant. */
  readonly secret: string;
  /** Checks every connection to the tenant's URL. */
  readonly egress: EgressPolicy;
  /** Request time limit in ms. Default 10 000. */
  readonly timeoutMs?: number | undefined;
  /** Requests in flight at once (connections kept open). Default 8. */
  readonly concurrency?: number | undefined;
  /** Unix time in seconds, for tests. Default the clock. */
  readonly now?: () => number;
}

/**
 * The header that carries the timestamp and the signature: `t=<unix seconds>,v1=<hex>`.
 * Deprecated: every delivery is also signed by Standard Webhooks (`webhook-id`,
 * `webhook-timestamp`, `webhook-signature`); this header goes in the next release.
 */
export const WEBHOOK_SIGNATURE_HEADER = 'x-commstrat-signature';

/**
 * The signature of one delivery: hex HMAC-SHA256 with the tenant's secret over
 * `<timestamp>.<body>`, the timestamp in Unix seconds as sent in the header and the body
 * byte for byte as sent. Signing the timestamp with the body is what lets a receiver
 * refuse an old delivery replayed by whoever captured it (docs/providers.md).
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * The webhook channel: each message is one signed JSON POST to the tenant's URL, signed
 * by Standard Webhooks with the message id as `webhook-id` (the same on every retry), and
 * by the deprecated X-Commstrat-Signature header.
 * A 2xx answer delivers it; 429, 5xx, a timeout or no connection is the receiver's
 * trouble and may pass later (ProviderUnavailableError, retried by the strategy's retry
 * policy, Retry-After honoured); any other 4xx says the receiver refuses this message,
 * so it fails for good. The rows of this kind carry max_batch_size 1 (checked on save):
 * a retry is then of that one message only.
 */
export class WebhookAdapter implements ProviderAdapter {
  readonly id: string;
  private readonly options: WebhookAdapterOptions;
  private readonly target: URL;
  private readonly http: HttpClient;
  private readonly signer: StandardWebhookSigner;

  constructor(options: WebhookAdapterOptions) {
    this.id = options.id;
    this.options = options;
    this.target = new URL(options.url);
    this.signer = new StandardWebhookSigner(options.secret);
    this.http = new HttpClient({
      baseUrl: this.target.origin,
      egress: options.egress,
      maxSockets: options.concurrency,
      timeoutMs: options.timeoutMs,
    });
  }

  close(): void {
    this.http.close();
  }

  async send(messages: readonly QueuedMessage[], signal?: AbortSignal): Promise<SendResult> {
    const startedAt = new Date();
    const requests: string[] = [];
    const responses: { message_id: string; status?: number; body: string }[] = [];
    const outcomes: MessageOutcome[] = [];
    let httpStatus: number | undefined;
    let error: CommstratError | undefined;
    for (const message of messages) {
      const body = JSON.stringify(deliveryBody(message));
      const timestamp = Math.floor(this.options.now?.() ?? Date.now() / 1000);
      requests.push(body);
      try {
        const reply = await this.http.post(
          this.target.pathname + this.target.search,
          body,
          {
            'content-type': 'application/json',
            'user-agent': 'commstrat-webhook/1',
            'x-commstrat-message-id': message.id,
            ...this.signer.headers(message.id, new Date(timestamp * 1000), body),
            [WEBHOOK_SIGNATURE_HEADER]: `t=${timestamp},v1=${webhookSignature(this.options.secret, timestamp, body)}`,
          },
          signal,
        );
        httpStatus = reply.status;
        const success = reply.status >= 200 && reply.status < 300;
        responses.push({
          message_id: message.id,
          status: reply.status,
          // A refusal's body is the receiver's error text: it may echo what it was sent.
          body: success ? reply.body.slice(0, 2000) : answerExcerpt(reply.body),
        });
        if (success) {
          outcomes.push({
            messageId: message.id,
            outcome: 'accepted',
            providerMessageId: message.id,
          });
        } else if (reply.status === 429 || reply.status >= 500) {
          const retryAfter = Number(reply.headers['retry-after']);
          error = new ProviderUnavailableError(`webhook ${this.id} answered ${reply.status}`, {
            ...(Number.isFinite(retryAfter) && retryAfter >= 0
              ? { retryAfterSeconds: retryAfter }
              : {}),
          });
          break;
        } else {
          outcomes.push({
            messageId: message.id,
            outcome: 'rejected',
            reason: `http_${reply.status}`,
          });
        }
      } catch (cause) {
        if (cause instanceof EgressRefusedError) {
          const refused = egressRefusal(this.id, cause);
          responses.push({ message_id: message.id, body: refused.response });
          error = refused.error;
          break;
        }
        const what =
          cause instanceof RequestTimeoutError ? 'did not answer in time' : 'is unreachable';
        responses.push({
          message_id: message.id,
          body: cause instanceof Error ? cause.message : String(cause),
        });
        error = new ProviderUnavailableError(`webhook ${this.id} ${what}`, { cause });
        break;
      }
    }
    const exchange = {
      request: requests.length === 1 ? (requests[0] ?? '') : JSON.stringify(requests),
      response: JSON.stringify(responses),
      httpStatus,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
    };
    return error === undefined ? { exchange, outcomes } : { exchange, outcomes: [], error };
  }
}

/** What the tenant's endpoint receives: the message as the producer sent it, with its id. */
function deliveryBody(message: QueuedMessage): Record<string, unknown> {
  return {
    id: message.id,
    tenant_id: message.tenant_id,
    channel: message.channel,
    priority: message.priority,
    recipient: message.recipient,
    content: message.content,
    created_at: message.created_at,
    attempt: (message.attempts ?? 0) + 1,
  };
}
