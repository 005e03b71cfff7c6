// Cascade decisions as functions of plain data: which step a message is on, what it
// says there, whether and where it moves on, and when a receipt timer comes due. The
// dispatcher (moving on after failures and missing receipts) and ingest (undelivered
// receipts) carry them out.
import type { Channel, MessageRequest } from './message-schema.ts';
import type { MessageStatus, QueuedMessage } from './message.ts';
import type { Strategy, StrategyStep } from './strategy.ts';

/** Why a cascade may move on from a step. */
export type AdvanceCause = 'failure' | 'undelivered' | 'no_receipt';

/** The step a queued message is to be sent by (its `step`, or the first). */
export function currentStepIndex(message: Pick<QueuedMessage, 'step'>): number {
  return message.step ?? 0;
}

/** The channel step `index` sends on: its own, else the strategy's. */
export function stepChannel(strategy: Strategy, index: number): Channel {
  return strategy.steps[index]?.channel ?? strategy.channel;
}

/**
 * What a message says on a step: its `content_by_channel` entry for the step's channel
 * (whole, not merged: an e-mail body must not inherit the SMS text), else its `content`;
 * then the step's own `content` fields laid over it. When a template rendered the step
 * at intake and the step still sends on the channel it was rendered for, the template's
 * fields replace that content's `subject`, `text` and `html` (as intake laid them; the
 * rest, such as `template_id` and `variables`, stays).
 */
export function stepContent(
  message: Pick<QueuedMessage, 'content' | 'content_by_channel' | 'rendered_steps'>,
  strategy: Strategy,
  index: number,
): MessageRequest['content'] {
  const channel = stepChannel(strategy, index);
  const base = message.content_by_channel?.[channel] ?? message.content;
  const own = strategy.steps[index]?.content;
  const content = own === undefined ? base : { ...base, ...own };
  const rendered = message.rendered_steps?.find((entry) => entry.step === index && entry.channel === channel);
  if (rendered === undefined) return content;
  const { subject: _subject, text: _text, html: _html, ...kept } = content;
  return { ...kept, ...rendered.content };
}

/**
 * The step a message moves on to from step `index` for `cause`, or undefined when it
 * does not move on (no rule, or no such step). `no_receipt` steps move on after failures
 * and undelivered receipts too: a message that was refused will not be delivered either.
 */
export function nextStepIndex(strategy: Strategy, index: number, cause: AdvanceCause): number | undefined {
  const rule = strategy.steps[index]?.next;
  if (rule === undefined || index + 1 >= strategy.steps.length) return undefined;
  if (cause === 'no_receipt' && rule.on !== 'no_receipt') return undefined;
  return index + 1;
}

/**
 * When a message sent by `step` at `sentAt` (ms) has waited long enough for its
 * delivery receipt, or undefined when the step waits for none.
 */
export function receiptDeadline(step: StrategyStep | undefined, sentAt: number): number | undefined {
  if (step?.next?.on !== 'no_receipt') return undefined;
  return sentAt + step.next.within_seconds * 1000;
}

/**
 * The queued message that continues on step `next`: same id, pinned to the strategy (by
 * name and version) it was first routed with, its attempts counted afresh, in the lane
 * the step names (else its own).
 */
export function messageForStep(
  message: QueuedMessage,
  strategy: Strategy,
  version: number,
  next: number,
): QueuedMessage {
  const { attempts: _attempts, receipt_timer: _timer, ...rest } = message;
  return {
    ...rest,
    strategy: strategy.name,
    strategy_version: version,
    step: next,
    priority: strategy.steps[next]?.priority ?? message.priority,
  };
}

/** What a receipt timer does when it comes due, by the message's state in the journal. */
export type TimerVerdict =
  /** Still `sent` on the timer's step: move on to the next step (if the step says so). */
  | 'move_on'
  /** An undelivered receipt already moved it on to the next step: send that step now. */
  | 'send_next'
  /** Delivered, failed, cancelled, or already past this step: nothing to do. */
  | 'drop';

export function timerVerdict(
  journaled: { readonly status: MessageStatus; readonly step?: number | undefined } | undefined,
  timerStep: number,
): TimerVerdict {
  if (journaled === undefined) return 'drop';
  const step = journaled.step ?? 0;
  if (journaled.status === 'sent' && step === timerStep) return 'move_on';
  if (journaled.status === 'next_step' && step === timerStep + 1) return 'send_next';
  return 'drop';
}

/** The reason a `next_step` event gives. */
export function advanceReason(cause: AdvanceCause, step: StrategyStep | undefined, detail?: string): string {
  switch (cause) {
    case 'no_receipt':
      return `no delivery receipt within ${step?.next?.on === 'no_receipt' ? step.next.within_seconds : '?'} s`;
    case 'undelivered':
      return `undelivered: ${detail ?? 'no reason given'}`;
    case 'failure':
      return detail ?? 'the step failed';
  }
}
