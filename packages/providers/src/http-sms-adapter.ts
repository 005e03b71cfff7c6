import { createHash } from 'node:crypto';
import type { EgressPolicy } from '@commstrat/egress';
import {
  ProviderRejectedError,
  ProviderUnavailableError,
  type CommstratError,
  type QueuedMessage,
} from '@commstrat/core';
import { sendResult, unanswered, type MessageOutcome, type ProviderAdapter, type SendResult } from './adapter.ts';
import { answerExcerpt } from './answer-excerpt.ts';
import { HttpClient, RequestTimeoutError } from './http-client.ts';

export interface HttpSmsAdapterOptions {
  readonly id: string;
  /** Base URL of the provider API, e.g. http://127.0.0.1:8082. */
  readonly baseUrl: string;
  /** Bearer token the provider expects. */
  readonly token: string;
  /** Checks every connection to the provider. */
  readonly egress: EgressPolicy;
  /** Request time limit in ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** Requests in flight at once (connections kept open). Default 8. */
  readonly concurrency?: number;
  /** Sender id shown to recipients. Default `commstrat`. */
  readonly sender?: string;
}

interface BatchResponseItem {
  client_ref: string;
  status: 'accepted' | 'rejected';
  message_id?: string;
  error?: { code?: string; message?: string };
}

/**
 * A batch SMS aggregator API in the common shape: `POST /v1/sms/batch` with
 * `{ messages: [{ client_ref, to, text, sender }] }`, answering per-item results.
 * The sandbox provider speaks it; so do the real aggregators this adapter targets.
 */
export class HttpSmsAdapter implements ProviderAdapter {
  readonly id: string;
  private readonly options: HttpSmsAdapterOptions;
  private readonly http: HttpClient;

  constructor(options: HttpSmsAdapterOptions) {
    this.id = options.id;
    this.options = options;
    this.http = new HttpClient({ baseUrl: options.baseUrl, egress: options.egress, maxSockets: options.concurrency, timeoutMs: options.timeoutMs });
  }

  close(): void {
    this.http.close();
  }

  async send(messages: readonly QueuedMessage[], signal?: AbortSignal): Promise<SendResult> {
    const request = {
      messages: messages.map((message) => ({
        client_ref: message.id,
        to: message.recipient.phone,
        text: message.content.text,
        sender: this.options.sender ?? 'commstrat',
      })),
    };
    const startedAt = new Date();
    let httpStatus: number | undefined;
    const body = JSON.stringify(request);
    let responseText = '';
    let error: CommstratError | undefined;
    let outcomes: MessageOutcome[] = [];
    try {
      const reply = await this.http.post(
        '/v1/sms/batch',
        body,
        {
          'content-type': 'application/json',
          authorization: `Bearer ${this.options.token}`,
          // A digest of the message ids is the provider idempotency key: a batch resent
          // after a crash between send and ack carries the same key, and batches that
          // merely start alike do not (a cut-off list of ids would collide).
          'idempotency-key': createHash('sha256').update(messages.map((m) => m.id).join(',')).digest('hex'),
        },
        signal,
      );
      httpStatus = reply.status;
      responseText = reply.body;
      const response = parseJson(responseText);
      if (reply.status >= 200 && reply.status < 300 && !hasResults(response)) {
        // A success status whose body cannot be read says nothing about any message: the
        // provider may or may not have taken them. Failing them would lose messages a
        // retry can still send, so it is retryable like a 5xx (the resend carries the
        // same idempotency key, for the provider to drop what it already has).
        error = new ProviderUnavailableError(`provider answered ${reply.status} with a body that is not a batch result: ${answerExcerpt(responseText)}`);
      } else if (reply.status >= 200 && reply.status < 300) {
        outcomes = toOutcomes(response, messages);
      } else {
        const retryAfter = reply.headers['retry-after'];
        error = classifyHttpError(reply.status, typeof retryAfter === 'string' ? retryAfter : null, response);
      }
    } catch (cause) {
      ({ error, response: responseText } = unanswered(this.id, cause, cause instanceof RequestTimeoutError));
    }
    return sendResult(body, responseText, httpStatus, startedAt, outcomes, error);
  }
}

/** 429 and 5xx may pass on retry; other 4xx answers mean the request itself is wrong. */
function classifyHttpError(status: number, retryAfter: string | null, body: unknown): CommstratError {
  const detail = answerExcerpt(JSON.stringify(body));
  if (status === 429 || status >= 500) {
    const seconds = retryAfter === null ? undefined : Number(retryAfter);
    return new ProviderUnavailableError(`provider answered ${status}: ${detail}`, {
      ...(seconds !== undefined && Number.isFinite(seconds) ? { retryAfterSeconds: seconds } : {}),
    });
  }
  return new ProviderRejectedError(`provider answered ${status}: ${detail}`);
}

function toOutcomes(body: unknown, messages: readonly QueuedMessage[]): MessageOutcome[] {
  const items = (body as { results?: BatchResponseItem[] } | undefined)?.results ?? [];
  const byRef = new Map(items.map((item) => [item.client_ref, item]));
  return messages.map((message): MessageOutcome => {
    const item = byRef.get(message.id);
    if (item?.status === 'accepted' && item.message_id !== undefined) {
      return { messageId: message.id, outcome: 'accepted', providerMessageId: item.message_id };
    }
    const reason = item?.error?.code === undefined ? 'missing_from_provider_response' : answerExcerpt(String(item.error.code), 100);
    return { messageId: message.id, outcome: 'rejected', reason };
  });
}

function hasResults(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Array.isArray((body as { results?: unknown }).results);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { raw: text.slice(0, 2000) };
  }
}
