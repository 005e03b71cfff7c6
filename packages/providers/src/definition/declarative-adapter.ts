import { createHash } from 'node:crypto';
import {
  ProviderRejectedError,
  ProviderUnavailableError,
  type CommstratError,
  type QueuedMessage,
} from '@commstrat/core';
import { sendResult, unanswered, type MessageOutcome, type ProviderAdapter, type SendResult } from '../adapter.ts';
import { HttpClient, RequestTimeoutError } from '../http-client.ts';
import type { ErrorClass, ProviderDefinition } from './definition-schema.ts';
import { firstJsonPath, queryJsonPath } from './json-path.ts';
import { asText, renderTemplate } from './template.ts';

export interface DeclarativeHttpAdapterOptions {
  readonly id: string;
  readonly definition: ProviderDefinition;
  /** Base URL of the API, e.g. https://xyz.api.infobip.com. */
  readonly baseUrl: string;
  /** The row's credentials; templates read them as `credentials.<name>`. */
  readonly credentials: Readonly<Record<string, unknown>>;
  readonly timeoutMs?: number | undefined;
  readonly concurrency?: number | undefined;
}

/** An HTTP provider driven by its definition: no code per API. */
export class DeclarativeHttpAdapter implements ProviderAdapter {
  readonly id: string;
  private readonly definition: ProviderDefinition;
  private readonly credentials: Readonly<Record<string, unknown>>;
  private readonly http: HttpClient;

  constructor(options: DeclarativeHttpAdapterOptions) {
    this.id = options.id;
    this.definition = options.definition;
    this.credentials = options.credentials;
    this.http = new HttpClient({
      baseUrl: options.baseUrl,
      maxSockets: options.concurrency,
      timeoutMs: options.timeoutMs,
    });
  }

  close(): void {
    this.http.close();
  }

  async send(messages: readonly QueuedMessage[], signal?: AbortSignal): Promise<SendResult> {
    const { send, auth } = this.definition;
    if (messages.length > send.max_batch_size) {
      // The provider would refuse the request whole; say which setting is wrong instead.
      const error = new ProviderRejectedError(
        `provider ${this.id}: a batch of ${messages.length} exceeds the ${this.definition.name} definition's max_batch_size ${send.max_batch_size}; lower the row's max_batch_size`,
      );
      const exchange = {
        request: '',
        response: error.message,
        httpStatus: undefined,
        startedAt: new Date(),
        durationMs: 0,
      };
      return { exchange, outcomes: [], error };
    }
    const context = { messages, credentials: this.credentials };
    const rendered = renderTemplate(send.body, context);
    const body = encodeBody(rendered, send.encoding);
    const headers: Record<string, string> = {
      'content-type': send.encoding === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
      ...send.headers,
      // Same ids, same key: a batch resent after a crash between send and ack is one
      // the provider can recognise (for APIs that take such a header).
      'idempotency-key': createHash('sha256')
        .update(messages.map((m) => m.id).join(','))
        .digest('hex'),
    };
    // The path may name credentials (an account id); it is never journaled.
    let path = asText(renderTemplate(send.path, { credentials: this.credentials }));
    if (auth?.type === 'header' && auth.name !== undefined)
      headers[auth.name] = asText(renderTemplate(auth.value, context));
    if (auth?.type === 'query' && auth.name !== undefined) {
      const value = asText(renderTemplate(auth.value, context));
      path += `${path.includes('?') ? '&' : '?'}${encodeURIComponent(auth.name)}=${encodeURIComponent(value)}`;
    }
    if (auth?.type === 'basic') {
      const user = asText(renderTemplate(auth.username, context));
      const password = asText(renderTemplate(auth.password ?? '', context));
      headers['authorization'] = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    }
    const startedAt = new Date();
    let httpStatus: number | undefined;
    let responseText = '';
    let outcomes: MessageOutcome[] = [];
    let error: CommstratError | undefined;
    try {
      const reply = await this.http.post(path, body, headers, signal);
      httpStatus = reply.status;
      responseText = reply.body;
      const parsed = parseJson(reply.body);
      if (reply.status >= 200 && reply.status < 300) {
        outcomes = this.toOutcomes(parsed, messages);
      } else {
        const retryAfter = Number(reply.headers['retry-after']);
        error = this.classify(
          reply.status,
          parsed,
          Number.isFinite(retryAfter) ? retryAfter : undefined,
        );
      }
    } catch (cause) {
      ({ error, response: responseText } = unanswered(this.id, cause, cause instanceof RequestTimeoutError));
    }
    return sendResult(body, responseText, httpStatus, startedAt, outcomes, error);
  }

  /** The first rule that matches the status (and body code, when it names one) decides. */
  private classify(
    status: number,
    body: unknown,
    retryAfterSeconds: number | undefined,
  ): CommstratError {
    const rule = this.definition.errors.find((candidate) => {
      const [low, high] =
        typeof candidate.status === 'number'
          ? [candidate.status, candidate.status]
          : candidate.status;
      if (status < low || status > high) return false;
      if (candidate.body === undefined) return true;
      const code = firstJsonPath(body, candidate.body.path);
      return (
        (typeof code === 'string' || typeof code === 'number') && candidate.body.in.includes(code)
      );
    });
    // No rule: 5xx may pass later, anything else is taken as a refusal.
    const errorClass: ErrorClass = rule?.class ?? (status >= 500 ? 'provider_down' : 'permanent');
    const detail = `provider ${this.id} answered ${status} (${errorClass}): ${JSON.stringify(body).slice(0, 300)}`;
    if (errorClass === 'permanent') return new ProviderRejectedError(detail);
    return new ProviderUnavailableError(detail, {
      ...(errorClass === 'rate_limited' && retryAfterSeconds !== undefined
        ? { retryAfterSeconds }
        : {}),
    });
  }

  private toOutcomes(body: unknown, messages: readonly QueuedMessage[]): MessageOutcome[] {
    const { response } = this.definition;
    const items = queryJsonPath(body, response.items);
    const byRef = new Map<string, unknown>();
    if (response.message_ref !== undefined) {
      for (const item of items) byRef.set(String(firstJsonPath(item, response.message_ref)), item);
    }
    return messages.map((message, index): MessageOutcome => {
      const item = response.message_ref === undefined ? items[index] : byRef.get(message.id);
      if (item === undefined)
        return {
          messageId: message.id,
          outcome: 'rejected',
          reason: 'missing_from_provider_response',
        };
      const state = firstJsonPath(item, response.accepted.path);
      const providerId = firstJsonPath(item, response.provider_message_id);
      if (
        response.accepted.in.includes(state as string) &&
        providerId !== undefined &&
        providerId !== null
      ) {
        return {
          messageId: message.id,
          outcome: 'accepted',
          providerMessageId:
            response.provider_message_id_template === undefined
              ? asText(providerId)
              : asText(renderTemplate(response.provider_message_id_template, { id: providerId, message })),
        };
      }
      const code =
        response.error_code === undefined ? undefined : firstJsonPath(item, response.error_code);
      return {
        messageId: message.id,
        outcome: 'rejected',
        reason: asText(code ?? state ?? 'rejected'),
      };
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { raw: text.slice(0, 2000) };
  }
}

/** The body as sent: JSON, or a form whose array values are comma-separated (one text to many numbers). */
function encodeBody(rendered: unknown, encoding: 'json' | 'form' | undefined): string {
  if (encoding !== 'form') return JSON.stringify(rendered);
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries((rendered ?? {}) as Record<string, unknown>)) {
    form.set(name, Array.isArray(value) ? value.map(asText).join(',') : asText(value));
  }
  return form.toString();
}
