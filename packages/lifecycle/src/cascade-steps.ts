import { currentStepIndex, nextStepIndex, receiptDeadline, type StatusEvent } from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { LaneEntry } from '@commstrat/queue';
import type { SettledSet } from './settled-set.ts';

/**
 * The `next_step` event of a message moving on to step `next`, whoever moves it (a
 * failed step, a receipt timer, an undelivered receipt naming `provider`).
 */
export function nextStepEvent(routing: Routing, next: number, at: Date, reason: string, provider?: string): StatusEvent {
  return {
    status: 'next_step',
    at,
    reason: `${reason}; next: step ${next}`,
    ...(provider === undefined ? {} : { provider }),
    step: next,
    strategy: routing.strategy.name,
    strategy_version: routing.version,
  };
}

/**
 * After a step was sent: when it waits for a delivery receipt (`no_receipt`), a timer in
 * the delayed set, due when the wait is over, carrying the message and its step. No
 * replica holds it in memory; whichever claims it when due decides (see CascadeTimers).
 */
export function scheduleReceiptTimer(settled: SettledSet, entry: LaneEntry, routing: Routing, sentAt: number): void {
  const step = currentStepIndex(entry.message);
  const due = receiptTimerDue(routing, step, sentAt);
  if (due !== undefined) settled.later({ ...entry.message, receipt_timer: step }, due);
}

/**
 * When the receipt timer of a message sent by `step` at `sentAt` (the journal's `sent`
 * time) is due, or undefined when the step parks none. The score the timer is parked
 * at, so a receipt can find it again (LaneWriter.advanceTimer).
 */
export function receiptTimerDue(routing: Routing, step: number, sentAt: number): number | undefined {
  const due = receiptDeadline(routing.strategy.steps[step], sentAt);
  return due === undefined || nextStepIndex(routing.strategy, step, 'no_receipt') === undefined ? undefined : due;
}
