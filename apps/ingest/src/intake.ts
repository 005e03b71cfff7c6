import {
  BatchRejectedError,
  CommstratError,
  DependencyUnavailableError,
  acceptMessage,
  newId,
  toQueuedMessage,
  validateMessageRequest,
  type Message,
  type MessageStatus,
} from '@commstrat/core';
import type { Tenant } from '@commstrat/config';
import type { Journal, RequestRecord } from '@commstrat/journal';
import type { IngestMetrics, Logger } from '@commstrat/observability';
import type { LaneQueue } from '@commstrat/queue';

export interface IntakeDeps {
  readonly journal: Journal;
  readonly lanes: LaneQueue;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

export type Source = 'rest' | 'kafka';

export interface AcceptedItem {
  readonly index: number;
  readonly id: string;
  readonly status: MessageStatus;
}

export interface RejectedItem {
  readonly index: number;
  readonly error: ReturnType<CommstratError['toJSON']>['error'];
}

export interface BatchOutcome {
  /** The batch (request) id: messages of this request share it. */
  readonly batchId: string;
  readonly accepted: readonly AcceptedItem[];
  readonly rejected: readonly RejectedItem[];
  /** True when this request was already journaled (a redelivered Kafka record). */
  readonly replayed: boolean;
}

export interface BatchOptions {
  /**
   * Journal id of the request. Server-made by default; Kafka passes one derived from
   * topic, partition and offset so a redelivered record is recognised and not accepted twice.
   */
  readonly batchId?: string;
  /** All-or-nothing: one bad item rejects the whole batch with BatchRejectedError. */
  readonly atomic?: boolean;
  /** The request as received, kept in the journal. */
  readonly rawBody: unknown;
}

/**
 * The one path by which messages enter the service, whatever door they came through:
 * validate, journal (request, then messages), enqueue, mark the request enqueued. Only
 * when this resolves may the caller acknowledge the producer. A crash after the journal
 * write and before the enqueue is repaired by the recovery pass (recovery.ts).
 */
export class Intake {
  private readonly deps: IntakeDeps;

  constructor(deps: IntakeDeps) {
    this.deps = deps;
  }

  /** One message; throws its validation error instead of reporting it per item. */
  async acceptOne(tenant: Tenant, source: Source, body: unknown): Promise<AcceptedItem & { batchId: string }> {
    const outcome = await this.acceptBatch(tenant, source, [body], { atomic: true, rawBody: body });
    const [item] = outcome.accepted;
    if (item === undefined) throw new Error('a single accepted message produced no result');
    return { ...item, batchId: outcome.batchId };
  }

  async acceptBatch(
    tenant: Tenant,
    source: Source,
    items: readonly unknown[],
    options: BatchOptions,
  ): Promise<BatchOutcome> {
    const now = new Date();
    const batchId = options.batchId ?? newId();
    const messages: { index: number; message: Message }[] = [];
    const rejected: RejectedItem[] = [];
    items.forEach((item, index) => {
      try {
        const request = validateMessageRequest(item, now);
        messages.push({ index, message: acceptMessage(request, { id: newId(), tenantId: tenant.id, requestId: batchId, now }) });
      } catch (error) {
        if (!(error instanceof CommstratError)) throw error;
        rejected.push({ index, error: error.toJSON().error });
        this.deps.metrics.messagesRejected.inc({ source, tenant: tenant.id, reason: error.code });
      }
    });
    if (options.atomic === true && rejected.length > 0) {
      if (items.length === 1 && rejected[0] !== undefined) throw this.singleError(items[0], now);
      throw new BatchRejectedError(rejected);
    }

    const record: RequestRecord = {
      _id: batchId,
      tenant_id: tenant.id,
      source,
      received_at: now,
      body: options.rawBody,
      message_ids: messages.map(({ message }) => message.id),
      accepted_indexes: messages.map(({ index }) => index),
      enqueued: messages.length === 0,
      rejected,
    };
    let journaled: boolean;
    try {
      journaled = await this.deps.journal.recordAccepted(record, messages.map(({ message }) => message));
    } catch (cause) {
      throw new DependencyUnavailableError('journal (MongoDB)', cause);
    }
    if (!journaled) return this.replay(batchId);

    await this.enqueue(batchId, messages.map(({ message }) => message), 'lanes (Redis)');
    for (const { message } of messages) {
      this.deps.metrics.messagesAccepted.inc({ source, tenant: tenant.id, priority: message.priority });
    }
    return {
      batchId,
      accepted: messages.map(({ index, message }) => ({ index, id: message.id, status: message.status })),
      rejected,
      replayed: false,
    };
  }

  /**
   * Appends journaled messages to their lanes (or the delayed set) exactly once per
   * request, then marks the request enqueued. Used by intake and by the recovery pass.
   */
  async enqueue(batchId: string, messages: readonly Message[], what = 'lanes (Redis)'): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.deps.lanes.enqueueRequest(
        batchId,
        messages.map((m) => ({
          message: toQueuedMessage(m),
          ...(m.status === 'scheduled' && m.send_at !== undefined ? { dueAt: m.send_at.getTime() } : {}),
        })),
      );
    } catch (cause) {
      throw new DependencyUnavailableError(what, cause);
    }
    // If this write is lost the recovery pass finds the request, sees the enqueue guard
    // in Redis and only sets the flag: nothing is enqueued twice.
    await this.deps.journal.markEnqueued(batchId).catch((error: unknown) => {
      this.deps.logger.warn('could not mark request enqueued; recovery will', { batch_id: batchId, error: String(error) });
    });
  }

  /** A request seen before: answer what was accepted then, and finish its enqueue if needed. */
  private async replay(batchId: string): Promise<BatchOutcome> {
    const request = await this.deps.journal.findRequest(batchId);
    if (request === null) throw new DependencyUnavailableError('journal (MongoDB)');
    const messages = await this.deps.journal.findMessages(request.message_ids);
    if (!request.enqueued) {
      await this.enqueue(batchId, messages.filter((m) => m.status === 'queued' || m.status === 'scheduled'));
    }
    const byId = new Map(messages.map((m) => [m.id, m]));
    return {
      batchId,
      accepted: request.message_ids.map((id, i) => ({
        index: request.accepted_indexes?.[i] ?? i,
        id,
        status: byId.get(id)?.status ?? 'accepted',
      })),
      rejected: (request.rejected ?? []) as RejectedItem[],
      replayed: true,
    };
  }

  /** For a single message, the validation error itself is the clearest answer. */
  private singleError(item: unknown, now: Date): unknown {
    try {
      validateMessageRequest(item, now);
    } catch (error) {
      return error;
    }
    return new Error('validation failed without an error');
  }
}
