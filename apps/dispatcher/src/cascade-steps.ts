import {
  currentStepIndex,
  nextStepIndex,
  receiptDeadline,
  stepContent,
  type QueuedMessage,
  type StatusEvent,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { LaneEntry } from '@commstrat/queue';
import type { SettledSet } from './batch-recorder.ts';

/** The `next_step` event of a message moving on to step `next`. */
export function nextStepEvent(routing: Routing, next: number, now: number, reason: string): StatusEvent {
  return {
    status: 'next_step',
    at: new Date(now),
    reason: `${reason}; next: step ${next}`,
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
  const due = receiptDeadline(routing.strategy.steps[step], sentAt);
  if (due === undefined || nextStepIndex(routing.strategy, step, 'no_receipt') === undefined) return;
  settled.later({ ...entry.message, receipt_timer: step }, due);
}

/**
 * The message as its current step's provider gets it: with the content for the step's
 * channel, or what its template rendered at intake. The same object when nothing differs (most strategies), so sending costs no copy.
 */
export function messageToSend(entry: LaneEntry, routing: Routing): QueuedMessage {
  const { message } = entry;
  const step = currentStepIndex(message);
  if (message.content_by_channel === undefined && message.rendered_steps === undefined && routing.strategy.steps[step]?.content === undefined) return message;
  return { ...message, content: stepContent(message, routing.strategy, step) };
}
