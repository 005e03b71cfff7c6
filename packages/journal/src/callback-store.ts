import { callbackPayloads, type CallbackPayload, type StatusEvent } from '@commstrat/core';
import type { Collection, Db, IndexDescription } from 'mongodb';

/** What came of one attempt to deliver a callback. */
export interface CallbackAttempt {
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly at: Date;
  readonly url: string;
  /** The receiver's HTTP status; absent when there was no answer (see error). */
  readonly status_code?: number;
  /** Why there was no 2xx answer: `timeout`, `connection: …`, `http_500`, `no_url`. */
  readonly error?: string;
  readonly duration_ms: number;
  /** When the next attempt is due; null: none (delivered or abandoned). */
  readonly next_attempt_at: Date | null;
}

export type CallbackState = 'pending' | 'delivered' | 'abandoned';

/**
 * One status change of one message to call back, `_id` its event id, and every attempt
 * made to deliver it. Never holds the signing secret: each attempt signs afresh.
 */
export interface CallbackRecord {
  readonly _id: string;
  readonly tenant_id: string;
  readonly message_id: string;
  readonly seq: number;
  /** The message's own callback_url; absent: the tenant's default, looked up per attempt. */
  readonly url?: string;
  readonly payload: CallbackPayload;
  readonly state: CallbackState;
  readonly created_at: Date;
  /** Due time while pending; while an attempt is in flight, when its lease runs out. */
  readonly next_attempt_at: Date | null;
  /** The replica attempt holding it (a random token), set while an attempt is in flight. */
  readonly lease?: string;
  readonly attempts: readonly CallbackAttempt[];
}

/** What `relay` moved from the messages' outbox flags into `callbacks`. */
export interface RelayResult {
  readonly messages: number;
  readonly callbacks: number;
}

type OutboxDocument = {
  _id: string;
  tenant_id: string;
  /** The batch id, by its storage name (see journal.ts MessageDocument). */
  request_id: string;
  callback_url?: string;
  timeline: StatusEvent[];
  callback_seq?: number;
};

const INDEXES: IndexDescription[] = [
  // What the sender claims: the due pending ones, oldest due first.
  { key: { state: 1, next_attempt_at: 1 }, name: 'state_due' },
  // What keeps one message's callbacks in order: an earlier one still pending.
  { key: { message_id: 1, seq: 1 }, name: 'message_seq' },
  { key: { tenant_id: 1, created_at: -1 }, name: 'tenant_created' },
];

/**
 * The status-callback queue in MongoDB `callbacks`, fed from the outbox flag every status
 * change sets on its message document in the same write (`callback_due`), so a process
 * dying between the journal write and the queueing loses nothing: the flag stays until
 * a relay has queued every event of the timeline. Owns no connection.
 */
export class CallbackStore {
  private readonly messages: Collection<OutboxDocument>;
  private readonly callbacks: Collection<CallbackRecord>;

  constructor(db: Db) {
    this.messages = db.collection<OutboxDocument>('messages');
    this.callbacks = db.collection<CallbackRecord>('callbacks');
  }

  async ensureIndexes(): Promise<void> {
    await this.callbacks.createIndexes(INDEXES);
  }

  /**
   * Queues the callbacks of up to `limit` messages whose status changed since they were
   * last relayed. Callbacks are inserted by event id, so two replicas relaying the same
   * message, or a relay repeated after a crash, queue each event once. A message's flag is
   * cleared only if its timeline did not grow meanwhile; otherwise the next pass takes
   * the new events.
   */
  async relay(limit: number, now: Date): Promise<RelayResult> {
    const due = await this.messages
      .find(
        { callback_due: true, callbacks: true } as never,
        { projection: { _id: 1, tenant_id: 1, request_id: 1, callback_url: 1, timeline: 1, callback_seq: 1 }, limit },
      )
      .toArray();
    if (due.length === 0) return { messages: 0, callbacks: 0 };
    const records: CallbackRecord[] = due.flatMap((message) =>
      callbackPayloads({ ...message, id: message._id, batch_id: message.request_id }, message.callback_seq ?? 0).map((payload) => ({
        _id: payload.event_id,
        tenant_id: message.tenant_id,
        message_id: message._id,
        seq: payload.seq,
        ...(message.callback_url === undefined || message.callback_url === null ? {} : { url: message.callback_url }),
        payload,
        state: 'pending' as const,
        created_at: now,
        next_attempt_at: now,
        attempts: [],
      })),
    );
    if (records.length > 0) {
      try {
        await this.callbacks.insertMany(records, { ordered: false });
      } catch (error) {
        if (!onlyDuplicates(error)) throw error;
      }
    }
    await this.messages.bulkWrite(
      due.map((message) => ({
        updateOne: {
          filter: { _id: message._id, [`timeline.${message.timeline.length}`]: { $exists: false } },
          update: { $set: { callback_seq: message.timeline.length }, $unset: { callback_due: '' } },
        },
      })),
      { ordered: false },
    );
    return { messages: due.length, callbacks: records.length };
  }

  /**
   * Claims the oldest due callback of a tenant not in `skipTenants` for one attempt: its
   * due time moves `leaseMs` ahead under `lease`, in one atomic update, so no other
   * replica attempts it meanwhile; if this replica dies, it is due again once the lease
   * runs out. Null: nothing due.
   */
  async claim(now: Date, skipTenants: readonly string[], lease: string, leaseMs: number): Promise<CallbackRecord | null> {
    return this.callbacks.findOneAndUpdate(
      { state: 'pending', next_attempt_at: { $lte: now }, ...(skipTenants.length > 0 ? { tenant_id: { $nin: [...skipTenants] } } : {}) },
      { $set: { lease, next_attempt_at: new Date(now.getTime() + leaseMs) } },
      { sort: { next_attempt_at: 1 }, returnDocument: 'after' },
    );
  }

  /** The earliest callback of the same message still pending before this one, if any. */
  async earlierPending(record: CallbackRecord): Promise<CallbackRecord | null> {
    return this.callbacks.findOne({ message_id: record.message_id, seq: { $lt: record.seq }, state: 'pending' }, { sort: { seq: 1 } });
  }

  /** Gives a claimed callback back without an attempt, due at `at` (rate, order, a busy tenant). */
  async release(record: CallbackRecord, at: Date): Promise<void> {
    await this.callbacks.updateOne(held(record), { $set: { next_attempt_at: at }, $unset: { lease: '' } });
  }

  /**
   * Records an attempt of a claimed callback and what follows it: delivered, abandoned,
   * or pending until the attempt's `next_attempt_at`. Only while this attempt's lease
   * holds: false when another replica took the callback over meanwhile.
   */
  async recordAttempt(record: CallbackRecord, attempt: CallbackAttempt, state: CallbackState): Promise<boolean> {
    const result = await this.callbacks.updateOne(
      held(record),
      { $set: { state, next_attempt_at: attempt.next_attempt_at }, $unset: { lease: '' }, $push: { attempts: attempt } },
    );
    if (result.modifiedCount === 1 && state !== 'pending') {
      // The message's next callback waited for this one (see earlierPending): due now.
      // Should this write be lost, it is due when the wait it was given runs out.
      await this.callbacks.updateMany(
        { message_id: record.message_id, seq: { $gt: record.seq }, state: 'pending', lease: { $exists: false } },
        { $min: { next_attempt_at: attempt.at } },
      );
    }
    return result.modifiedCount === 1;
  }

  /** Callbacks still to deliver (the queue depth gauge). */
  async pendingCount(): Promise<number> {
    return this.callbacks.countDocuments({ state: 'pending' });
  }

  /** A message's callbacks in order, with their attempts (tests, support). */
  async forMessage(messageId: string): Promise<CallbackRecord[]> {
    return this.callbacks.find({ message_id: messageId }).sort({ seq: 1 }).toArray();
  }
}

/** The filter of a claimed callback while this attempt's lease holds. */
function held(record: CallbackRecord): { _id: string; lease: string } {
  return { _id: record._id, lease: record.lease ?? '(not claimed)' };
}

function onlyDuplicates(error: unknown): boolean {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors === undefined ? [] : [writeErrors];
  return (
    list.length > 0 &&
    list.every((entry: unknown) => (entry as { code?: unknown; err?: { code?: unknown } }).code === 11000 || (entry as { err?: { code?: unknown } }).err?.code === 11000)
  );
}
