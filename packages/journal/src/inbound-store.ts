import type { InboundAction, KeywordAction } from '@commstrat/core';
import type { Collection, Db, IndexDescription } from 'mongodb';

/**
 * One inbound message (a recipient writing to the tenant's number), as journaled in
 * `inbound`: what the provider reported, the keyword it was and what that did, and the
 * status-callback outbox flag that forwards it to the tenant (callback-store.ts).
 */
export interface InboundRecord {
  /** A ULID: inbound messages list by it, newest first. */
  readonly _id: string;
  readonly tenant_id: string;
  /** The tenant's provider it came through (its id). */
  readonly provider: string;
  readonly provider_message_id?: string;
  readonly channel: 'sms';
  /** The sender as the provider wrote it, and as a phone in its E.164 form when it is one. */
  readonly from: string;
  readonly from_phone?: string;
  readonly to?: string;
  readonly text: string;
  readonly received_at: Date;
  /** When the provider says it received it; default received_at. */
  readonly at: Date;
  readonly keyword?: { readonly action: KeywordAction; readonly language: string; readonly keyword: string };
  /** What the keyword did, once done (absent: not yet: a crash in between does it on the provider's retry). */
  readonly action?: InboundAction;
  readonly reply_message_id?: string;
  /** The tenant had a default callback URL: the message is forwarded there. */
  readonly callbacks: boolean;
  readonly callback_due?: boolean;
  /** Set until the keyword is handled: what the recovery pass looks for. */
  readonly unhandled?: boolean;
}

/** A page of inbound messages, and where the next starts (null: no more). */
export interface InboundPage {
  readonly messages: InboundRecord[];
  readonly nextAfter: string | null;
}

const INDEXES: IndexDescription[] = [
  // The listing, newest first, and one sender's messages.
  { key: { tenant_id: 1, _id: -1 }, name: 'tenant_id' },
  { key: { tenant_id: 1, from_phone: 1, _id: -1 }, name: 'tenant_from_id', partialFilterExpression: { from_phone: { $type: 'string' } } },
  // A provider that retries its webhook (Twilio does, on a timeout or a 5xx) reports the
  // same message again: one record per provider message id.
  {
    key: { tenant_id: 1, provider: 1, provider_message_id: 1 },
    name: 'tenant_provider_message_id',
    unique: true,
    partialFilterExpression: { provider_message_id: { $type: 'string' } },
  },
  // What the recovery pass finishes: messages whose handling died half-way.
  { key: { unhandled: 1, received_at: 1 }, name: 'unhandled', partialFilterExpression: { unhandled: true } },
  // The status-callback outbox, as on messages: only those forwarded are indexed.
  { key: { callback_due: 1 }, name: 'callback_due', partialFilterExpression: { callback_due: true, callbacks: true } },
];

/** The `inbound` collection. Owns no connection. */
export class InboundStore {
  private readonly inbound: Collection<InboundRecord>;

  constructor(db: Db) {
    this.inbound = db.collection<InboundRecord>('inbound');
  }

  async ensureIndexes(): Promise<void> {
    await this.inbound.createIndexes(INDEXES);
  }

  /**
   * Journals inbound messages (with their outbox flag set, so each is forwarded at least
   * once). A message whose provider id is journaled already is a provider's retry: not
   * journaled again; the record it repeats comes back instead, so its keyword is done
   * if the first attempt died before doing it. Returns each message's record, in order.
   */
  async record(records: readonly InboundRecord[]): Promise<{ record: InboundRecord; repeated: boolean }[]> {
    if (records.length === 0) return [];
    const repeatedAt = new Set<number>();
    try {
      await this.inbound.insertMany(records.map((record) => ({ ...record, callback_due: true, unhandled: true })), { ordered: false });
    } catch (error) {
      const indexes = duplicateIndexes(error);
      if (indexes === undefined) throw error;
      for (const index of indexes) repeatedAt.add(index);
    }
    if (repeatedAt.size === 0) return records.map((record) => ({ record, repeated: false }));
    const repeated = [...repeatedAt].map((index) => records[index]).filter((record) => record !== undefined);
    const first = await this.inbound
      .find({ $or: repeated.map((record) => ({ tenant_id: record.tenant_id, provider: record.provider, provider_message_id: record.provider_message_id ?? '' })) })
      .toArray();
    const byProviderId = new Map(first.map((record) => [`${record.tenant_id}/${record.provider}/${record.provider_message_id ?? ''}`, record]));
    return records.map((record, index) => {
      if (!repeatedAt.has(index)) return { record, repeated: false };
      const original = byProviderId.get(`${record.tenant_id}/${record.provider}/${record.provider_message_id ?? ''}`);
      return { record: original ?? record, repeated: true };
    });
  }

  /**
   * Records what a message's keyword did, once, and flags the message for its callback
   * again (the forwarded event carries the action): false when it was recorded already.
   */
  async recordAction(id: string, action: InboundAction, replyMessageId?: string): Promise<boolean> {
    const result = await this.inbound.updateOne(
      { _id: id, action: { $exists: false } },
      {
        $set: { action, callback_due: true, ...(replyMessageId === undefined ? {} : { reply_message_id: replyMessageId }) },
        $unset: { unhandled: '' },
      },
    );
    return result.modifiedCount === 1;
  }

  /** Messages journaled before `olderThan` whose keyword was never handled (the recovery pass's work), oldest first. */
  async unfinished(olderThan: Date, limit: number): Promise<InboundRecord[]> {
    return this.inbound.find({ unhandled: true, received_at: { $lt: olderThan } }).sort({ received_at: 1 }).limit(limit).toArray();
  }

  /** A tenant's inbound messages, newest first, from one sender when given; `after` is the last id of the page before. */
  async list(tenantId: string, query: { readonly fromPhone?: string; readonly after?: string; readonly limit: number }): Promise<InboundPage> {
    const filter: Record<string, unknown> = { tenant_id: tenantId };
    if (query.fromPhone !== undefined) filter['from_phone'] = query.fromPhone;
    if (query.after !== undefined) filter['_id'] = { $lt: query.after };
    const found = await this.inbound.find(filter, { projection: { callback_due: 0, unhandled: 0 } }).sort({ _id: -1 }).limit(query.limit + 1).toArray();
    const messages = found.slice(0, query.limit);
    return { messages, nextAfter: found.length > query.limit ? (messages.at(-1)?._id ?? null) : null };
  }
}

/** The indexes of the records a bulk insert refused as duplicates only; undefined: another error. */
function duplicateIndexes(error: unknown): number[] | undefined {
  const writeErrors = (error as { writeErrors?: unknown }).writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors === undefined ? [] : [writeErrors];
  if (list.length === 0) return undefined;
  const indexes: number[] = [];
  for (const entry of list as { code?: unknown; index?: unknown; err?: { code?: unknown; index?: unknown } }[]) {
    const code = entry.code ?? entry.err?.code;
    const index = entry.index ?? entry.err?.index;
    if (code !== 11000 || typeof index !== 'number') return undefined;
    indexes.push(index);
  }
  return indexes;
}
