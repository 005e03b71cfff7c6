import { DependencyUnavailableError, newId, TERMINAL_STATES, toQueuedMessage, type Message, type MessageStatus } from '@commstrat/core';
import type { Journal, BatchRecord } from '@commstrat/journal';
import type { LaneWriter } from '@commstrat/queue';

/** Statuses a re-drive may start from: finished ones, but not `delivered` (it arrived). */
export const REDRIVABLE: readonly MessageStatus[] = TERMINAL_STATES.filter((status) => status !== 'delivered');

/** What became of one original. */
export type RedriveOutcome =
  | { readonly kind: 'redriven'; readonly originalId: string; readonly newId: string }
  /** A run before was cut short after linking it: its new message is finished now. */
  | { readonly kind: 'resumed'; readonly originalId: string; readonly newId: string }
  | { readonly kind: 'skipped'; readonly originalId: string; readonly reason: string; readonly newId?: string };

export interface RedriveOptions {
  /** The new message's expiry; default the original's. */
  readonly expiresAt?: Date | undefined;
  readonly now?: number;
}

/**
 * Re-sends finished messages as new ones, linked both ways, at most once per original.
 *
 * The order of the writes is what makes it safe to interrupt anywhere: (1) the original
 * gets `redriven_as` by a conditional write that only succeeds while it is absent — the
 * one marker every run checks, in the journal, not in the operator's memory; (2) the new
 * message and its request are journaled (as ingest journals, the request not yet
 * `enqueued`); (3) it is enqueued under the request's guard and the request marked
 * enqueued. A run killed after (1) leaves a link to a message that does not exist yet, or
 * is not enqueued yet: the next run finishes it under the same id instead of making
 * another, and ingest's recovery pass enqueues a journaled request that never reached
 * Redis. The original's status and timeline are never touched.
 */
export class Redriver {
  private readonly journal: Journal;
  private readonly lanes: Pick<LaneWriter, 'enqueueBatch'>;

  constructor(journal: Journal, lanes: Pick<LaneWriter, 'enqueueBatch'>) {
    this.journal = journal;
    this.lanes = lanes;
  }

  /** Why `original` cannot go again now, or undefined when it can. */
  refusal(original: Message, options: RedriveOptions = {}): string | undefined {
    const now = options.now ?? Date.now();
    if (original.redriven_as !== undefined) return `already re-driven as ${original.redriven_as}`;
    // A message still on its way, or delivered, must not be sent a second time.
    if (!REDRIVABLE.includes(original.status)) return `its status is ${original.status}, not failed, expired, rejected or cancelled`;
    const expiresAt = options.expiresAt ?? original.expires_at;
    if (expiresAt !== undefined && expiresAt.getTime() <= now) {
      return original.status === 'expired' ? 'expired (give --include-expired --expires-in <duration>)' : 'its expiry has passed (give --expires-in <duration>)';
    }
    return undefined;
  }

  async redrive(original: Message, options: RedriveOptions = {}): Promise<RedriveOutcome> {
    if (original.redriven_as !== undefined) return this.finish(original, original.redriven_as, options);
    const refusal = this.refusal(original, options);
    if (refusal !== undefined) return { kind: 'skipped', originalId: original.id, reason: refusal };
    const id = newId();
    if (!(await this.guard('journal (MongoDB)', () => this.journal.claimRedrive(original.tenant_id, original.id, id)))) {
      // Another run linked it between our read and this write.
      const [current] = await this.journal.findMessages([original.id]);
      const linked = current?.redriven_as;
      if (current === undefined || linked === undefined) {
        return { kind: 'skipped', originalId: original.id, reason: 'no longer in the journal' };
      }
      return { kind: 'skipped', originalId: original.id, reason: `already re-driven as ${linked}`, newId: linked };
    }
    await this.journalAndEnqueue(original, id, options);
    return { kind: 'redriven', originalId: original.id, newId: id };
  }

  /** An original already linked: finish its new message if a run was cut short, else skip it. */
  private async finish(original: Message, id: string, options: RedriveOptions): Promise<RedriveOutcome> {
    const skipped = { kind: 'skipped', originalId: original.id, reason: `already re-driven as ${id}`, newId: id } as const;
    const existing = await this.guard('journal (MongoDB)', () => this.journal.findMessage(original.tenant_id, id));
    if (existing === null) {
      await this.journalAndEnqueue(original, id, options);
      return { kind: 'resumed', originalId: original.id, newId: id };
    }
    const request = await this.guard('journal (MongoDB)', () => this.journal.findBatch(id));
    if (request !== null && !request.enqueued) {
      await this.enqueue(existing);
      return { kind: 'resumed', originalId: original.id, newId: id };
    }
    return skipped;
  }

  private async journalAndEnqueue(original: Message, id: string, options: RedriveOptions): Promise<void> {
    const message = redriveMessage(original, id, options);
    const request: BatchRecord = {
      _id: id,
      tenant_id: original.tenant_id,
      source: 'redrive',
      received_at: message.created_at,
      body: { redrive_of: original.id },
      message_ids: [id],
      accepted_indexes: [0],
      enqueued: false,
    };
    // False: journaled by a run that was cut short right after; enqueue it all the same.
    await this.guard('journal (MongoDB)', () => this.journal.recordAccepted(request, [message]));
    await this.enqueue(message);
  }

  private async enqueue(message: Message): Promise<void> {
    // The request's guard makes a second call (a resumed run) enqueue nothing.
    await this.guard('lanes (Redis)', () => this.lanes.enqueueBatch(message.batch_id, [{ message: toQueuedMessage(message) }]));
    await this.guard('journal (MongoDB)', () => this.journal.markEnqueued([message.batch_id]));
  }

  private async guard<T>(what: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (cause) {
      throw new DependencyUnavailableError(what, cause);
    }
  }
}

/**
 * The new message: the original's recipient, content (with what its templates rendered,
 * pinned as the original was), channel, strategy, priority, tags and callback, to go now. Not its idempotency key (the producer's key names the
 * original) nor its send_at (it is due now).
 */
export function redriveMessage(original: Message, id: string, options: RedriveOptions): Message {
  const now = new Date(options.now ?? Date.now());
  return {
    id,
    tenant_id: original.tenant_id,
    batch_id: id,
    channel: original.channel,
    strategy: original.strategy,
    priority: original.priority,
    recipient: original.recipient,
    content: original.content,
    // What its templates rendered goes again as it was, by the strategy version it was rendered for.
    ...(original.rendered_steps === undefined
      ? {}
      : {
          rendered_steps: original.rendered_steps,
          ...(original.locale === undefined ? {} : { locale: original.locale }),
          ...(original.strategy_version === undefined ? {} : { strategy_version: original.strategy_version }),
        }),
    idempotency_key: undefined,
    tags: original.tags,
    metadata: original.metadata,
    callback_url: original.callback_url,
    send_at: undefined,
    expires_at: options.expiresAt ?? original.expires_at,
    created_at: now,
    status: 'queued',
    timeline: [
      { status: 'accepted', at: now, reason: `re-drive of ${original.id} (${original.status})` },
      { status: 'queued', at: now },
    ],
    redrive_of: original.id,
  };
}
