import { createHash } from 'node:crypto';
import type { EgressPolicy } from '@commstrat/egress';
import {
  ProviderRejectedError,
  ProviderUnavailableError,
  type CommstratError,
  type QueuedMessage,
} from '@commstrat/core';
import { sendResult, unanswered, type MessageOutcome, type ProviderAdapter, type SendResult } from '../adapter.ts';
import { answerExcerpt } from '../answer-excerpt.ts';
import { HttpClient, RequestTimeoutError } from '../http-client.ts';
import { RequestAuthenticator, TokenUnavailableError, ProviderMisconfiguredError, type OutgoingRequest } from './auth.ts';
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
  /** Checks every connection: the endpoint's and the token endpoint's. */
  readonly egress: EgressPolicy;
  readonly timeoutMs?: number | undefined;
  readonly concurrency?: number | undefined;
  /** For token lifetimes and HMAC timestamps; default Date.now. */
  readonly clock?: () => number;
}

/** An HTTP provider driven by its definition: no code per API. */
export class DeclarativeHttpAdapter implements ProviderAdapter {
  readonly id: string;
  private readonly definition: ProviderDefinition;
  private readonly credentials: Readonly<Record<string, unknown>>;
  private readonly http: HttpClient;
  /** The definition's auth section at work; holds the cached OAuth2 token. */
  readonly auth: RequestAuthenticator;

  constructor(options: DeclarativeHttpAdapterOptions) {
    this.id = options.id;
    this.definition = options.definition;
    this.credentials = options.credentials;
    this.auth = new RequestAuthenticator({
      providerId: options.id,
      auth: options.definition.auth,
      credentials: options.credentials,
      egress: options.egress,
      timeoutMs: options.timeoutMs,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.http = new HttpClient({
      baseUrl: options.baseUrl,
      egress: options.egress,
      maxSockets: options.concurrency,
      timeoutMs: options.timeoutMs,
    });
  }

  close(): void {
    this.http.close();
    this.auth.close();
  }

  /**
   * Messages whose keys differ never share a request (the definition's `send.batch_by`,
   * e.g. one text per request for APIs that send one text to many numbers).
   */
  batchKey(message: QueuedMessage): string {
    const by = this.definition.send.batch_by;
    if (by === undefined) return '';
    // A digest: the key may be a whole text, and the batcher keeps one per open batch.
    return createHash('sha256').update(asText(renderTemplate(by, { message }))).digest('base64url');
  }

  async send(messages: readonly QueuedMessage[], signal?: AbortSignal): Promise<SendResult> {
    const { send } = this.definition;
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
    const firstKey = messages[0] === undefined ? '' : this.batchKey(messages[0]);
    if (messages.some((message) => this.batchKey(message) !== firstKey)) {
      // The batcher groups by batchKey; a mixed batch here is a caller's bug, and sending
      // it would give some recipients another message's text.
      const error = new ProviderRejectedError(
        `provider ${this.id}: the ${this.definition.name} definition sends only messages alike by "${send.batch_by ?? ''}" in one request`,
      );
      return sendResult('', error.message, undefined, new Date(), [], error);
    }
    const context = { messages, credentials: this.credentials };
    const rendered = renderTemplate(send.body, context);
    // Credentials the API wants in the body go on the wire, and into the journal redacted.
    const secretFields = this.auth.bodyFields();
    const body = encodeBody(withFields(rendered, redact(secretFields)), send.encoding);
    const wireBody = Object.keys(secretFields).length === 0 ? body : encodeBody(withFields(rendered, secretFields), send.encoding);
    const headers: Record<string, string> = {
      'content-type': send.encoding === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
      ...send.headers,
      // Same ids, same key: a batch resent after a crash between send and ack is one
      // the provider can recognise (for APIs that take such a header).
      'idempotency-key': createHash('sha256')
        .update(messages.map((m) => m.id).join(','))
        .digest('hex'),
    };
    // The path may name credentials (a bot token, a project id); it is never journaled.
    const path = asText(renderTemplate(send.path, { credentials: this.credentials }));
    const startedAt = new Date();
    let httpStatus: number | undefined;
    let responseText = '';
    let outcomes: MessageOutcome[] = [];
    let error: CommstratError | undefined;
    try {
      const request = { method: send.method, path, headers, body: wireBody };
      const first = await this.authorizedPost(request, signal);
      let reply = first.reply;
      if (reply.status === 401 && this.auth.usesTokens) {
        // The token expired early or was revoked: one fresh token, one more try.
        this.auth.invalidate(first.authorization);
        ({ reply } = await this.authorizedPost(request, signal));
      }
      httpStatus = reply.status;
      responseText = reply.body;
      const parsed = parseJson(reply.body);
      const success = reply.status >= 200 && reply.status < 300;
      const rule = this.matchingRule(reply.status, parsed, success);
      if (success && rule === undefined) {
        outcomes = this.toOutcomes(parsed, messages);
      } else {
        const header = Number(reply.headers['retry-after']);
        const fromBody = rule?.retry_after === undefined ? Number.NaN : Number(firstJsonPath(parsed, rule.retry_after));
        const retryAfter = Number.isFinite(header) ? header : Number.isFinite(fromBody) ? fromBody : undefined;
        error = this.classify(reply.status, parsed, retryAfter, rule);
      }
    } catch (cause) {
      if (cause instanceof TokenUnavailableError) ({ error, response: responseText } = cause);
      else ({ error, response: responseText } = unanswered(this.id, cause, cause instanceof RequestTimeoutError));
    }
    return sendResult(body, responseText, httpStatus, startedAt, outcomes, error);
  }

  /** Each attempt gets its own copy of the headers, auth applied afresh (a new token, a new signature). */
  private async authorizedPost(request: OutgoingRequest, signal?: AbortSignal) {
    const attempt = { ...request, headers: { ...request.headers } };
    await this.auth.apply(attempt, signal);
    const reply = await this.http.post(attempt.path, attempt.body, attempt.headers, signal);
    return { reply, authorization: attempt.headers['authorization'] };
  }

  /**
   * The first rule that matches the status (and body code, when it names one). On a 2xx
   * only rules that name a 2xx status apply: APIs that answer errors with 200 say so.
   */
  private matchingRule(status: number, body: unknown, success: boolean) {
    return this.definition.errors.find((candidate) => {
      const [low, high] =
        typeof candidate.status === 'number'
          ? [candidate.status, candidate.status]
          : candidate.status;
      if (status < low || status > high) return false;
      if (success && !(low >= 200 && high < 300)) return false;
      if (candidate.body === undefined) return true;
      const code = firstJsonPath(body, candidate.body.path);
      return (
        (typeof code === 'string' || typeof code === 'number') && candidate.body.in.includes(code)
      );
    });
  }

  private classify(
    status: number,
    body: unknown,
    retryAfterSeconds: number | undefined,
    rule: ProviderDefinition['errors'][number] | undefined,
  ): CommstratError {
    // No rule: 5xx may pass later, anything else is taken as a refusal.
    const errorClass: ErrorClass = rule?.class ?? (status >= 500 ? 'provider_down' : 'permanent');
    const detail = `provider ${this.id} answered ${status} (${errorClass}): ${answerExcerpt(JSON.stringify(body))}`;
    if (errorClass === 'permanent') return new ProviderRejectedError(detail);
    if (errorClass === 'misconfigured') return new ProviderMisconfiguredError(detail);
    return new ProviderUnavailableError(detail, {
      ...(errorClass === 'rate_limited' && retryAfterSeconds !== undefined
        ? { retryAfterSeconds }
        : {}),
    });
  }

  private toOutcomes(body: unknown, messages: readonly QueuedMessage[]): MessageOutcome[] {
    const { response } = this.definition;
    const found = queryJsonPath(body, response.items);
    // A shared answer (one id for the request) stands for every message in it.
    const items = response.shared === true && found[0] !== undefined ? messages.map(() => found[0]) : found;
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
      const accepted =
        response.accepted.in === undefined
          ? state !== undefined && state !== null
          : response.accepted.in.includes(state as string);
      if (accepted && providerId !== undefined && providerId !== null) {
        const template = response.provider_message_id_template;
        return {
          messageId: message.id,
          outcome: 'accepted',
          providerMessageId:
            template === undefined ? asText(providerId) : asText(renderTemplate(template, { id: providerId, message })),
        };
      }
      const code =
        response.error_code === undefined ? undefined : firstJsonPath(item, response.error_code);
      return {
        messageId: message.id,
        outcome: 'rejected',
        // The provider's own words for this item: bounded and masked like any answer text.
        reason: answerExcerpt(asText(code ?? state ?? 'rejected'), 100),
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

function withFields(rendered: unknown, fields: Readonly<Record<string, string>>): unknown {
  if (Object.keys(fields).length === 0) return rendered;
  return { ...fields, ...(typeof rendered === 'object' && rendered !== null ? rendered : {}) };
}

function redact(fields: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.keys(fields).map((name) => [name, '[redacted]']));
}
