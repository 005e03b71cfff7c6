import {
  newId,
  retryDelayMs,
  stepRetryPolicy,
  type ErrorCode,
  type MessageStatus,
  type QueuedMessage,
  type StatusEvent,
  type StrategyStep,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { Journal, ProviderExchange, StatusChange } from '@commstrat/journal';
import type { DispatcherMetrics } from '@commstrat/observability';
import type { SendResult } from '@commstrat/providers';
import type { DeadLetterInput, LaneEntry, LaneQueue } from '@commstrat/queue';
import type { Work } from './batcher.ts';
import { failOrMoveOn, scheduleReceiptTimer } from './cascade-steps.ts';
import type { ProviderHandle } from './provider-registry.ts';

export function change(messageId: string, status: MessageStatus, now: number, reason: string): StatusChange {
  return { messageId, event: { status, at: new Date(now), reason } };
}

/**
 * What a set of entries came to, written in bulk — provider exchanges and status
 * changes to MongoDB, retries and dead letters to Redis — and only then acknowledged.
 */
export class SettledSet {
  private readonly changes: StatusChange[] = [];
  private readonly exchanges: ProviderExchange[] = [];
  private readonly retries: { message: QueuedMessage; dueAt: number }[] = [];
  private readonly deadLetters: DeadLetterInput[] = [];
  private readonly acks: LaneEntry[] = [];
  private readonly dropped: string[] = [];
  private readonly journal: Journal;
  private readonly lanes: LaneQueue;

  constructor(journal: Journal, lanes: LaneQueue) {
    this.journal = journal;
    this.lanes = lanes;
  }

  /** Cancelled by the tenant before it was claimed: acknowledged, its cancel marker cleared. */
  drop(entry: LaneEntry): void {
    this.acks.push(entry);
    this.dropped.push(entry.message.id);
  }

  finish(entry: LaneEntry, statusChange: StatusChange): void {
    this.changes.push(statusChange);
    this.acks.push(entry);
  }

  /** Back to the delayed set until `dueAt` (window, retry), then acknowledged. */
  defer(entry: LaneEntry, dueAt: number, statusChange: StatusChange, message: QueuedMessage = entry.message): void {
    this.retries.push({ message, dueAt });
    this.finish(entry, statusChange);
  }

  /** `code` and `provider` (absent: none was available) are what a replay filters on. */
  deadLetter(entry: LaneEntry, message: QueuedMessage, statusChange: StatusChange, code: ErrorCode, provider?: string): void {
    this.deadLetters.push({ message, reason: statusChange.event.reason ?? '', code, ...(provider === undefined ? {} : { provider }) });
    this.finish(entry, statusChange);
  }

  exchange(record: ProviderExchange): void {
    this.exchanges.push(record);
  }

  entries(): readonly LaneEntry[] {
    return this.acks;
  }

  /** Acknowledged with no status change (a cascade timer that has nothing left to do). */
  ack(entry: LaneEntry): void {
    this.acks.push(entry);
  }

  /** Parked in the delayed set until `dueAt` besides what else happens to its entry (a cascade timer). */
  later(message: QueuedMessage, dueAt: number): void {
    this.retries.push({ message, dueAt });
  }

  /** Back to the delayed set until `dueAt` with no status change (a cascade timer not yet due), then acknowledged. */
  requeue(entry: LaneEntry, dueAt: number, message: QueuedMessage = entry.message): void {
    this.retries.push({ message, dueAt });
    this.acks.push(entry);
  }

  /** A status change with no lane operation of its own (`sending`, before the outcome). */
  note(statusChange: StatusChange): void {
    this.changes.push(statusChange);
  }

  /**
   * Journal first, then Redis (deferrals, dead letters, acks: one atomic step): a crash
   * in between means a resend, never a loss.
   */
  async commit(): Promise<void> {
    await this.journal.recordOutcomes(this.exchanges, this.changes);
    await this.lanes.settle({ deferred: this.retries, deadLetters: this.deadLetters, acks: this.acks, dropped: this.dropped });
  }
}

/** Turns provider answers into status changes, retries, dead letters and metrics. */
export class BatchRecorder {
  private readonly deps: { journal: Journal; lanes: LaneQueue; metrics: DispatcherMetrics };
  private readonly random: () => number;

  constructor(deps: { journal: Journal; lanes: LaneQueue; metrics: DispatcherMetrics }, random: () => number) {
    this.deps = deps;
    this.random = random;
  }

  /** A new set, written to the given lanes' connection (default: the shared one). */
  begin(lanes: LaneQueue = this.deps.lanes): SettledSet {
    return new SettledSet(this.deps.journal, lanes);
  }

  record(settled: SettledSet, provider: ProviderHandle, works: readonly Work[], result: SendResult, now: number): void {
    const { metrics } = this.deps;
    const label = result.error === undefined ? 'ok' : result.error.retryable ? 'retryable' : 'permanent';
    metrics.batchSize.observe({ provider: provider.key }, works.length);
    metrics.providerRequestDuration.observe({ provider: provider.key, outcome: label }, result.exchange.durationMs / 1000);
    const exchangeId = newId();
    const providerIds = new Map(
      result.outcomes.flatMap((item) => (item.outcome === 'accepted' ? [[item.messageId, item.providerMessageId]] : [])),
    );
    // One event per strategy version and step in the batch (usually one): when it left
    // for the provider, and what routed it.
    const sendings = new Map<string, StatusEvent>();
    for (const work of works) {
      const { name } = work.routing.strategy;
      const step = work.entry.message.step ?? 0;
      const key = `${name}\u0000${work.routing.version}\u0000${step}`;
      let sending = sendings.get(key);
      if (sending === undefined) {
        sending = {
          status: 'sending',
          at: result.exchange.startedAt,
          provider: provider.config.id,
          exchange_id: exchangeId,
          strategy: name,
          strategy_version: work.routing.version,
          step,
        };
        sendings.set(key, sending);
      }
      settled.note({ messageId: work.entry.message.id, event: sending });
    }
    settled.exchange({
      _id: exchangeId,
      provider: provider.key,
      message_ids: works.map((work) => work.entry.message.id),
      request: result.exchange.request,
      response: result.exchange.response,
      http_status: result.exchange.httpStatus,
      outcome: result.error === undefined ? 'accepted' : result.error.retryable ? 'error' : 'rejected',
      started_at: result.exchange.startedAt,
      duration_ms: result.exchange.durationMs,
      provider_message_ids: works.map((work) => providerIds.get(work.entry.message.id) ?? null),
    });

    if (result.error === undefined) {
      const byId = new Map(works.map((work) => [work.entry.message.id, work]));
      // The same event for the whole batch (one per step), so the batch is one journal
      // update; the journal picks each message's provider id from the exchange record.
      const sentEvents = new Map<number, StatusEvent>();
      const sent = (step: number): StatusEvent => {
        let event = sentEvents.get(step);
        if (event === undefined) {
          event = { status: 'sent', at: new Date(now), provider: provider.config.id, exchange_id: exchangeId, step };
          sentEvents.set(step, event);
        }
        return event;
      };
      const counts = { accepted: 0, rejected: 0 };
      for (const item of result.outcomes) {
        const work = byId.get(item.messageId);
        if (work === undefined) continue;
        counts[item.outcome] += 1;
        if (item.outcome === 'accepted') {
          settled.finish(work.entry, { messageId: item.messageId, event: sent(work.entry.message.step ?? 0) });
          scheduleReceiptTimer(settled, work.entry, work.routing, now);
        } else {
          const failed = change(item.messageId, 'failed', now, `provider ${provider.config.id} rejected it: ${item.reason}`);
          this.counted(failOrMoveOn(settled, work.entry, work.routing, failed, now));
        }
      }
      for (const [outcome, count] of Object.entries(counts)) {
        if (count > 0) metrics.messagesDispatched.inc({ provider: provider.key, outcome }, count);
      }
      return;
    }

    const error = result.error;
    metrics.messagesDispatched.inc({ provider: provider.key, outcome: 'error' }, works.length);
    for (const work of works) {
      if (!error.retryable) {
        this.counted(failOrMoveOn(settled, work.entry, work.routing, change(work.entry.message.id, 'failed', now, error.message), now));
        continue;
      }
      const retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
      this.retryOrGiveUp(settled, work.entry, work.step, now, error.message, provider.key, retryAfterMs, 'retry', error.code, work.routing);
    }
  }

  private counted(outcome: 'moved_on' | 'failed'): 'moved_on' | 'failed' {
    if (outcome === 'moved_on') this.deps.metrics.cascadeMoves.inc({ reason: 'failure' });
    return outcome;
  }

  /**
   * Another attempt after back-off with jitter, or — attempts exhausted — the next step
   * of a cascade (`routing` given and its step says so), else the dead-letter stream.
   */
  retryOrGiveUp(
    settled: SettledSet,
    entry: LaneEntry,
    step: StrategyStep,
    now: number,
    reason: string,
    providerKey: string,
    retryAfterMs: number,
    deferral: 'retry' | 'no_provider' = 'retry',
    code: ErrorCode = 'provider_unavailable',
    routing?: Routing,
  ): void {
    const policy = stepRetryPolicy(step);
    const attempts = (entry.message.attempts ?? 0) + 1;
    const message = { ...entry.message, attempts };
    if (attempts >= policy.maxAttempts) {
      const failed = change(message.id, 'failed', now, `gave up after ${attempts} attempts: ${reason}`);
      const giveUp = () => {
        this.deps.metrics.deadLettered.inc({ provider: providerKey });
        settled.deadLetter(entry, message, failed, code, providerKey === 'none' ? undefined : providerKey);
      };
      this.counted(failOrMoveOn(settled, entry, routing, failed, now, giveUp));
      return;
    }
    const dueAt = now + retryDelayMs(attempts, policy, retryAfterMs, this.random);
    this.deps.metrics.retries.inc({ provider: providerKey });
    this.deps.metrics.deferred.inc({ reason: deferral });
    // The due time differs per message (jitter) and stays out of the reason, so a failed
    // batch is one journal write.
    settled.defer(entry, dueAt, change(message.id, 'scheduled', now, `attempt ${attempts + 1} after back-off: ${reason}`), message);
  }
}
