import {
  messageForStep,
  newId,
  verdictsFor,
  type ErrorCode,
  type MessageStatus,
  type QueuedMessage,
  type StatusEvent,
  type Verdict,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { ProviderExchange, StatusChange } from '@commstrat/journal';
import type { DispatcherMetrics } from '@commstrat/observability';
import type { SendResult } from '@commstrat/providers';
import type { DeadLetterInput, LaneEntry } from '@commstrat/queue';
import type { Work } from './batcher.ts';
import { nextStepEvent, scheduleReceiptTimer } from './cascade-steps.ts';
import type { JournalPort, LanePort } from './ports.ts';
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
  private readonly journal: Pick<JournalPort, 'recordOutcomes'>;
  private readonly lanes: Pick<LanePort, 'settle'>;
  /** Critical entries: journaled through the journal's urgent writer, never behind bulk ones. */
  private readonly urgent: boolean;

  constructor(journal: Pick<JournalPort, 'recordOutcomes'>, lanes: Pick<LanePort, 'settle'>, urgent = false) {
    this.journal = journal;
    this.lanes = lanes;
    this.urgent = urgent;
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
    await this.journal.recordOutcomes(this.exchanges, this.changes, { urgent: this.urgent });
    await this.lanes.settle({ deferred: this.retries, deadLetters: this.deadLetters, acks: this.acks, dropped: this.dropped });
  }
}

/** The metric labels of a verdict's message: which provider it was at ('none': none was available). */
export interface VerdictContext {
  readonly providerKey: string;
}

/**
 * Carries out verdicts (packages/core dispatch-decisions.ts) in a settled set and counts
 * them; and turns a provider's answer into verdicts and records it.
 */
export class BatchRecorder {
  private readonly deps: { journal: Pick<JournalPort, 'recordOutcomes'>; lanes: LanePort; metrics: DispatcherMetrics };
  private readonly random: () => number;

  constructor(deps: { journal: Pick<JournalPort, 'recordOutcomes'>; lanes: LanePort; metrics: DispatcherMetrics }, random: () => number) {
    this.deps = deps;
    this.random = random;
  }

  /** A new set, written to the given lanes' connection (default: the shared one); `urgent` for critical entries. */
  begin(lanes: Pick<LanePort, 'settle'> = this.deps.lanes, urgent = false): SettledSet {
    return new SettledSet(this.deps.journal, lanes, urgent);
  }

  /**
   * One message's verdict, as journal and Redis writes in `settled` and metrics. `routing`
   * (the strategy it was routed by) is what a `next_step` verdict moves it on by; `send`
   * and `sent` are the caller's (they need the batcher and the batch's shared events).
   */
  carryOut(settled: SettledSet, entry: LaneEntry, verdict: Verdict, routing: Routing | undefined, now: number, providerKey = 'none'): void {
    const { metrics } = this.deps;
    const { message } = entry;
    switch (verdict.kind) {
      case 'defer': {
        if (verdict.attempts !== undefined) metrics.retries.inc({ provider: providerKey });
        metrics.deferred.inc({ reason: verdict.cause });
        const queued = verdict.attempts === undefined ? message : { ...message, attempts: verdict.attempts };
        settled.defer(entry, verdict.until, change(message.id, 'scheduled', now, verdict.reason), queued);
        return;
      }
      case 'expire':
        metrics.expired.inc();
        settled.finish(entry, change(message.id, 'expired', now, verdict.reason));
        return;
      case 'next_step': {
        if (routing === undefined) throw new Error('a next_step verdict needs the routing it moves on by');
        metrics.cascadeMoves.inc({ reason: 'failure' });
        const event = nextStepEvent(routing, verdict.step, now, verdict.reason);
        settled.defer(entry, now, { messageId: message.id, event }, messageForStep(message, routing.strategy, routing.version, verdict.step));
        return;
      }
      case 'fail': {
        const failed = change(message.id, 'failed', now, verdict.reason);
        const letter = verdict.deadLetter;
        if (letter === undefined) {
          settled.finish(entry, failed);
          return;
        }
        metrics.deadLettered.inc({ provider: letter.provider ?? providerKey });
        settled.deadLetter(entry, { ...message, attempts: letter.attempts }, failed, letter.code, letter.provider);
        return;
      }
      case 'send':
      case 'sent':
        throw new Error(`a ${verdict.kind} verdict is carried out by the dispatcher`);
    }
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

    const verdicts = verdictsFor({
      answer: result,
      messages: works.map((work) => ({ message: work.entry.message, strategy: work.routing.strategy, step: work.step })),
      providerId: provider.config.id,
      providerKey: provider.key,
      now,
      random: this.random,
    });
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
    for (const { messageId, verdict } of verdicts) {
      const work = byId.get(messageId);
      if (work === undefined) continue;
      if (verdict.kind === 'sent') {
        counts.accepted += 1;
        settled.finish(work.entry, { messageId, event: sent(work.entry.message.step ?? 0) });
        scheduleReceiptTimer(settled, work.entry, work.routing, now);
        continue;
      }
      counts.rejected += 1;
      this.carryOut(settled, work.entry, verdict, work.routing, now, provider.key);
    }
    if (result.error === undefined) {
      for (const [outcome, count] of Object.entries(counts)) {
        if (count > 0) metrics.messagesDispatched.inc({ provider: provider.key, outcome }, count);
      }
    } else {
      metrics.messagesDispatched.inc({ provider: provider.key, outcome: 'error' }, works.length);
    }
  }
}
