import type { Message, MessageStatus, StatusEvent } from '@commstrat/core';
import type { Collection, Db } from 'mongodb';

/** The raw incoming request, kept as received. */
export interface RequestRecord {
  readonly _id: string;
  readonly tenant_id: string;
  readonly source: 'rest' | 'kafka';
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

/** One exchange with a provider: what we sent, what it answered, how long it took. */
export interface ProviderExchange {
  readonly _id: string;
  readonly provider: string;
  readonly message_ids: readonly string[];
  readonly request: unknown;
  readonly response: unknown;
  readonly http_status: number | undefined;
  readonly outcome: 'accepted' | 'rejected' | 'error';
  readonly started_at: Date;
  readonly duration_ms: number;
  /** The provider's id for each message it accepted: what delivery receipts refer to. */
  readonly accepted?: readonly { readonly message_id: string; readonly provider_message_id: string }[];
}

/** A state change of one message, appended to its timeline. */
export interface StatusChange {
  readonly messageId: string;
  readonly event: StatusEvent;
}

type MessageDocument = Omit<Message, 'id'> & { _id: string };

/**
 * The MongoDB journal: every request, every message with its status timeline, every
 * provider exchange. Owns no connection: the caller passes a Db and closes its client.
 */
export class Journal {
  private readonly requests: Collection<RequestRecord>;
  private readonly messages: Collection<MessageDocument>;
  private readonly exchanges: Collection<ProviderExchange>;

  constructor(db: Db) {
    this.requests = db.collection<RequestRecord>('requests');
    this.messages = db.collection<MessageDocument>('messages');
    this.exchanges = db.collection<ProviderExchange>('provider_exchanges');
  }

  /**
   * Creates the lookup indexes; idempotent, run at start-up. One index per command:
   * FerretDB 1.24 panics on a createIndexes that lists several indexes some of which
   * already exist (the connection drops); one at a time behaves the same on MongoDB.
   */
  async ensureIndexes(): Promise<void> {
    const wanted: [Pick<Collection, 'createIndex'>, Record<string, 1 | -1>, string][] = [
      [this.messages, { tenant_id: 1, created_at: -1 }, 'tenant_created'],
      [this.messages, { tenant_id: 1, status: 1 }, 'tenant_status'],
      [this.exchanges, { 'accepted.provider_message_id': 1 }, 'provider_message_id'],
      [this.messages, { request_id: 1 }, 'request'],
      [this.requests, { tenant_id: 1, received_at: -1 }, 'tenant_received'],
      [this.requests, { enqueued: 1, received_at: 1 }, 'not_enqueued'],
      [this.exchanges, { message_ids: 1 }, 'message_ids'],
    ];
    for (const [collection, key, name] of wanted) await collection.createIndex(key, { name });
  }

  /**
   * Journals a request and its messages. Resolves only once both writes are
   * acknowledged. Returns false, writing nothing, when a request with this id is already
   * journaled (a redelivered Kafka record): the caller answers from `findRequest`.
   */
  async recordAccepted(request: RequestRecord, messages: readonly Message[]): Promise<boolean> {
    try {
      await this.requests.insertOne(request);
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
    if (messages.length > 0) {
      await this.messages.insertMany(messages.map(toDocument), { ordered: false });
    }
    return true;
  }

  async findRequest(id: string): Promise<RequestRecord | null> {
    return this.requests.findOne({ _id: id });
  }

  /**
   * Marks requests as verified in their lanes, in one write; the recovery pass skips
   * them from then on. Intake does not call this per request (the enqueue guard in Redis
   * says the same, and an update per request is the costliest write on some servers);
   * the recovery pass marks whole pages.
   */
  async markEnqueued(requestIds: readonly string[]): Promise<void> {
    if (requestIds.length === 0) return;
    await this.requests.updateMany({ _id: { $in: requestIds.slice() } }, { $set: { enqueued: true } });
  }

  /** Requests journaled before `cutoff` and not yet verified in their lanes, oldest first. */
  async findUnverifiedRequests(cutoff: Date, limit: number): Promise<RequestRecord[]> {
    return this.requests
      .find({ enqueued: false, received_at: { $lt: cutoff } })
      .sort({ received_at: 1 })
      .limit(limit)
      .toArray();
  }

  async findMessages(ids: readonly string[]): Promise<Message[]> {
    const documents = await this.messages.find({ _id: { $in: ids.slice() } }).toArray();
    return documents.map(fromDocument);
  }

  /** One page of a tenant's messages, newest first. */
  async listMessages(tenantId: string, query: MessageQuery): Promise<Message[]> {
    const filter: Record<string, unknown> = { tenant_id: tenantId };
    if (query.status !== undefined) filter['status'] = query.status;
    if (query.tag !== undefined) filter['tags'] = query.tag;
    if (query.batchId !== undefined) filter['request_id'] = query.batchId;
    const created: Record<string, Date> = {};
    if (query.from !== undefined) created['$gte'] = query.from;
    if (query.to !== undefined) created['$lt'] = query.to;
    if (Object.keys(created).length > 0) filter['created_at'] = created;
    // Ids are ULIDs, so id order is creation order and makes a stable cursor.
    if (query.after !== undefined) filter['_id'] = { $lt: query.after };
    const documents = await this.messages.find(filter).sort({ _id: -1 }).limit(query.limit).toArray();
    return documents.map(fromDocument);
  }

  /** Messages of one request (batch) counted by status. */
  async countByStatus(tenantId: string, requestId: string): Promise<Record<string, number>> {
    const rows = await this.messages
      .aggregate<{ _id: string; count: number }>([
        { $match: { tenant_id: tenantId, request_id: requestId } },
        { $group: { _id: '$status', count: { $sum: 1 } } },
      ])
      .toArray();
    return Object.fromEntries(rows.map((row) => [row._id, row.count]));
  }

  /**
   * Moves a message to `to` only if its status is one of `from`, appending the event.
   * Returns false when the message is not the tenant's or not in one of those states.
   */
  async transition(
    tenantId: string,
    id: string,
    from: readonly MessageStatus[],
    event: StatusEvent,
  ): Promise<boolean> {
    const result = await this.messages.updateOne(
      { _id: id, tenant_id: tenantId, status: { $in: from.slice() } },
      { $set: { status: event.status }, $push: { timeline: event } },
    );
    return result.modifiedCount === 1;
  }

  /**
   * Moves the messages still in one of `from` to `event.status` in one write, and returns
   * the ids that were not (cancelled or already handled), which the caller must skip.
   */
  async transitionMany(
    ids: readonly string[],
    from: readonly MessageStatus[],
    event: StatusEvent,
  ): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const result = await this.messages.updateMany(
      { _id: { $in: ids.slice() }, status: { $in: from.slice() } },
      { $set: { status: event.status }, $push: { timeline: event } },
    );
    if (result.modifiedCount === ids.length) return new Set();
    // Rare: some were cancelled meanwhile. One more read names them.
    const skipped = await this.messages
      .find({ _id: { $in: ids.slice() }, status: { $nin: [event.status] } }, { projection: { _id: 1 } })
      .toArray();
    return new Set(skipped.map((document) => document._id));
  }

  async findMessage(tenantId: string, id: string): Promise<Message | null> {
    const document = await this.messages.findOne({ _id: id, tenant_id: tenantId });
    return document === null ? null : fromDocument(document);
  }

  /**
   * Appends status changes to their messages' timelines. Changes with the same event
   * (a batch sent, a batch retried) go in one updateMany each, so a batch costs a write
   * or two rather than one per message — on servers that answer an update by _id with a
   * scan (FerretDB) that is the difference between hundreds and thousands per second.
   */
  async recordStatusChanges(changes: readonly StatusChange[]): Promise<void> {
    const groups = new Map<string, { event: StatusEvent; ids: string[] }>();
    for (const { messageId, event } of changes) {
      const key = JSON.stringify(event);
      const group = groups.get(key) ?? { event, ids: [] };
      group.ids.push(messageId);
      groups.set(key, group);
    }
    await Promise.all(
      [...groups.values()].map(({ event, ids }) =>
        ids.length === 1
          ? this.messages.updateOne({ _id: ids[0] ?? '' }, { $set: { status: event.status }, $push: { timeline: event } })
          : this.messages.updateMany({ _id: { $in: ids } }, { $set: { status: event.status }, $push: { timeline: event } }),
      ),
    );
  }

  /** The provider's ids of a message, by the exchange that carried it. */
  async providerMessageIds(messageId: string): Promise<Map<string, string>> {
    const exchanges = await this.exchanges
      .find({ message_ids: messageId, outcome: 'accepted' }, { projection: { accepted: 1 } })
      .toArray();
    const ids = new Map<string, string>();
    for (const exchange of exchanges) {
      const found = exchange.accepted?.find((item) => item.message_id === messageId);
      if (found !== undefined) ids.set(exchange._id, found.provider_message_id);
    }
    return ids;
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
  const { id, ...rest } = message;
  return { _id: id, ...rest };
}

function fromDocument(document: MessageDocument): Message {
  const { _id, ...rest } = document;
  return { id: _id, ...rest };
}
