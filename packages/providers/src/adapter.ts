import { EgressRefusedError, ProviderUnavailableError, type CommstratError, type QueuedMessage } from '@commstrat/core';
import { ProviderMisconfiguredError } from './definition/auth.ts';

/** What a provider said about one message of a batch. */
export type MessageOutcome =
  | { readonly messageId: string; readonly outcome: 'accepted'; readonly providerMessageId: string }
  | { readonly messageId: string; readonly outcome: 'rejected'; readonly reason: string };

/**
 * The raw exchange, journaled as it happened: the bodies as text, byte for byte what
 * went over the wire (a nested document per message would cost the journal 2-4x more).
 */
export interface ExchangeRecord {
  /** The request body as sent. */
  readonly request: string;
  /** The response body as received, or what went wrong when there was none. */
  readonly response: string;
  readonly httpStatus: number | undefined;
  readonly startedAt: Date;
  readonly durationMs: number;
}

/**
 * The result of one provider request. `error` is set when the request as a whole
 * failed; it is already classified (ProviderUnavailableError: retry or fail over;
 * ProviderRejectedError: permanent) and `outcomes` is then empty.
 */
export interface SendResult {
  readonly exchange: ExchangeRecord;
  readonly outcomes: readonly MessageOutcome[];
  readonly error?: CommstratError;
}

/** One configured integration with a delivery provider. */
export interface ProviderAdapter {
  /** Provider id as configured, used in metrics, logs and the journal. */
  readonly id: string;
  send(messages: readonly QueuedMessage[], signal?: AbortSignal): Promise<SendResult>;
  /**
   * Messages with different keys must not share a request (an API that sends one text
   * to many numbers). Absent: any messages may share one.
   */
  batchKey?(message: QueuedMessage): string;
  /** Closes its connections; sends after this fail. */
  close(): void;
}

/**
 * A request that got no answer: timed out, or the provider unreachable, which is
 * retryable; or refused by the egress policy (an endpoint aimed at an internal address),
 * which no retry cures: `misconfigured`, until the row or COMMSTRAT_EGRESS_ALLOW changes.
 */
export function unanswered(providerId: string, cause: unknown, timedOut: boolean): { error: CommstratError; response: string } {
  if (cause instanceof EgressRefusedError) return egressRefusal(providerId, cause);
  const what = timedOut ? 'did not answer in time' : 'is unreachable';
  return {
    error: new ProviderUnavailableError(`provider ${providerId} ${what}`, { cause }),
    response: JSON.stringify({ error: cause instanceof Error ? cause.message : String(cause) }),
  };
}

/** The result of one HTTP request: its exchange as it went, and either outcomes or an error. */
export function sendResult(
  request: string,
  response: string,
  httpStatus: number | undefined,
  startedAt: Date,
  outcomes: readonly MessageOutcome[],
  error: CommstratError | undefined,
): SendResult {
  const exchange = { request, response, httpStatus, startedAt, durationMs: Date.now() - startedAt.getTime() };
  return error === undefined ? { exchange, outcomes } : { exchange, outcomes: [], error };
}

/** An egress refusal as a send error: misconfigured (permanent), and what the exchange records. */
export function egressRefusal(providerId: string, cause: EgressRefusedError): { error: CommstratError; response: string } {
  return {
    error: new ProviderMisconfiguredError(`provider ${providerId}: the endpoint ${cause.message}`, cause, 'check its endpoint'),
    response: JSON.stringify({ error: `egress refused (${cause.reason})` }),
  };
}
