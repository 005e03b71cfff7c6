import {
  advanceReason,
  currentStepIndex,
  messageForStep,
  nextStepIndex,
  receiptDeadline,
  stepContent,
  type QueuedMessage,
  type StatusEvent,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { StatusChange } from '@commstrat/journal';
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
 * A step that failed for good (attempts spent, provider refused): the message moves on
 * to the next step when its step says so, parked in the delayed set due now so any
 * replica sends it, pinned to its strategy version; otherwise `failed` is recorded.
 * `routing` is undefined when the strategy could not be read: then it fails. `fail`
 * records the failure (default: `failed`; after spent attempts: the dead-letter stream).
 */
export function failOrMoveOn(
  settled: SettledSet,
  entry: LaneEntry,
  routing: Routing | undefined,
  failed: StatusChange,
  now: number,
  fail: () => void = () => settled.finish(entry, failed),
): 'moved_on' | 'failed' {
  const step = currentStepIndex(entry.message);
  const next = routing === undefined ? undefined : nextStepIndex(routing.strategy, step, 'failure');
  if (routing === undefined || next === undefined) {
    fail();
    return 'failed';
  }
  const reason = advanceReason('failure', routing.strategy.steps[step], failed.event.reason);
  const event = nextStepEvent(routing, next, now, reason);
  settled.defer(entry, now, { messageId: entry.message.id, event }, messageForStep(entry.message, routing.strategy, routing.version, next));
  return 'moved_on';
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
 * channel. The same object when nothing differs (most strategies), so sending costs no copy.
 */
export function messageToSend(entry: LaneEntry, routing: Routing): QueuedMessage {
  const { message } = entry;
  const step = currentStepIndex(message);
  if (message.content_by_channel === undefined && routing.strategy.steps[step]?.content === undefined) return message;
  return { ...message, content: stepContent(message, routing.strategy, step) };
}
