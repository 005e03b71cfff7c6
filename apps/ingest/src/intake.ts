import {
  BatchRejectedError,
  CommstratError,
  DependencyUnavailableError,
  LanesFullError,
  PRIORITIES,
  acceptMessage,
  newId,
  toQueuedMessage,
  validateMessageRequest,
  type Message,
  type MessageStatus,
} from '@commstrat/core';
import type { RoutingCache, Tenant } from '@commstrat/config';
import type { Journal, BatchRecord } from '@commstrat/journal';
import { Withdrawals } from '@commstrat/lifecycle';
import type { IngestMetrics, Logger } from '@commstrat/observability';
import type { IdempotencyReservation, IdempotencyStore, LaneWriter, SampledDepths } from '@commstrat/queue';
import { journalFailure, routingFailure } from './dependency-failure.ts';
import type { EgressChecks } from './egress-checks.ts';
import { RenderBudget, renderMessageTemplates, type TemplateIntakeDeps } from './template-intake.ts';

export interface IntakeDeps {
  readonly journal: Journal;
  readonly lanes: Pick<LaneWriter, 'enqueueBatch' | 'cancel' | 'forceCancel'>;
  /** The process's shared sample of the lane depths, for admission control. */
  readonly depths: Pick<SampledDepths, 'get'>;
  readonly idempotency: IdempotencyStore;
  readonly routing: Pick<RoutingCache, 'resolve'>;
  /** A message's own callback_url must be a URL the egress policy lets the dispatcher call. */
  readonly egress: Pick<EgressChecks, 'checkUrl'>;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  /** How long an idempotency key is remembered, in seconds. */
  readonly idempotencyWindowSeconds: number;
  /** Entries all lanes together may hold before intake sheds load (503). */
  readonly laneCap: number;
  /** Messages that name a template are checked and rendered by these (template-intake.ts). */
  readonly templates: TemplateIntakeDeps;
  /** Render time one request may spend on its templates, all its messages together, ms. */
  readonly renderBudgetMs: number;
  /** Test-only fault injection: exit the process at this point of the intake. */
  readonly failpoint?: 'exit-after-journal' | 'exit-after-enqueue' | undefined;
}

/** An idempotency key seen before: the original message, not accepted again. */
interface Duplicate {
  readonly index: number;
  readonly id: string;
  readonly status: MessageStatus;
}

export type Source = 'rest' | 'kafka';

export interface AcceptedItem {
  readonly index: number;
  readonly id: string;
  readonly status: MessageStatus;
  /** True when the idempotency key was seen within its window: the original message. */
  readonly duplicate?: true;
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
 * validate, journal (request, then messages), enqueue (with a guard per request). Only
 * when this resolves may the caller acknowledge the producer. A crash after the journal
 * write and before the enqueue is repaired by the recovery pass (recovery.ts).
 */
export class Intake {
  private readonly deps: IntakeDeps;
  private readonly withdrawals: Withdrawals;

  constructor(deps: IntakeDeps) {
    this.deps = deps;
    this.withdrawals = new Withdrawals(deps);
  }

  /** One message; throws its validation error instead of reporting it per item. */
  async acceptOne(tenant: Tenant, source: Source, body: unknown): Promise<AcceptedItem & { batchId: string }> {
    const outcome = await this.acceptBatch(tenant, source, [body], { atomic: true, rawBody: body });
    const [item] = outcome.accepted;
    if (item === undefined) {
      const [refused] = outcome.rejected;
      if (refused === undefined) throw new Error('a single message produced no result');
      throw this.singleError(refused);
    }
    return { ...item, batchId: outcome.batchId };
  }

  async acceptBatch(
    tenant: Tenant,
    source: Source,
    items: readonly unknown[],
    options: BatchOptions,
  ): Promise<BatchOutcome> {
    // Refuse first when the lanes are full: cheap (the depth is sampled), and nothing
    // is validated only to be thrown away, again on every retry of a Kafka record.
    await this.admit();
    const now = new Date();
    const batchId = options.batchId ?? newId();
    const messages: { index: number; message: Message }[] = [];
    const rejected: RejectedItem[] = [];
    const budget = new RenderBudget(this.deps.renderBudgetMs);
    for (const [index, item] of items.entries()) {
      try {
        const request = validateMessageRequest(item, now);
        if (request.callback_url !== undefined) await this.deps.egress.checkUrl(request.callback_url, '/callback_url');
        // Unknown strategy, or a channel without a default strategy: 422 here, not a
        // failure later in the dispatcher. Cached per tenant, so no query per message.
        const routing = await this.deps.routing.resolve(tenant.id, request).catch((error: unknown) => {
          if (error instanceof CommstratError) throw error;
          throw routingFailure(error);
        });
        const rendered = await renderMessageTemplates(this.deps.templates, tenant.id, request, routing, budget);
        messages.push({
          index,
          message: acceptMessage(request, {
            id: newId(),
            tenantId: tenant.id,
            batchId,
            now,
            tenantCallbacks: tenant.callbacks === true,
            ...(rendered === undefined ? {} : { rendered }),
          }),
        });
      } catch (caught) {
        if (caught instanceof CommstratError && caught.retryable) throw caught;
        // Validation and acceptance are functions of the item alone: whatever else they
        // throw (a bug tripped by this input) would be thrown again on every retry, so
        // the item is refused, never retried in place where it would stall a partition.
        const error = caught instanceof CommstratError ? caught : this.unexpected(caught, index);
        rejected.push({ index, error: error.toJSON().error });
        this.deps.metrics.rejected(source, tenant.id, error.code);
      }
    }
    if (options.atomic === true && rejected.length > 0) throw this.atomicRefusal(items.length, rejected);

    const { fresh, duplicates, conflicts } = await this.screenIdempotency(tenant, messages);
    if (conflicts.length > 0 && (options.batchId !== undefined || options.atomic === true)) {
      // An atomic request is all or nothing; a redelivered Kafka record answers from the
      // journal, so a conflict journaled now would stick: refuse the whole record as
      // retryable and let it come again.
      await this.releaseKeys(tenant, fresh);
      if (options.batchId === undefined) throw this.atomicRefusal(items.length, conflicts);
      throw new CommstratError('idempotency_in_progress', 'an idempotency_key of this record is being accepted; retry');
    }
    rejected.push(...conflicts);
    rejected.sort((a, b) => a.index - b.index);
    const record: BatchRecord = {
      _id: batchId,
      tenant_id: tenant.id,
      source,
      received_at: now,
      body: options.rawBody,
      message_ids: fresh.map(({ message }) => message.id),
      accepted_indexes: fresh.map(({ index }) => index),
      enqueued: fresh.length === 0,
      rejected,
    };
    let journaled: boolean;
    try {
      const messages = fresh.map(({ message }) => message);
      journaled = await this.deps.journal.recordAccepted(record, messages);
      // Seen before, but cut short before its messages were written (no transactions on
      // the server): journal it again, whole.
      if (!journaled && (await this.deps.journal.discardIncompleteBatch(batchId))) {
        journaled = await this.deps.journal.recordAccepted(record, messages);
      }
    } catch (cause) {
      await this.releaseKeys(tenant, fresh);
      throw journalFailure(cause);
    }
    if (!journaled) return this.replay(batchId);
    if (this.deps.failpoint === 'exit-after-journal') process.exit(137);

    try {
      await this.enqueue(batchId, fresh.map(({ message }) => message));
    } catch (error) {
      // A REST producer is told 503 and will send again: withdraw these messages. A Kafka
      // record (its batch id given) is redelivered under the same id instead, and the
      // redelivery or the recovery pass finishes this enqueue exactly once.
      if (options.batchId === undefined) {
        await this.withdrawals.withdraw(batchId, fresh.map(({ message }) => message));
        await this.releaseKeys(tenant, fresh);
      }
      throw error;
    }
    await this.completeKeys(tenant, fresh);
    for (const { message } of fresh) {
      this.deps.metrics.accepted(source, tenant.id, message.priority);
      if (message.sms !== undefined) this.deps.metrics.smsParts(message.sms.encoding, message.sms.parts);
    }
    const accepted: AcceptedItem[] = [
      ...fresh.map(({ index, message }) => ({ index, id: message.id, status: message.status })),
      ...duplicates.map((d) => ({ ...d, duplicate: true as const })),
    ].sort((a, b) => a.index - b.index);
    return { batchId, accepted, rejected, replayed: false };
  }

  /**
   * Sheds load when the lanes are over their cap instead of growing Redis without bound.
   * The depths are a shared sample at most 250 ms old, so this costs no round trip per
   * request.
   */
  private async admit(): Promise<void> {
    const depths = await this.deps.depths.get().catch((cause: unknown) => {
      throw new DependencyUnavailableError('lanes (Redis)', cause);
    });
    const total = PRIORITIES.reduce((sum, lane) => sum + depths[lane], 0);
    if (total > this.deps.laneCap) throw new LanesFullError(PRIORITIES.filter((lane) => depths[lane] > 0));
  }

  /**
   * Splits messages by their idempotency key: new ones (reserved now, in one round trip),
   * duplicates of a message accepted within the window, and conflicts with a request
   * carrying the same key that is still being accepted.
   */
  private async screenIdempotency(
    tenant: Tenant,
    messages: readonly { index: number; message: Message }[],
  ): Promise<{ fresh: { index: number; message: Message }[]; duplicates: Duplicate[]; conflicts: RejectedItem[] }> {
    const keyed = messages.filter(({ message }) => message.idempotency_key !== undefined);
    if (keyed.length === 0) return { fresh: messages.slice(), duplicates: [], conflicts: [] };
    let reservations: IdempotencyReservation[];
    try {
      reservations = await this.deps.idempotency.reserveMany(
        keyed.map(({ message }) => ({ tenantId: tenant.id, key: message.idempotency_key ?? '' })),
        this.deps.idempotencyWindowSeconds,
      );
    } catch (cause) {
      throw new DependencyUnavailableError('idempotency keys (Redis)', cause);
    }
    const verdict = new Map(keyed.map(({ message }, i) => [message.id, reservations[i]]));
    const fresh: { index: number; message: Message }[] = [];
    const duplicates: Duplicate[] = [];
    const conflicts: RejectedItem[] = [];
    for (const item of messages) {
      const reservation = verdict.get(item.message.id);
      if (reservation === undefined || reservation.status === 'new') fresh.push(item);
      else if (reservation.status === 'done') {
        const original = JSON.parse(reservation.value) as { id: string; status: MessageStatus };
        duplicates.push({ index: item.index, id: original.id, status: original.status });
      } else {
        conflicts.push({
          index: item.index,
          error: {
            code: 'idempotency_in_progress',
            message: 'a request with this idempotency_key is being accepted; retry shortly',
            problems: [{ path: '/idempotency_key', message: 'is in use by a request in progress' }],
          },
        });
      }
    }
    return { fresh, duplicates, conflicts };
  }

  private async completeKeys(tenant: Tenant, items: readonly { message: Message }[]): Promise<void> {
    const keyed = items.filter(({ message }) => message.idempotency_key !== undefined);
    if (keyed.length === 0) return;
    await this.deps.idempotency
      .completeMany(
        keyed.map(({ message }) => ({
          tenantId: tenant.id,
          key: message.idempotency_key ?? '',
          value: JSON.stringify({ id: message.id, status: message.status }),
        })),
        this.deps.idempotencyWindowSeconds,
      )
      .catch((error: unknown) => {
        // The messages are accepted; only duplicate detection for these keys is weakened.
        this.deps.logger.warn('could not record idempotency keys', { error: String(error) });
      });
  }

  private async releaseKeys(tenant: Tenant, items: readonly { message: Message }[]): Promise<void> {
    const keyed = items.filter(({ message }) => message.idempotency_key !== undefined);
    if (keyed.length === 0) return;
    await this.deps.idempotency
      .releaseMany(keyed.map(({ message }) => ({ tenantId: tenant.id, key: message.idempotency_key ?? '' })))
      .catch(() => undefined);
  }

  /** Cancels a message of the tenant that no dispatcher has taken yet (see Withdrawals.cancel). */
  async cancel(tenant: Tenant, id: string): Promise<void> {
    await this.withdrawals.cancel(tenant.id, id);
  }

  /**
   * Appends journaled messages to their lanes (or the delayed set) exactly once per
   * request: the guard key the same Lua step sets is what the recovery pass checks.
   * Used by intake and by the recovery pass.
   */
  async enqueue(batchId: string, messages: readonly Message[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.deps.lanes.enqueueBatch(
        batchId,
        messages.map((m) => ({
          message: toQueuedMessage(m),
          ...(m.status === 'scheduled' && m.send_at !== undefined ? { dueAt: m.send_at.getTime() } : {}),
        })),
      );
    } catch (cause) {
      throw new DependencyUnavailableError('lanes (Redis)', cause);
    }
    if (this.deps.failpoint === 'exit-after-enqueue') process.exit(137);
  }

  /** A request seen before: answer what was accepted then, and finish its enqueue if needed. */
  private async replay(batchId: string): Promise<BatchOutcome> {
    const request = await this.deps.journal.findBatch(batchId);
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

  /** An error validation should not throw: logged with its stack, reported as `internal`. */
  private unexpected(cause: unknown, index: number): CommstratError {
    this.deps.logger.error('message could not be validated', {
      item_index: index,
      error: cause instanceof Error ? cause.stack : String(cause),
    });
    return new CommstratError('internal', 'message could not be validated', { cause });
  }

  /** The error of one refused item, as thrown for a single-message request. */
  private singleError(rejected: RejectedItem): CommstratError {
    const { code, message, problems = [] } = rejected.error;
    return new CommstratError(code, message, { problems });
  }

  /** An atomic request refused whole: one message's own error, or all items' of a batch. */
  private atomicRefusal(itemCount: number, rejected: readonly RejectedItem[]): CommstratError {
    const [first] = rejected;
    if (itemCount === 1 && first !== undefined) return this.singleError(first);
    return new BatchRejectedError(rejected);
  }
}
