import {
  CommstratError,
  advanceReason,
  messageForStep,
  nextStepIndex,
  receiptDeadline,
  timerVerdict,
  type Message,
} from '@commstrat/core';
import type { RoutingCache } from '@commstrat/config';
import type { Journal } from '@commstrat/journal';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { LaneEntry } from '@commstrat/queue';
import { nextStepEvent } from './cascade-steps.ts';
import type { SettledSet } from './settled-set.ts';

export interface CascadeTimerDeps {
  readonly journal: Pick<Journal, 'findMessages' | 'moveToNextStep'>;
  readonly routing: Pick<RoutingCache, 'resolve'>;
  readonly logger: Logger;
  readonly metrics: Pick<DispatcherMetrics, 'movedOn'>;
  readonly random: () => number;
}

/**
 * Carries out cascade timers that came due (lane entries whose message has
 * `receipt_timer`): for each, one indexed read of the journal says whether the message
 * is still `sent` on the timer's step. If so it moves on, by a conditional write on its
 * status and step, so a `delivered` receipt that lands first keeps it where it is; if an
 * undelivered receipt already moved it on, the timer sends the next step (the receipt
 * path leaves that to the timer, so exactly one entry sends it); otherwise the timer is
 * dropped. What moves on comes back as entries to route by the next step, at once.
 */
export class CascadeTimers {
  private readonly deps: CascadeTimerDeps;

  constructor(deps: CascadeTimerDeps) {
    this.deps = deps;
  }

  async handle(timers: readonly LaneEntry[], now: number, settled: SettledSet): Promise<LaneEntry[]> {
    if (timers.length === 0) return [];
    let journaled: Map<string, Message>;
    try {
      journaled = new Map((await this.deps.journal.findMessages(timers.map((t) => t.message.id))).map((m) => [m.id, m]));
    } catch (error) {
      this.deps.logger.warn('journal unavailable; cascade timers wait', { count: timers.length, error: String(error) });
      for (const timer of timers) settled.requeue(timer, this.retryAt(now));
      return [];
    }
    const moved = await Promise.all(timers.map((timer) => this.one(timer, journaled.get(timer.message.id), now, settled)));
    return moved.filter((entry): entry is LaneEntry => entry !== undefined);
  }

  private async one(timer: LaneEntry, message: Message | undefined, now: number, settled: SettledSet): Promise<LaneEntry | undefined> {
    const step = timer.message.receipt_timer ?? 0;
    let verdict = timerVerdict(message, step);
    if (verdict === 'drop') {
      settled.ack(timer);
      return undefined;
    }
    try {
      const routing = await this.deps.routing.resolve(timer.message.tenant_id, timer.message);
      const next = nextStepIndex(routing.strategy, step, 'no_receipt');
      if (next === undefined) {
        settled.ack(timer);
        return undefined;
      }
      if (verdict === 'move_on') {
        // Due by the journal's own `sent` time: a timer made from a reclaimed entry, or
        // one promoted early, waits for the rest.
        const due = receiptDeadline(routing.strategy.steps[step], lastSentAt(message) ?? now) ?? now;
        if (due > now) {
          settled.requeue(timer, due);
          return undefined;
        }
        const reason = advanceReason('no_receipt', routing.strategy.steps[step]);
        const event = nextStepEvent(routing, next, new Date(now), reason);
        if (await this.deps.journal.moveToNextStep(timer.message.id, step, event)) {
          this.deps.metrics.movedOn('no_receipt');
        } else {
          // Someone else moved first: an undelivered receipt (then the timer still sends),
          // or a delivered one (then nothing is sent). Read again to know which.
          const [again] = await this.deps.journal.findMessages([timer.message.id]);
          verdict = timerVerdict(again, step) === 'send_next' ? 'send_next' : 'drop';
          if (verdict === 'drop') {
            settled.ack(timer);
            return undefined;
          }
        }
      }
      return { ...timer, message: messageForStep(timer.message, routing.strategy, routing.version, next) };
    } catch (error) {
      if (error instanceof CommstratError && !error.retryable) {
        // The pinned strategy version cannot be found: no later step can be routed.
        this.deps.logger.error('cascade timer cannot be routed; the message stays as it is', {
          message_id: timer.message.id,
          error: error.message,
        });
        settled.ack(timer);
      } else {
        this.deps.logger.warn('cascade timer waits for the journal or the configuration store', {
          message_id: timer.message.id,
          error: error instanceof Error ? error.message : String(error),
        });
        settled.requeue(timer, this.retryAt(now));
      }
      return undefined;
    }
  }

  /** When a timer that could not be carried out comes back: 2-4 s, jittered. */
  private retryAt(now: number): number {
    return now + TIMER_RETRY_MS + Math.floor(this.deps.random() * TIMER_RETRY_MS);
  }
}

const TIMER_RETRY_MS = 2000;

function lastSentAt(message: Message | undefined): number | undefined {
  const sent = message?.timeline.findLast((event) => event.status === 'sent');
  return sent === undefined ? undefined : new Date(sent.at).getTime();
}
