import { ConflictError, NotFoundError, allowedFrom, type Message, type MessageStatus } from '@commstrat/core';
import type { Journal } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { LaneWriter } from '@commstrat/queue';

/** States a tenant may still cancel from. */
const CANCELLABLE = allowedFrom('cancelled');

export interface WithdrawalDeps {
  readonly journal: Pick<Journal, 'findMessage' | 'recordStatusChanges' | 'markEnqueued'>;
  readonly lanes: Pick<LaneWriter, 'cancel' | 'forceCancel'>;
  readonly logger: Logger;
}

/**
 * Messages taken back before a dispatcher sends them: cancelled by their tenant, or
 * withdrawn by intake when the producer is told they were not accepted. Each is a Redis
 * marker (what a dispatcher's claim checks) and a conditional journal write.
 */
export class Withdrawals {
  private readonly deps: WithdrawalDeps;

  constructor(deps: WithdrawalDeps) {
    this.deps = deps;
  }

  /**
   * Cancels a message of the tenant that no dispatcher has taken yet, or explains why
   * not: 404 when it is not the tenant's, 409 when it is being sent or already ended.
   * The Redis marker keeps dispatchers from taking it from now on; the journal's
   * conditional write decides the race with one that took it just before (a message
   * already `sending` or past it is not cancelled), so it ends in one terminal state.
   */
  async cancel(tenantId: string, id: string): Promise<void> {
    const refuse = (status: MessageStatus) => new ConflictError(`message is ${status} and can no longer be cancelled`);
    const before = await this.deps.journal.findMessage(tenantId, id);
    if (before === null) throw new NotFoundError('message');
    if (!CANCELLABLE.includes(before.status)) throw refuse(before.status);
    if (!(await this.deps.lanes.cancel(id))) throw refuse('sending');
    const changed = await this.deps.journal.recordStatusChanges([
      { messageId: id, event: { status: 'cancelled', at: new Date(), reason: 'cancelled by the tenant' } },
    ]);
    if (changed === 0) throw refuse((await this.deps.journal.findMessage(tenantId, id))?.status ?? 'sending');
  }

  /**
   * The producer is told these messages were not accepted, so they must never be sent:
   * they end `rejected` and the batch is marked handled for the recovery pass. Had the
   * enqueue reached Redis after all, the dispatcher skips them thanks to their cancel
   * markers — written only if Redis answers here; if it does not, the error is logged.
   */
  async withdraw(batchId: string, messages: readonly Message[]): Promise<void> {
    try {
      const ids = messages.map((m) => m.id);
      await this.deps.journal.recordStatusChanges(
        ids.map((messageId) => ({
          messageId,
          event: { status: 'rejected', at: new Date(), reason: 'not accepted: lanes (Redis) unavailable' },
        })),
      );
      await this.deps.journal.markEnqueued([batchId]);
      await this.deps.lanes.forceCancel(ids);
    } catch (error) {
      this.deps.logger.error('could not withdraw messages the producer was told were not accepted', {
        batch_id: batchId,
        error: String(error),
      });
    }
  }
}
