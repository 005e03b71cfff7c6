import {
  currentStepIndex,
  messageForStep,
  newId,
  reclaimVerdict,
  verdictsFor,
  type MessageStatus,
  type StatusEvent,
  type StrategyStep,
  type Verdict,
} from '@commstrat/core';
import type { Routing, RoutingCache } from '@commstrat/config';
import type { Journal } from '@commstrat/journal';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { SendResult } from '@commstrat/providers';
import type { LaneEntry } from '@commstrat/queue';
import { nextStepEvent, scheduleReceiptTimer } from './cascade-steps.ts';
import { CascadeTimers } from './cascade-timers.ts';
import { SettledSet, change, type SettleLanes, type Settlement } from './settled-set.ts';

/** What a dispatcher's lifecycle reports. */
export type LifecycleMetrics = Pick<DispatcherMetrics, 'retried' | 'deferred' | 'expired' | 'movedOn' | 'deadLettered' | 'providerRequest' | 'dispatched'>;

export interface DispatchLifecycleDeps {
  readonly journal: Pick<Journal, 'recordOutcomes' | 'findMessages' | 'moveToNextStep'>;
  /** The lanes' shared connection: where a settled set ends unless given another. */
  readonly lanes: SettleLanes;
  readonly routing: Pick<RoutingCache, 'resolve'>;
  readonly metrics: LifecycleMetrics;
  readonly logger: Logger;
  readonly random: () => number;
}

/** A message of a provider request, with the strategy and step it was sent by. */
export interface SentWork {
  readonly entry: LaneEntry;
  readonly routing: Routing;
  readonly step: StrategyStep;
}

/** The provider that answered: its key (`<tenant>/<provider>`) and its configured id. */
export interface AnsweringProvider {
  readonly key: string;
  readonly config: { readonly id: string };
}

/**
 * What becomes of claimed lane entries, as journal writes and lane changes: the one
 * place where the dispatcher's decisions (packages/core dispatch-decisions.ts and
 * cascade.ts) are carried out. Each call adds to a settlement (`begin`), which the
 * dispatcher commits — journal first, then Redis — and only then lets the entries go.
 */
export class DispatchLifecycle {
  private readonly deps: DispatchLifecycleDeps;
  private readonly timers: CascadeTimers;

  constructor(deps: DispatchLifecycleDeps) {
    this.deps = deps;
    this.timers = new CascadeTimers(deps);
  }

  /** A new settlement, written to the given lanes' connection (default: the shared one). */
  begin(lanes: SettleLanes = this.deps.lanes): Settlement {
    return new SettledSet(this.deps.journal, lanes);
  }

  /** Cancelled by the tenant before it was claimed: acknowledged unsent (its journal says cancelled already). */
  drop(settlement: Settlement, entry: LaneEntry): void {
    own(settlement).drop(entry);
  }

  /**
   * One message's verdict, as journal and Redis writes and metrics. `routing` (the
   * strategy it was routed by) is what a `next_step` verdict moves it on by; `send` and
   * `sent` are not carried out here (a send needs the batcher; `sent` comes with the
   * provider's answer, recordAnswer).
   */
  apply(settlement: Settlement, entry: LaneEntry, verdict: Verdict, routing: Routing | undefined, now: number, providerKey = 'none'): void {
    const settled = own(settlement);
    const { metrics } = this.deps;
    const { message } = entry;
    switch (verdict.kind) {
      case 'defer': {
        if (verdict.attempts !== undefined) metrics.retried(providerKey);
        metrics.deferred(verdict.cause);
        const queued = verdict.attempts === undefined ? message : { ...message, attempts: verdict.attempts };
        settled.defer(entry, verdict.until, change(message.id, 'scheduled', now, verdict.reason), queued);
        return;
      }
      case 'expire':
        metrics.expired();
        settled.finish(entry, change(message.id, 'expired', now, verdict.reason));
        return;
      case 'next_step': {
        if (routing === undefined) throw new Error('a next_step verdict needs the routing it moves on by');
        metrics.movedOn('failure');
        const event = nextStepEvent(routing, verdict.step, new Date(now), verdict.reason);
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
        metrics.deadLettered(letter.provider ?? providerKey);
        settled.deadLetter(entry, { ...message, attempts: letter.attempts }, failed, letter.code, letter.provider);
        return;
      }
      case 'send':
      case 'sent':
        throw new Error(`a ${verdict.kind} verdict is not carried out by the lifecycle`);
    }
  }

  /**
   * A provider's answer to one request: the exchange journaled, `sending` then what the
   * answer says of each message (sent, with its receipt timer when its step waits for
   * one; or its verdict carried out), and the request counted. Returns the exchange's id:
   * the provider request's id in the logs.
   */
  recordAnswer(settlement: Settlement, provider: AnsweringProvider, works: readonly SentWork[], result: SendResult, now: number, exchangeId: string = newId()): string {
    const settled = own(settlement);
    const { metrics } = this.deps;
    const label = result.error === undefined ? 'ok' : result.error.retryable ? 'retryable' : 'permanent';
    metrics.providerRequest(provider.key, label, works.length, result.exchange.durationMs / 1000);
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
      random: this.deps.random,
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
      this.apply(settled, work.entry, verdict, work.routing, now, provider.key);
    }
    if (result.error === undefined) {
      for (const [outcome, count] of Object.entries(counts)) {
        if (count > 0) metrics.dispatched(provider.key, outcome, count);
      }
    } else {
      metrics.dispatched(provider.key, 'error', works.length);
    }
    return exchangeId;
  }

  /**
   * Cascade timers that came due (entries with `receipt_timer`), carried out against the
   * journal: those whose message moves on come back as entries to route by their next
   * step now; the others are acknowledged or parked again in `settlement`.
   */
  async timersDue(settlement: Settlement, timers: readonly LaneEntry[], now: number): Promise<LaneEntry[]> {
    return this.timers.handle(timers, now, own(settlement));
  }

  /**
   * Reclaimed entries by their messages' journaled statuses (reclaimVerdict): the ended
   * ones are acknowledged in `settlement`; the sent ones come back as their step's
   * receipt timer; the rest come back as they are, to be planned again.
   */
  reclaimed(settlement: Settlement, entries: readonly LaneEntry[], statuses: ReadonlyMap<string, MessageStatus>): LaneEntry[] {
    const settled = own(settlement);
    const again: LaneEntry[] = [];
    for (const entry of entries) {
      const verdict = reclaimVerdict(entry.message, statuses.get(entry.message.id));
      if (verdict === 'drop') settled.drop(entry);
      else if (verdict === 'as_timer') again.push({ ...entry, message: { ...entry.message, receipt_timer: currentStepIndex(entry.message) } });
      else again.push(entry);
    }
    return again;
  }
}

/** The settled set behind a settlement this package made. */
function own(settlement: Settlement): SettledSet {
  if (!(settlement instanceof SettledSet)) throw new Error('a settlement must come from DispatchLifecycle.begin');
  return settlement;
}
