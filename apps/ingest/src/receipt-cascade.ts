import {
  CommstratError,
  advanceReason,
  messageForStep,
  nextStepIndex,
  toQueuedMessage,
  type Message,
  type Receipt,
  type StatusEvent,
} from '@commstrat/core';
import type { RoutingCache } from '@commstrat/config';
import type { Journal } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { LaneQueue } from '@commstrat/queue';

export interface ReceiptCascadeDeps {
  readonly journal: Pick<Journal, 'findByProviderMessageIds' | 'moveToNextStep'>;
  readonly routing: Pick<RoutingCache, 'resolve'>;
  readonly lanes: Pick<LaneQueue, 'advance' | 'defer'>;
  readonly logger: Logger;
}

/**
 * Undelivered receipts for messages on a cascade step that moves on: each message moves
 * to its next step (a conditional write on `sent` and its step, so it races safely with
 * the step's own receipt timer and a delivered receipt) instead of ending `failed`.
 * Returns what became of the receipts it took, by index: `moved` (the message moved
 * on), `held` (not applied now: the strategy could not be read); the others go the
 * usual way (Journal.applyReceipts).
 *
 * Who sends the next step: on a `no_receipt` step the message's receipt timer is already
 * in the delayed set, so the timer is brought forward to now and the dispatcher that
 * claims it sends the next step (the timer is the one entry that ever does, whichever
 * of the two moved the message). On a `failure` step there is no timer, and the next
 * step is parked in the delayed set due now.
 */
export async function moveOnUndelivered(
  deps: ReceiptCascadeDeps,
  tenantId: string,
  provider: string,
  receipts: readonly Receipt[],
  now: Date,
): Promise<Map<number, 'moved' | 'held'>> {
  const moved = new Map<number, 'moved' | 'held'>();
  const undelivered = receipts.flatMap((receipt, index) => (receipt.status === 'undelivered' ? [{ receipt, index }] : []));
  if (undelivered.length === 0) return moved;
  const messages = await deps.journal.findByProviderMessageIds(
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
    const outcome = await moveOn(deps, message, receipt, now);
    if (outcome !== undefined) moved.set(index, outcome);
  }
  return moved;
}

async function moveOn(deps: ReceiptCascadeDeps, message: Message, receipt: Receipt, now: Date): Promise<'moved' | 'held' | undefined> {
  let routing;
  try {
    routing = await deps.routing.resolve(message.tenant_id, { strategy: message.strategy, strategy_version: message.strategy_version });
  } catch (error) {
    if (error instanceof CommstratError && error.retryable) {
      // The configuration store is down and this strategy is not held: the receipt is
      // not applied, so the message stays `sent` (a no_receipt timer still moves it on).
      deps.logger.warn('undelivered receipt left unapplied: strategy unreadable', { message_id: message.id, error: error.message });
      return 'held';
    }
    return undefined; // its strategy is gone: the receipt ends it failed, as without a cascade
  }
  const step = message.step ?? 0;
  const next = nextStepIndex(routing.strategy, step, 'undelivered');
  if (next === undefined) return undefined;
  const event: StatusEvent = {
    status: 'next_step',
    at: now,
    reason: `${advanceReason('undelivered', routing.strategy.steps[step], receipt.error)}; next: step ${next}`,
    ...(message.provider === undefined ? {} : { provider: message.provider }),
    step: next,
    strategy: routing.strategy.name,
    strategy_version: routing.version,
  };
  // Lost to a timer or another receipt: that one carries on, and this receipt is late.
  if (!(await deps.journal.moveToNextStep(message.id, step, event))) return undefined;
  if (routing.strategy.steps[step]?.next?.on === 'no_receipt') {
    // Not yet parked (its batch is still being settled) or unreachable Redis: the timer
    // then comes due at its own time and sends the next step then.
    await deps.lanes.advance(message.id, now.getTime()).catch((error: unknown) => {
      deps.logger.warn('could not bring a cascade timer forward; it comes due at its time', { message_id: message.id, error: String(error) });
    });
    return 'moved';
  }
  try {
    await deps.lanes.defer([{ message: messageForStep(toQueuedMessage(message), routing.strategy, routing.version, next), dueAt: now.getTime() }]);
  } catch (error) {
    // The journal says next_step and nothing will send it: say so loudly, with the id, for a redrive.
    deps.logger.error('message moved on by a receipt but its next step could not be queued', { message_id: message.id, error: String(error) });
    throw error;
  }
  return 'moved';
}
