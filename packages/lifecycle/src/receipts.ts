import {
  CommstratError,
  DependencyUnavailableError,
  advanceReason,
  messageForStep,
  nextStepIndex,
  toQueuedMessage,
  type Message,
  type Receipt,
} from '@commstrat/core';
import type { RoutingCache } from '@commstrat/config';
import type { Journal, ReceiptOutcome } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { LaneWriter } from '@commstrat/queue';
import { nextStepEvent, receiptTimerDue } from './cascade-steps.ts';

export interface ReceiptLifecycleDeps {
  readonly journal: Pick<Journal, 'findByProviderMessageIds' | 'moveToNextStep' | 'applyReceipts'>;
  readonly routing: Pick<RoutingCache, 'resolve'>;
  readonly lanes: Pick<LaneWriter, 'advanceTimer' | 'defer'>;
}

/**
 * What became of one receipt: the journal's answer (applyReceipts), or, for an
 * undelivered receipt on a cascade step that moves on, `moved` (the message moved on to
 * its next step) or `held` (not applied now: its strategy could not be read).
 */
export type ReceiptResult = ReceiptOutcome | 'moved' | 'held';

/**
 * Delivery receipts carried out: an undelivered receipt for a message on a cascade step
 * that moves on moves it to its next step, instead of ending it `failed`; every other
 * receipt ends its message `delivered` or `failed` (Journal.applyReceipts).
 */
export class ReceiptLifecycle {
  private readonly deps: ReceiptLifecycleDeps;

  constructor(deps: ReceiptLifecycleDeps) {
    this.deps = deps;
  }

  /**
   * Applies receipts of one of the tenant's providers; the result of each, in order.
   * Throws DependencyUnavailableError when the journal or Redis cannot be written.
   */
  async apply(tenantId: string, provider: string, receipts: readonly Receipt[], now: Date, logger: Logger): Promise<ReceiptResult[]> {
    const cascaded = await this.moveOnUndelivered(tenantId, provider, receipts, now, logger).catch((cause: unknown) => {
      throw new DependencyUnavailableError('journal (MongoDB) or lanes (Redis)', cause);
    });
    const rest = receipts.flatMap((receipt, index) => (cascaded.has(index) ? [] : [{ receipt, index }]));
    const results: ReceiptResult[] = receipts.map((_receipt, index) => cascaded.get(index) ?? 'unknown');
    if (rest.length === 0) return results;
    const outcomes = await this.deps.journal.applyReceipts(tenantId, provider, rest.map(({ receipt }) => receipt), now).catch((cause: unknown) => {
      throw new DependencyUnavailableError('journal (MongoDB)', cause);
    });
    rest.forEach(({ index }, i) => (results[index] = outcomes[i] ?? 'unknown'));
    return results;
  }

  /**
   * Undelivered receipts for messages on a cascade step that moves on: each message moves
   * to its next step (a conditional write on `sent` and its step, so it races safely with
   * the step's own receipt timer and a delivered receipt). Returns what became of the
   * receipts it took, by index; the others go the usual way.
   *
   * Who sends the next step: on a `no_receipt` step the message's receipt timer is already
   * in the delayed set, so the timer is brought forward to now and the dispatcher that
   * claims it sends the next step (the timer is the one entry that ever does, whichever
   * of the two moved the message). On a `failure` step there is no timer, and the next
   * step is parked in the delayed set due now.
   */
  private async moveOnUndelivered(
    tenantId: string,
    provider: string,
    receipts: readonly Receipt[],
    now: Date,
    logger: Logger,
  ): Promise<Map<number, 'moved' | 'held'>> {
    const moved = new Map<number, 'moved' | 'held'>();
    const undelivered = receipts.flatMap((receipt, index) => (receipt.status === 'undelivered' ? [{ receipt, index }] : []));
    if (undelivered.length === 0) return moved;
    const messages = await this.deps.journal.findByProviderMessageIds(
      tenantId,
      provider,
      undelivered.map(({ receipt }) => receipt.provider_message_id),
    );
    const byProviderId = new Map(messages.map((message) => [message.provider_message_id, message]));
    const seen = new Set<string>();
    for (const { receipt, index } of undelivered) {
      const message = byProviderId.get(receipt.provider_message_id);
      if (message === undefined || message.status !== 'sent' || message.strategy_version === undefined || seen.has(message.id)) continue;
      seen.add(message.id);
      const outcome = await this.moveOn(message, receipt, now, logger);
      if (outcome !== undefined) moved.set(index, outcome);
    }
    return moved;
  }

  private async moveOn(message: Message, receipt: Receipt, now: Date, logger: Logger): Promise<'moved' | 'held' | undefined> {
    let routing;
    try {
      routing = await this.deps.routing.resolve(message.tenant_id, { strategy: message.strategy, strategy_version: message.strategy_version });
    } catch (error) {
      if (error instanceof CommstratError && error.retryable) {
        // The configuration store is down and this strategy is not held: the receipt is
        // not applied, so the message stays `sent` (a no_receipt timer still moves it on).
        logger.warn('undelivered receipt left unapplied: strategy unreadable', { message_id: message.id, error: error.message });
        return 'held';
      }
      return undefined; // its strategy is gone: the receipt ends it failed, as without a cascade
    }
    const step = message.step ?? 0;
    const next = nextStepIndex(routing.strategy, step, 'undelivered');
    if (next === undefined) return undefined;
    const event = nextStepEvent(routing, next, now, advanceReason('undelivered', routing.strategy.steps[step], receipt.error), message.provider);
    // Lost to a timer or another receipt: that one carries on, and this receipt is late.
    if (!(await this.deps.journal.moveToNextStep(message.id, step, event))) return undefined;
    if (routing.strategy.steps[step]?.next?.on === 'no_receipt') {
      // The timer was parked at the step's wait after the journaled `sent`. Not yet parked
      // (its batch is still being settled), parked at another time (it waited for the
      // journal), or unreachable Redis: the timer then comes due at its own time and
      // sends the next step then.
      const sent = message.timeline.findLast((event) => event.status === 'sent' && (event.step ?? 0) === step);
      const due = sent === undefined ? undefined : receiptTimerDue(routing, step, new Date(sent.at).getTime());
      if (due !== undefined) {
        await this.deps.lanes.advanceTimer(message.id, due, now.getTime()).catch((error: unknown) => {
          logger.warn('could not bring a cascade timer forward; it comes due at its time', { message_id: message.id, error: String(error) });
        });
      }
      return 'moved';
    }
    try {
      await this.deps.lanes.defer([{ message: messageForStep(toQueuedMessage(message), routing.strategy, routing.version, next), dueAt: now.getTime() }]);
    } catch (error) {
      // The journal says next_step and nothing will send it: say so loudly, with the id, for a redrive.
      logger.error('message moved on by a receipt but its next step could not be queued', { message_id: message.id, error: String(error) });
      throw error;
    }
    return 'moved';
  }
}
