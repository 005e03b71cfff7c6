import { firstIdAt, type Message, type MessageStatus, type Receipt, type StatusEvent } from '@commstrat/core';
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import { AcceptedWriter } from './accepted-writer.ts';
import { fromDocument, type MessageDocument, type BatchRecord } from './documents.ts';
import { GroupCommit } from './group-commit.ts';
import { ensureJournalIndexes } from './indexes.ts';
import { UrgentGate } from './urgent-gate.ts';
import { statusChangeOperations, type ExchangeIds, type StatusChange } from './transitions.ts';

export type { BatchRecord } from './documents.ts';
export type { StatusChange } from './transitions.ts';

/** Filters of the paged message listing; `after` is the last id of the previous page. */
export interface MessageQuery {
  readonly status?: MessageStatus;
  readonly tag?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly batchId?: string;
  readonly after?: string;
  readonly limit: number;
}

/** What `findRedriveCandidates` selects: finished messages, oldest first. */
export interface RedriveQuery {
  readonly tenantId: string;
  readonly status: MessageStatus;
  readonly provider?: string;
  /** Created within [from, to): a range of ids. */
  readonly from?: Date;
  readonly to?: Date;
  /** The last id of the previous page. */
  readonly after?: string;
  readonly limit: number;
}

/** One exchange with a provider: what we sent, what it answered, how long it took. */
export interface ProviderExchange {
  readonly _id: string;
  readonly provider: string;
  readonly message_ids: readonly string[];
  /** The request body as sent, and the response body as received (text). */
  readonly request: string;
  readonly response: string;
  readonly http_status: number | undefined;
  readonly outcome: 'accepted' | 'rejected' | 'error';
  readonly started_at: Date;
  readonly duration_ms: number;
  /**
   * The provider's id of each message, parallel to `message_ids` (null: not accepted).
   * Each message's own document holds its id too (what receipts look up); here it is
   * what the batch's `sent` update picks each message's id from.
   */
  readonly provider_message_ids?: readonly (string | null)[];
}

/** What came of one delivery receipt (see Journal.applyReceipts). */
export type ReceiptOutcome = 'applied' | 'duplicate' | 'late' | 'unknown';

/** What a request's receipts did: each one's outcome, and how fast the applied `delivered` ones came. */
export interface AppliedReceipts {
  readonly outcomes: ReceiptOutcome[];
  /**
   * Per applied delivered receipt: when its message was journaled `sent`, and when it was
   * delivered (the provider's time, never after the receipt arrived nor before the send).
   */
  readonly deliveries: { readonly sentAt: Date; readonly deliveredAt: Date }[];
}

/** One page of a listing, and where the next one starts (null: no more). */
export interface MessagePage {
  readonly messages: Message[];
  readonly nextAfter: string | null;
}

export interface JournalOptions {
  /**
   * Journal a request and its messages in one transaction: both or neither, whatever
   * crashes. `auto` (default) uses one when the server can (a replica set or sharded
   * cluster, as MongoDB runs in production); a standalone server cannot, and then the
   * request goes first and the recovery pass repairs a crash between the two writes.
   */
  readonly transactions?: 'auto' | boolean;
  /** Test-only fault injection: exit the process between the request and its messages. */
  readonly failpoint?: 'exit-after-request' | undefined;
  /**
   * The same database through a client of its own (its own connection pool), for the
   * writes of critical messages: requests holding one at intake, and the dispatcher's
   * outcomes of critical batches (`recordOutcomes` with `urgent`). They also have writers
   * of their own, so they never queue behind a bulk write, in this process's group
   * commit or in its pool. Default: `db` (own writers, shared pool).
   */
  readonly urgentDb?: Db;
}

type Outcomes = { exchanges: readonly ProviderExchange[]; changes: readonly StatusChange[] };

/**
 * The MongoDB journal: every request, every message holding its current status and
 * timeline, every provider exchange. Every status change is a conditional write whose
 * filter names the states it may leave (allowedFrom), so a terminal state is never left
 * and never written twice. Owns no connection: the caller passes a Db and closes its client.
 */
export class Journal {
  private readonly db: Db;
  private readonly requests: Collection<BatchRecord>;
  private readonly messages: Collection<MessageDocument>;
  private readonly exchanges: Collection<ProviderExchange>;
  private readonly accepted: AcceptedWriter;
  private readonly urgentAccepted: AcceptedWriter;
  private readonly outcomes: GroupCommit<Outcomes>;
  private readonly urgentOutcomes: GroupCommit<Outcomes>;
  private readonly urgent = new UrgentGate();

  constructor(db: Db, options: JournalOptions = {}) {
    this.db = db;
    this.requests = db.collection<BatchRecord>('requests');
    this.messages = db.collection<MessageDocument>('messages');
    this.exchanges = db.collection<ProviderExchange>('provider_exchanges');
    const urgentDb = options.urgentDb ?? db;
    const writerOptions = { transactions: options.transactions ?? 'auto', failpoint: options.failpoint };
    // One writer: whatever comes while a transaction is in flight shares the next one.
    // Measured (docs/benchmarks.md): with 40 Kafka records of 100 in flight, one writer
    // took kafka-batch-100 from 37-59 % of rest-batch-1000 (four writers) to 81-84 %,
    // and rest-batch-1000 itself no lower: the server is CPU-bound, and fewer, larger
    // transactions cost it less per message.
    const letUrgentFirst = () => this.urgent.clear();
    this.accepted = new AcceptedWriter(db, { ...writerOptions, writers: 1, before: letUrgentFirst });
    this.urgentAccepted = new AcceptedWriter(urgentDb, { ...writerOptions, writers: 2 });
    this.outcomes = this.outcomeWriter(db, letUrgentFirst);
    this.urgentOutcomes = this.outcomeWriter(urgentDb);
  }

  /** A group commit of provider exchanges and status changes through `db`; `before` is awaited before each write. */
  private outcomeWriter(db: Db, before?: () => Promise<void>): GroupCommit<Outcomes> {
    const messages = db.collection<MessageDocument>('messages');
    const exchanges = db.collection<ProviderExchange>('provider_exchanges');
    return new GroupCommit(
      async (items) => {
        await before?.();
        const records = items.flatMap((item) => item.exchanges);
        await Promise.all([
          records.length === 0 ? undefined : exchanges.insertMany(records.slice(), { ordered: false }),
          applyChanges(messages, items.flatMap((item) => item.changes), records),
        ]);
      },
      // About 1 000 messages per write (a sent message is two changes: sending, sent):
      // a larger write is serialised in one synchronous step that would hold up a
      // critical message waiting to go.
      { maxWeight: 2000, weigh: (item) => item.changes.length },
    );
  }

  /** Creates the lookup indexes and drops those they replace (indexes.ts); idempotent, run at start-up. */
  async ensureIndexes(): Promise<void> {
    await ensureJournalIndexes(this.db);
  }

  /**
   * Journals a request and its messages, in one transaction where the server has them.
   * Resolves only once both are acknowledged. Returns false, writing nothing, when a
   * request with this id is already journaled (a redelivered Kafka record): the caller
   * answers from `findBatch`. Requests journaled at the same time may share one
   * transaction (AcceptedWriter); one holding a critical message goes through the
   * urgent writers and client.
   */
  async recordAccepted(request: BatchRecord, messages: readonly Message[]): Promise<boolean> {
    if (!messages.some((message) => message.priority === 'critical')) return this.accepted.write(request, messages);
    return this.urgent.track(this.urgentAccepted.write(request, messages));
  }

  /**
   * Removes a request whose messages were not all journaled — a process died between the
   * two writes where the server has no transactions — so that it can be journaled again
   * whole (its producer was never acknowledged). True when it removed one.
   */
  async discardIncompleteBatch(id: string): Promise<boolean> {
    const request = await this.findBatch(id);
    if (request === null) return false;
    const ids = { tenant_id: request.tenant_id, _id: { $in: request.message_ids.slice() } };
    const journaled = await this.messages.countDocuments(ids);
    if (journaled >= request.message_ids.length) return false;
    await this.messages.deleteMany(ids);
    await this.requests.deleteOne({ _id: id });
    return true;
  }

  async findBatch(id: string): Promise<BatchRecord | null> {
    return this.requests.findOne({ _id: id });
  }

  /**
   * Marks requests as verified in their lanes, in one write; the recovery pass skips
   * them from then on. Intake does not call this per request (the enqueue guard in Redis
   * says the same); the recovery pass marks whole pages.
   */
  async markEnqueued(batchIds: readonly string[]): Promise<void> {
    if (batchIds.length === 0) return;
    await this.requests.updateMany({ _id: { $in: batchIds.slice() } }, { $set: { enqueued: true } });
  }

  /** Requests journaled before `cutoff` and not yet verified in their lanes, oldest first. */
  async findUnverifiedBatches(cutoff: Date, limit: number): Promise<BatchRecord[]> {
    return this.requests
      .find({ enqueued: false, received_at: { $lt: cutoff } })
      .sort({ received_at: 1 })
      .limit(limit)
      .toArray();
  }

  /** Messages by id, each with its current status and timeline. */
  async findMessages(ids: readonly string[]): Promise<Message[]> {
    if (ids.length === 0) return [];
    return (await this.messages.find({ _id: { $in: ids.slice() } }).toArray()).map(fromDocument);
  }

  /** A tenant's message with its current status and timeline: one read by _id. */
  async findMessage(tenantId: string, id: string): Promise<Message | null> {
    const document = await this.messages.findOne({ _id: id, tenant_id: tenantId });
    return document === null ? null : fromDocument(document);
  }

  /** The tenant's message a provider knows by `providerMessageId` (what a receipt names). */
  async findByProviderMessageId(tenantId: string, providerMessageId: string): Promise<Message | null> {
    const document = await this.messages.findOne({ tenant_id: tenantId, provider_message_id: providerMessageId });
    return document === null ? null : fromDocument(document);
  }

  /** The tenant's messages a provider knows by these ids (what receipts name), in one indexed read. */
  async findByProviderMessageIds(tenantId: string, provider: string, providerMessageIds: readonly string[]): Promise<Message[]> {
    if (providerMessageIds.length === 0) return [];
    const documents = await this.messages
      .find({ tenant_id: tenantId, provider_message_id: { $in: [...new Set(providerMessageIds)] }, provider })
      .toArray();
    return documents.map(fromDocument);
  }

  /**
   * Moves a `sent` message on from cascade step `fromStep` (`event`: its `next_step`),
   * by a conditional write on the message's status and step: true when this call moved it.
   * Of a missing receipt's timer and an undelivered receipt racing, exactly one moves a
   * message on, and only the one that did carries out the next step; a delivered receipt
   * that came first leaves it where it is.
   */
  async moveToNextStep(messageId: string, fromStep: number, event: StatusEvent): Promise<boolean> {
    const result = await this.messages.updateOne(
      { _id: messageId, status: 'sent', ...(fromStep === 0 ? { $or: [{ step: 0 }, { step: { $exists: false } }] } : { step: fromStep }) },
      { $set: { status: event.status, step: event.step ?? fromStep + 1, updated_at: new Date(), callback_due: true }, $push: { timeline: event } },
    );
    return result.modifiedCount === 1;
  }

  /**
   * Applies delivery receipts of one of the tenant's providers: each names a message by
   * the provider's id for it (one indexed read for all), which moves from `sent` to
   * `delivered`, or to `failed` when undelivered, by a conditional write, so a receipt
   * never revives a finished message. Returns what came of each receipt, in order:
   * `applied`, `duplicate` (the message already took this end), `late` (it had already
   * ended otherwise, or is not yet sent) or `unknown` (no message of this provider has
   * that id).
   */
  async applyReceipts(tenantId: string, provider: string, receipts: readonly Receipt[], now: Date): Promise<AppliedReceipts> {
    const found = await this.messages
      .find(
        { tenant_id: tenantId, provider_message_id: { $in: [...new Set(receipts.map((r) => r.provider_message_id))] }, provider },
        { projection: { _id: 1, status: 1, provider_message_id: 1, updated_at: 1 } },
      )
      .toArray();
    const deliveries: AppliedReceipts['deliveries'] = [];
    const byProviderId = new Map(found.map((document) => [document.provider_message_id, document]));
    const changes: StatusChange[] = [];
    // A second receipt for a message in the same request is a duplicate of the first.
    const handled = new Set<string>();
    const outcomes = receipts.map((receipt): ReceiptOutcome => {
      const message = byProviderId.get(receipt.provider_message_id);
      if (message === undefined) return 'unknown';
      const status = receipt.status === 'delivered' ? 'delivered' : 'failed';
      if (message.status === status || handled.has(message._id)) return 'duplicate';
      // Only a sent message takes a receipt (the conditional write checks it again).
      if (message.status !== 'sent') return 'late';
      handled.add(message._id);
      // A sent message's last change is its `sent`: updated_at is when that was journaled.
      if (status === 'delivered' && message.updated_at !== undefined) {
        const sentAt = new Date(message.updated_at);
        const reported = receipt.at === undefined ? now.getTime() : Date.parse(receipt.at);
        deliveries.push({ sentAt, deliveredAt: new Date(Math.max(sentAt.getTime(), Math.min(reported, now.getTime()))) });
      }
      changes.push({
        messageId: message._id,
        event: {
          status,
          at: receipt.at === undefined ? now : new Date(receipt.at),
          provider,
          ...(receipt.status === 'undelivered' ? { reason: `undelivered: ${receipt.error ?? 'no reason given'}` } : {}),
        },
      });
      return 'applied';
    });
    await this.applyChanges(changes, []);
    return { outcomes, deliveries };
  }

  /**
   * One page of a tenant's messages, newest first, served by an index: a status or a tag
   * leads a compound index, a time range is a range of ids (ULIDs start with their
   * time), and a batch is the ids its request holds (listBatch). `after` is the last id
   * of the page before: a stable cursor, whatever is journaled meanwhile.
   */
  async listMessages(tenantId: string, query: MessageQuery): Promise<MessagePage> {
    const filter: Record<string, unknown> = { tenant_id: tenantId };
    if (query.status !== undefined) filter['status'] = query.status;
    if (query.tag !== undefined) filter['tags'] = query.tag;
    const ids: { $gte?: string; $lt?: string } = {};
    if (query.from !== undefined) ids.$gte = firstIdAt(query.from);
    if (query.to !== undefined) ids.$lt = firstIdAt(query.to);
    if (query.after !== undefined && (ids.$lt === undefined || query.after < ids.$lt)) ids.$lt = query.after;
    // One more than a page tells whether another page follows.
    const documents =
      query.batchId !== undefined
        ? await this.listBatch(tenantId, query.batchId, filter, ids, query.limit + 1)
        : await this.messages
            .find(Object.keys(ids).length > 0 ? { ...filter, _id: ids } : filter)
            .sort({ _id: -1 })
            .limit(query.limit + 1)
            .toArray();
    const messages = documents.slice(0, query.limit).map(fromDocument);
    return { messages, nextAfter: documents.length > query.limit ? (messages.at(-1)?.id ?? null) : null };
  }

  /**
   * Up to `limit` messages of one batch matching `filter` within the id bounds, newest
   * first: the request's ids, read in slices by `_id` (hinted: SecantusDB would
   * otherwise walk the tenant's whole `tenant_id` range), so no index by request is
   * needed on `messages`.
   */
  private async listBatch(
    tenantId: string,
    batchId: string,
    filter: Record<string, unknown>,
    bounds: { $gte?: string; $lt?: string },
    limit: number,
  ): Promise<MessageDocument[]> {
    const request = await this.requests.findOne({ _id: batchId, tenant_id: tenantId }, { projection: { message_ids: 1 } });
    const candidates = (request?.message_ids ?? [])
      .filter((id) => (bounds.$gte === undefined || id >= bounds.$gte) && (bounds.$lt === undefined || id < bounds.$lt))
      .sort()
      .reverse();
    const found: MessageDocument[] = [];
    for (let i = 0; i < candidates.length && found.length < limit; i += BATCH_LISTING_SLICE) {
      const slice = candidates.slice(i, i + BATCH_LISTING_SLICE);
      found.push(
        ...(await this.messages
          .find({ ...filter, _id: { $in: slice } })
          .sort({ _id: -1 })
          .limit(limit - found.length)
          .hint({ _id: 1 })
          .toArray()),
      );
    }
    return found;
  }

  /** Messages of one request (batch) counted by current status, counted by the server from its ids. */
  async countByStatus(tenantId: string, batchId: string): Promise<Record<string, number>> {
    const request = await this.requests.findOne({ _id: batchId, tenant_id: tenantId }, { projection: { message_ids: 1 } });
    if (request === null || request.message_ids.length === 0) return {};
    const groups = await this.messages
      .aggregate<{ _id: MessageStatus; count: number }>([
        { $match: { _id: { $in: request.message_ids.slice() }, tenant_id: tenantId } },
        { $group: { _id: '$status', count: { $sum: 1 } } },
      ])
      .toArray();
    return Object.fromEntries(groups.map((group) => [group._id, group.count]));
  }

  /**
   * Applies status changes at once: one conditional update per distinct sequence of
   * events (groupTransitions), all in one bulk write. Returns how many messages took
   * their change; the others were already past the states it may leave.
   */
  async recordStatusChanges(changes: readonly StatusChange[]): Promise<number> {
    return this.applyChanges(changes, []);
  }

  /**
   * Records what a dispatched batch came to — provider exchanges and status changes.
   * Calls made while a write is in flight are written together in the next one (group
   * commit), so under load many batches share one bulk write per collection. `urgent`
   * (a critical batch): through the urgent writer and client, never behind a bulk write.
   */
  async recordOutcomes(
    exchanges: readonly ProviderExchange[],
    changes: readonly StatusChange[],
    options: { readonly urgent?: boolean } = {},
  ): Promise<void> {
    if (exchanges.length === 0 && changes.length === 0) return;
    if (options.urgent === true) await this.urgent.track(this.urgentOutcomes.add({ exchanges, changes }));
    else await this.outcomes.add({ exchanges, changes });
  }

  /** The conditional updates of `changes` in one bulk write; how many messages changed. */
  private async applyChanges(
    changes: readonly StatusChange[],
    exchanges: readonly (ExchangeIds & { readonly _id: string })[],
  ): Promise<number> {
    return applyChanges(this.messages, changes, exchanges);
  }

  /**
   * Every tenant that has messages, from the `tenant_id` index alone (a DISTINCT_SCAN):
   * what a re-drive across tenants walks, one tenant at a time. Cheaper for the service
   * than an index on status alone, which every status update would have to maintain.
   */
  async tenantIds(): Promise<string[]> {
    return (await this.messages.distinct('tenant_id')).sort();
  }

  /**
   * A page of one tenant's finished messages to re-drive, oldest first (a resumed run
   * walks the same order), served by `tenant_status_id`; provider is a residual filter
   * on that index range.
   */
  async findRedriveCandidates(query: RedriveQuery): Promise<Message[]> {
    const filter: Record<string, unknown> = { tenant_id: query.tenantId, status: query.status };
    if (query.provider !== undefined) filter['provider'] = query.provider;
    const ids: Record<string, string> = {};
    if (query.from !== undefined) ids['$gte'] = firstIdAt(query.from);
    if (query.after !== undefined && (ids['$gte'] === undefined || query.after >= ids['$gte'])) {
      delete ids['$gte'];
      ids['$gt'] = query.after;
    }
    if (query.to !== undefined) ids['$lt'] = firstIdAt(query.to);
    if (Object.keys(ids).length > 0) filter['_id'] = ids;
    const documents = await this.messages.find(filter).sort({ _id: 1 }).limit(query.limit).toArray();
    return documents.map(fromDocument);
  }

  /**
   * Links a finished message to the message that re-sends it, only while it has none:
   * true when this call set it. The status and timeline stay as they are (a terminal
   * state is never left). Two runs racing on one original: exactly one wins.
   */
  async claimRedrive(tenantId: string, originalId: string, newId: string): Promise<boolean> {
    const result = await this.messages.updateOne(
      { _id: originalId, tenant_id: tenantId, redriven_as: { $exists: false } },
      { $set: { redriven_as: newId } },
    );
    return result.modifiedCount === 1;
  }

  /** Journals provider exchanges in one write. */
  async recordProviderExchanges(exchanges: readonly ProviderExchange[]): Promise<void> {
    if (exchanges.length === 0) return;
    await this.exchanges.insertMany(exchanges.slice(), { ordered: false });
  }

  async findProviderExchanges(messageId: string): Promise<ProviderExchange[]> {
    return this.exchanges.find({ message_ids: messageId }).toArray();
  }
}

/** Batch ids read per query of a batch listing (a request may hold up to 100 000). */
const BATCH_LISTING_SLICE = 1000;

/** The conditional updates of `changes` in one bulk write to `messages`; how many messages changed. */
async function applyChanges(
  messages: Collection<MessageDocument>,
  changes: readonly StatusChange[],
  exchanges: readonly (ExchangeIds & { readonly _id: string })[],
): Promise<number> {
  if (changes.length === 0) return 0;
  const operations = statusChangeOperations(changes, exchanges, new Date()) as AnyBulkWriteOperation<MessageDocument>[];
  const result = await messages.bulkWrite(operations, { ordered: false });
  return result.modifiedCount;
}
