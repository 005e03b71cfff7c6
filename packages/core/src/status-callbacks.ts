import type { MessageStatus, StatusEvent } from './message.ts';
import { retryDelayMs, type RetryPolicy } from './retry.ts';

/**
 * What a tenant's callback URL receives for one status change of one message, as JSON.
 * `event_id` is stable (`<message id>:<seq>`): a callback is delivered at least once,
 * and a receiver that saw an event id before drops the repeat.
 */
export interface CallbackPayload {
  readonly event_id: string;
  /** The position of the change in the message's timeline: callbacks of a message go in this order. */
  readonly seq: number;
  readonly message_id: string;
  /** The ingest batch the message came in. */
  readonly batch_id: string;
  /** Deprecated: the same as `batch_id`, kept for one release (until 0.3). */
  readonly request_id: string;
  readonly tenant_id: string;
  readonly status: MessageStatus;
  /** The status the last callback of this message reported; null for the first. */
  readonly previous_status: MessageStatus | null;
  /** When the change happened (ISO 8601). */
  readonly at: string;
  /** `<tenant>/<provider>` that sent it, where the change has one; else null. */
  readonly provider: string | null;
  readonly reason: string | null;
  /** The strategy step (cascade) the change belongs to; absent: 0. */
  readonly step: number;
}

/** What a message's timeline needs to be turned into callbacks. */
export interface CallbackSource {
  readonly id: string;
  readonly tenant_id: string;
  readonly batch_id: string;
  readonly timeline: readonly StatusEvent[];
}

/**
 * `sending` is journaled together with its batch's outcome, at the time the request left:
 * it tells a tenant nothing the `sent` or `failed` right after it does not, so it is not
 * called back (every other status change is).
 */
const SILENT: ReadonlySet<MessageStatus> = new Set(['sending']);

/**
 * The callbacks of the timeline events from index `from` on: one per status change a
 * tenant is told about, each with its event id and the status the previous callback of
 * the message reported (earlier events included, so a relay that resumes half-way
 * reports the same previous status as one that did not stop).
 */
export function callbackPayloads(message: CallbackSource, from: number): CallbackPayload[] {
  const payloads: CallbackPayload[] = [];
  let previous: MessageStatus | null = null;
  message.timeline.forEach((event, seq) => {
    if (SILENT.has(event.status)) return;
    if (seq >= from) {
      payloads.push({
        event_id: `${message.id}:${seq}`,
        seq,
        message_id: message.id,
        batch_id: message.batch_id,
        request_id: message.batch_id,
        tenant_id: message.tenant_id,
        status: event.status,
        previous_status: previous,
        at: new Date(event.at).toISOString(),
        provider: event.provider ?? null,
        reason: event.reason ?? null,
        step: event.step ?? 0,
      });
    }
    previous = event.status;
  });
  return payloads;
}

/** When callbacks stop being retried and end `abandoned`. */
export interface CallbackRetryPolicy extends RetryPolicy {
  /** A callback older than this (since its status change was relayed) is not tried again, ms. */
  readonly maxAgeMs: number;
}

/**
 * Defaults: 12 attempts, 5 s doubling to at most 1 h (with jitter: about 5 s, 10 s, 20 s,
 * 40 s, 80 s, 160 s, 320 s, 640 s, 1 280 s, 2 560 s, 3 600 s apart: some 2.4 h in all),
 * and never after 24 h.
 */
export const DEFAULT_CALLBACK_RETRY_POLICY: CallbackRetryPolicy = Object.freeze({
  baseDelayMs: 5000,
  maxDelayMs: 3_600_000,
  maxAttempts: 12,
  maxAgeMs: 86_400_000,
});

/**
 * What follows a failed attempt number `attempt` of a callback relayed at `createdAt`:
 * the time of the next attempt, or null when it is given up (`abandoned`): the attempts
 * are used up, or the next one would fall after its maximum age. A receiver's
 * `Retry-After` is honoured, within the same limits.
 */
export function nextCallbackAttempt(
  attempt: number,
  createdAt: Date,
  now: Date,
  policy: CallbackRetryPolicy,
  retryAfterMs = 0,
  random: () => number = Math.random,
): Date | null {
  if (attempt >= policy.maxAttempts) return null;
  const next = new Date(now.getTime() + retryDelayMs(attempt, policy, retryAfterMs, random));
  return next.getTime() - createdAt.getTime() > policy.maxAgeMs ? null : next;
}
