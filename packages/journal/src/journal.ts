import { firstIdAt, type Message, type MessageStatus, type Receipt, type StatusEvent } from '@commstrat/core';
import type { AnyBulkWriteOperation, ClientSession, Collection, Db, IndexDescription } from 'mongodb';
import { GroupCommit } from './group-commit.ts';
import { groupTransitions, transitionUpdate, type ExchangeIds, type StatusChange } from './transitions.ts';

export type { StatusChange } from './transitions.ts';

/** The raw incoming request, kept as received. */
export interface BatchRecord {
  readonly _id: string;
  readonly tenant_id: string;
  /** `redrive`: made by `commstrat replay dlq` or `commstrat redrive`, its body the original's id. */
  readonly source: 'rest' | 'kafka' | 'redrive';
  readonly received_at: Date;
  readonly body: unknown;
  readonly message_ids: readonly string[];
  /** Index in the request of each accepted message, parallel to `message_ids`. */
  readonly accepted_indexes?: readonly number[];
  /** Set by the recovery pass once it verified the request's messages reached Redis. */
  readonly enqueued: boolean;
  /** Per-item results for batch requests, so a replayed request answers the same. */
  readonly rejected?: readonly unknown[];
}

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

/** One page of a listing, and where the next one starts (null: no more). */
export interface MessagePage {
  readonly messages: Message[];
  readonly nextAfter: string | null;
}

/**
 * A message as stored. Its batch id is stored as `request_id`, its name in 0.1, so that
 * journals written before and the `tenant_request_id` index serve as they are; the code
 * and the API call it `batch_id` (toDocument / fromDocument map it).
 */
type MessageDocument = Omit<Message, 'id' | 'batch_id'> & { _id: string; request_id: string; callback_due?: boolean; callback_seq?: number };

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
}

/** The lookup indexes, by collection; every read of the journal is served by one of them. */
const INDEXES: Readonly<Record<'messages' | 'requests' | 'provider_exchanges', IndexDescription[]>> = {
  messages: [
    // Ids are ULIDs (creation order): every listing pages by _id, newest first, on one of these.
    { key: { tenant_id: 1, _id: -1 }, name: 'tenant_id' },
    { key: { tenant_id: 1, status: 1, _id: -1 }, name: 'tenant_status_id' },
    { key: { tenant_id: 1, tags: 1, _id: -1 }, name: 'tenant_tag_id' },
    { key: { tenant_id: 1, request_id: 1, _id: -1 }, name: 'tenant_request_id' },
    // The status-callback outbox: messages with changes not yet handed to `callbacks`.
    // Every change sets callback_due; only messages that take callbacks are indexed.
    { key: { callback_due: 1 }, name: 'callback_due', partialFilterExpression: { callback_due: true, callbacks: true } },
    // What delivery receipts look up: the provider's id of a message.
    {
      key: { tenant_id: 1, provider_message_id: 1 },
      name: 'tenant_provider_message_id',
      partialFilterExpression: { provider_message_id: { $type: 'string' } },
    },
  ],
  requests: [
    { key: { tenant_id: 1, received_at: -1 }, name: 'tenant_received' },
    { key: { enqueued: 1, received_at: 1 }, name: 'not_enqueued' },
  ],
  provider_exchanges: [{ key: { message_ids: 1 }, name: 'message_ids' }],
};

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
  private readonly outcomes: GroupCommit<{ exchanges: readonly ProviderExchange[]; changes: readonly StatusChange[] }>;
  private readonly transactionsOption: 'auto' | boolean;
  private readonly failpoint: JournalOptions['failpoint'];
  private transactional: Promise<boolean> | undefined;

  constructor(db: Db, options: JournalOptions = {}) {
    this.db = db;
    this.requests = db.collection<BatchRecord>('requests');
    this.messages = db.collection<MessageDocument>('messages');
    this.exchanges = db.collection<ProviderExchange>('provider_exchanges');
    this.transactionsOption = options.transactions ?? 'auto';
    this.failpoint = options.failpoint;
    this.outcomes = new GroupCommit(
      async (items) => {
        const exchanges = items.flatMap((item) => item.exchanges);
        await Promise.all([
          this.recordProviderExchanges(exchanges),
          this.applyChanges(items.flatMap((item) => item.changes), exchanges),
        ]);
      },
      // About 1 000 messages per write (a sent message is two changes: sending, sent):
      // a larger write is serialised in one synchronous step that would hold up a
      // critical message waiting to go.
      { maxWeight: 2000, weigh: (item) => item.changes.length },
    );
  }

  /** Creates the lookup indexes; idempotent, run at start-up. */
  async ensureIndexes(): Promise<void> {
    await Promise.all(
      Object.entries(INDEXES).map(([name, indexes]) => this.db.collection(name).createIndexes(indexes)),
    );
  }

  /**
   * Journals a request and its messages, in one transaction where the server has them.
   * Resolves only once both are acknowledged. Returns false, writing nothing, when a
   * request with this id is already journaled (a redelivered Kafka record): the caller
   * answers from `findRequest`.
   */
  async recordAccepted(request: BatchRecord, messages: readonly Message[]): Promise<boolean> {
    const write = async (session?: ClientSession) => {
      await this.requests.insertOne(request, session === undefined ? {} : { session });
      if (this.failpoint === 'exit-after-request') process.exit(137);
      if (messages.length > 0) {
        await this.messages.insertMany(messages.map(toDocument), { ordered: false, ...(session === undefined ? {} : { session }) });
      }
    };
    try {
      if (!(await this.usesTransactions())) await write();
      else await this.db.client.withSession((session) => session.withTransaction(() => write(session)));
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
    return true;
  }

  /** Whether the server takes transactions (asked once: `hello` names a replica set or mongos). */
  private async usesTransactions(): Promise<boolean> {
    if (this.transactionsOption !== 'auto') return this.transactionsOption;
    this.transactional ??= this.db
      .command({ hello: 1 })
      .then((hello) => typeof hello['setName'] === 'string' || hello['msg'] === 'isdbgrid');
    this.transactional.catch(() => (this.transactional = undefined));
    return this.transactional;
  }

  /**
   * Removes a request whose messages were not all journaled — a process died between the
   * two writes where the server has no transactions — so that it can be journaled again
   * whole (its producer was never acknowledged). True when it removed one.
   */
  async discardIncompleteBatch(id: string): Promise<boolean> {
    const request = await this.findBatch(id);
    if (request === null) return false;
    const journaled = await this.messages.countDocuments({ tenant_id: request.tenant_id, request_id: id });
    if (journaled >= request.message_ids.length) return false;
    await this.messages.deleteMany({ tenant_id: request.tenant_id, request_id: id });
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
  async applyReceipts(tenantId: string, provider: string, receipts: readonly Receipt[], now: Date): Promise<ReceiptOutcome[]> {
    const found = await this.messages
      .find(
        { tenant_id: tenantId, provider_message_id: { $in: [...new Set(receipts.map((r) => r.provider_message_id))] }, provider },
        { projection: { _id: 1, status: 1, provider_message_id: 1 } },
      )
      .toArray();
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
    return outcomes;
  }

  /**
   * One page of a tenant's messages, newest first, served by an index: the filters
   * (status, tag, batch) each lead one of the compound indexes, and a time range is a
   * range of ids (ULIDs start with their time). `after` is the last id of the page
   * before: a stable cursor, whatever is journaled meanwhile.
   */
  async listMessages(tenantId: string, query: MessageQuery): Promise<MessagePage> {
    const filter: Record<string, unknown> = { tenant_id: tenantId };
    if (query.status !== undefined) filter['status'] = query.status;
    if (query.tag !== undefined) filter['tags'] = query.tag;
    if (query.batchId !== undefined) filter['request_id'] = query.batchId;
    const ids: Record<string, string> = {};
    if (query.from !== undefined) ids['$gte'] = firstIdAt(query.from);
    if (query.to !== undefined) ids['$lt'] = firstIdAt(query.to);
    if (query.after !== undefined && (ids['$lt'] === undefined || query.after < ids['$lt'])) ids['$lt'] = query.after;
    if (Object.keys(ids).length > 0) filter['_id'] = ids;
    // One more than a page tells whether another page follows.
    const documents = await this.messages.find(filter).sort({ _id: -1 }).limit(query.limit + 1).toArray();
    const messages = documents.slice(0, query.limit).map(fromDocument);
    return { messages, nextAfter: documents.length > query.limit ? (messages.at(-1)?.id ?? null) : null };
  }

  /** Messages of one batch counted by current status, counted by the server. */
  async countByStatus(tenantId: string, batchId: string): Promise<Record<string, number>> {
    const groups = await this.messages
      .aggregate<{ _id: MessageStatus; count: number }>([
        { $match: { tenant_id: tenantId, request_id: batchId } },
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
   * commit), so under load many batches share one bulk write per collection.
   */
  async recordOutcomes(exchanges: readonly ProviderExchange[], changes: readonly StatusChange[]): Promise<void> {
    if (exchanges.length === 0 && changes.length === 0) return;
    await this.outcomes.add({ exchanges, changes });
  }

  /** The conditional updates of `changes` in one bulk write; how many messages changed. */
  private async applyChanges(
    changes: readonly StatusChange[],
    exchanges: readonly (ExchangeIds & { readonly _id: string })[],
  ): Promise<number> {
    if (changes.length === 0) return 0;
    const byId = new Map(exchanges.map((exchange) => [exchange._id, exchange]));
    const now = new Date();
    const operations: AnyBulkWriteOperation<MessageDocument>[] = groupTransitions(changes).map((transition) => ({
      updateMany: transitionUpdate(transition, byId, now) as never,
    }));
    const result = await this.messages.bulkWrite(operations, { ordered: false });
    return result.modifiedCount;
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

function isDuplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}

function toDocument(message: Message): MessageDocument {
  const { id, batch_id, ...rest } = message;
  // Its first events (accepted, queued) are called back too: the outbox flag goes with them.
  return { _id: id, request_id: batch_id, ...rest, ...(message.callbacks === true ? { callback_due: true } : {}) };
}

function fromDocument(document: MessageDocument): Message {
  const { _id, request_id, callback_due: _due, callback_seq: _seq, ...rest } = document;
  return { id: _id, batch_id: request_id, ...rest };
}
