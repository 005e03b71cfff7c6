import {
  DependencyUnavailableError,
  acceptMessage,
  newId,
  toQueuedMessage,
  validateMessageRequest,
  type Message,
} from '@commstrat/core';
import type { Tenant } from '@commstrat/config';
import type { Journal } from '@commstrat/journal';
import type { IngestMetrics, Logger } from '@commstrat/observability';
import type { LaneQueue } from '@commstrat/queue';

export interface IntakeDeps {
  readonly journal: Journal;
  readonly lanes: LaneQueue;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

export type Source = 'rest' | 'kafka';

/**
 * The one path by which a message enters the service, whatever door it came through:
 * validate, journal (request, then messages), then enqueue. Only when all three are
 * done may the caller acknowledge the producer.
 */
export class Intake {
  private readonly deps: IntakeDeps;

  constructor(deps: IntakeDeps) {
    this.deps = deps;
  }

  async acceptOne(tenant: Tenant, source: Source, body: unknown, requestId: string): Promise<Message> {
    const now = new Date();
    let message: Message;
    try {
      const request = validateMessageRequest(body, now);
      message = acceptMessage(request, { id: newId(), tenantId: tenant.id, requestId, now });
    } catch (error) {
      const reason = error instanceof Error && 'code' in error ? String(error.code) : 'internal';
      this.deps.metrics.messagesRejected.inc({ source, tenant: tenant.id, reason });
      throw error;
    }
    try {
      await this.deps.journal.recordAccepted(
        { _id: requestId, tenant_id: tenant.id, source, received_at: now, body, message_ids: [message.id] },
        [message],
      );
    } catch (cause) {
      throw new DependencyUnavailableError('journal (MongoDB)', cause);
    }
    try {
      await this.enqueue([message]);
    } catch (cause) {
      await this.withdraw([message], 'enqueue failed: lanes (Redis) unavailable');
      throw new DependencyUnavailableError('lanes (Redis)', cause);
    }
    this.deps.metrics.messagesAccepted.inc({ source, tenant: tenant.id, priority: message.priority });
    return message;
  }

  private async enqueue(messages: readonly Message[]): Promise<void> {
    const now = Date.now();
    const due = messages.filter((m) => m.status !== 'scheduled');
    const scheduled = messages.filter((m) => m.status === 'scheduled');
    await this.deps.lanes.enqueue(due.map(toQueuedMessage));
    await this.deps.lanes.defer(
      scheduled.map((m) => ({ message: toQueuedMessage(m), dueAt: m.send_at?.getTime() ?? now })),
    );
  }

  /**
   * The producer is told the message was not accepted, so the journal must not keep it
   * alive: mark it rejected. Best effort; if MongoDB fails too, the log says which ids.
   */
  private async withdraw(messages: readonly Message[], reason: string): Promise<void> {
    try {
      await this.deps.journal.recordStatusChanges(
        messages.map((m) => ({ messageId: m.id, event: { status: 'rejected', at: new Date(), reason } })),
      );
    } catch (error) {
      this.deps.logger.error('could not mark withdrawn messages rejected', {
        message_ids: messages.map((m) => m.id),
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
