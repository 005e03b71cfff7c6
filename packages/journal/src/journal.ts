import { newId, type Message, type MessageStatus, type StatusEvent } from '@commstrat/core';
import type { Collection, Db } from 'mongodb';
import { GroupCommit } from './group-commit.ts';
import { mergeTimelines, placeStatusEvents, type EventRun, type StatusChange } from './status-events.ts';

export type { StatusChange } from './status-events.ts';

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
  /** The request body as sent, and the response body as received (text). */
  readonly request: string;
  readonly response: string;
  readonly http_status: number | undefined;
  readonly outcome: 'accepted' | 'rejected' | 'error';
  readonly started_at: Date;
  readonly duration_ms: number;
  /**
   * The provider's id of each message, parallel to `message_ids` (null: not accepted):
   * what delivery receipts refer to. A flat array, not one sub-document per message:
   * FerretDB writes it about twice as fast.
   */
  readonly provider_message_ids?: readonly (string | null)[];
  /**
   * The status events every message of the exchange went through alike (`sending`, and
   * `sent` when the provider accepted them all), kept here instead of in a status-event
   * document of their own; part of each message's timeline.
   */
  readonly events?: readonly StatusEvent[];
}

/** One page of a listing, and where the next one starts (null: no more). */
export interface MessagePage {
  readonly messages: Message[];
  readonly nextAfter: string | null;
}

type MessageDocument = Omit<Message, 'id'> & { _id: string };

/** Status events that some messages went through alike, in order (see placeStatusEvents). */
type StatusEventDocument = EventRun & { readonly _id: string };

/** Most candidate messages a status-filtered listing reads for one page. */
const LIST_SCAN_LIMIT = 5000;

/**
 * The MongoDB journal: every request, every message with its status timeline, every
 * provider exchange. Owns no connection: the caller passes a Db and closes its client.
 */
export class Journal {
  private readonly requests: Collection<RequestRecord>;
  private readonly messages: Collection<MessageDocument>;
  private readonly exchanges: Collection<ProviderExchange>;
  private readonly events: Collection<StatusEventDocument>;
  private readonly outcomes: GroupCommit<{ exchanges: readonly ProviderExchange[]; changes: readonly StatusChange[] }>;

  constructor(db: Db) {
    this.requests = db.collection<RequestRecord>('requests');
    this.messages = db.collection<MessageDocument>('messages');
    this.exchanges = db.collection<ProviderExchange>('provider_exchanges');
    this.events = db.collection<StatusEventDocument>('status_events');
    this.outcomes = new GroupCommit(
      async (items) => {
        const placed = placeStatusEvents(
          items.flatMap((item) => item.exchanges),
          items.flatMap((item) => item.changes),
        );
        await Promise.all([this.recordProviderExchanges(placed.exchanges), this.insertRuns(placed.runs)]);
      },
      // About 1 000 messages per write (a sent message is two changes: sending, sent).
      // Measured on FerretDB, 4 batches of 100 per write held one replica at ~30 000
      // msg/s with the journal the queue; 8-16 gave 33 000-35 000.
      { maxWeight: 2000, weigh: (item) => item.changes.length },
    );
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
      [this.messages, { request_id: 1 }, 'request'],
      [this.requests, { tenant_id: 1, received_at: -1 }, 'tenant_received'],
      [this.requests, { enqueued: 1, received_at: 1 }, 'not_enqueued'],
      [this.exchanges, { message_ids: 1 }, 'message_ids'],
      [this.events, { message_ids: 1 }, 'message_ids'],
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

  /** Messages by id, each with its whole timeline and current status. */
  async findMessages(ids: readonly string[]): Promise<Message[]> {
    if (ids.length === 0) return [];
    const documents = await this.messages.find({ _id: { $in: ids.slice() } }).toArray();
    return this.withEvents(documents);
  }

  /**
   * One page of a tenant's messages, newest first. A status filter is applied to the
   * current status (timeline and status events merged), so candidates are read in
   * chunks; a page may come back short, with `nextAfter` set, once LIST_SCAN_LIMIT
   * candidates were read.
   */
  async listMessages(tenantId: string, query: MessageQuery): Promise<MessagePage> {
    const filter: Record<string, unknown> = { tenant_id: tenantId };
    if (query.tag !== undefined) filter['tags'] = query.tag;
    if (query.batchId !== undefined) filter['request_id'] = query.batchId;
    const created: Record<string, Date> = {};
    if (query.from !== undefined) created['$gte'] = query.from;
    if (query.to !== undefined) created['$lt'] = query.to;
    if (Object.keys(created).length > 0) filter['created_at'] = created;
    // Ids are ULIDs, so id order is creation order and makes a stable cursor.
    // Without a status filter every candidate matches, so one chunk of `limit` is a page.
    let after = query.after;
    const found: Message[] = [];
    const chunk = query.status === undefined ? query.limit : Math.max(query.limit, 200);
    for (let scanned = 0; scanned < LIST_SCAN_LIMIT; scanned += chunk) {
      if (after !== undefined) filter['_id'] = { $lt: after };
      const documents = await this.messages.find(filter).sort({ _id: -1 }).limit(chunk).toArray();
      for (const message of await this.withEvents(documents)) {
        after = message.id;
        if (query.status !== undefined && message.status !== query.status) continue;
        found.push(message);
        if (found.length === query.limit) return { messages: found, nextAfter: message.id };
      }
      if (documents.length < chunk) return { messages: found, nextAfter: null };
    }
    return { messages: found, nextAfter: after ?? null };
  }

  /** Messages of one request (batch) counted by current status. */
  async countByStatus(tenantId: string, requestId: string): Promise<Record<string, number>> {
    const documents = await this.messages
      .find({ tenant_id: tenantId, request_id: requestId }, { projection: { _id: 1, status: 1, timeline: 1 } })
      .toArray();
    const counts: Record<string, number> = {};
    for (const message of await this.withEvents(documents)) counts[message.status] = (counts[message.status] ?? 0) + 1;
    return counts;
  }

  /** A message with its whole timeline (its document and its status events, merged). */
  async findMessage(tenantId: string, id: string): Promise<Message | null> {
    const document = await this.messages.findOne({ _id: id, tenant_id: tenantId });
    if (document === null) return null;
    const [message] = await this.withEvents([document]);
    return message ?? null;
  }

  /**
   * Appends status changes to their messages' timelines as status events: one document
   * per distinct sequence of events (a batch's `sending` then `sent`), naming every
   * message it applies to, all in one insert. The message documents are not updated:
   * FerretDB 1.24 (SQLite) answers an update by _id with a scan of the whole collection
   * (about 1.1 s at 100 000 messages), while an insert costs the same at any size.
   * Readers merge the events into the timeline.
   */
  async recordStatusChanges(changes: readonly StatusChange[]): Promise<void> {
    await this.insertRuns(placeStatusEvents([], changes).runs);
  }

  private async insertRuns(runs: readonly EventRun[]): Promise<void> {
    if (runs.length === 0) return;
    await this.events.insertMany(
      runs.map((run) => ({ _id: newId(), ...run })),
      { ordered: false },
    );
  }

  /**
   * Records what a dispatched batch came to — provider exchanges and status changes,
   * the events its messages share inside the exchange (placeStatusEvents). Calls made
   * while a write is in flight are written together in the next one (group commit), so
   * under load many batches share one insert per collection.
   */
  async recordOutcomes(exchanges: readonly ProviderExchange[], changes: readonly StatusChange[]): Promise<void> {
    if (exchanges.length === 0 && changes.length === 0) return;
    await this.outcomes.add({ exchanges, changes });
  }

  /**
   * Documents turned into messages, the events of their status-event documents and of
   * the exchanges that carried them merged in, each `sent` event with the provider's id
   * of the message (one read of each collection for all).
   */
  private async withEvents(documents: readonly MessageDocument[]): Promise<Message[]> {
    if (documents.length === 0) return [];
    const ids = documents.map((document) => document._id);
    const [runs, carried] = await Promise.all([
      this.events.find({ message_ids: { $in: ids } }).toArray(),
      this.exchanges
        .find({ message_ids: { $in: ids } }, { projection: { message_ids: 1, events: 1, provider_message_ids: 1 } })
        .toArray(),
    ]);
    const timelines = mergeTimelines(
      new Map(documents.map((document) => [document._id, document.timeline ?? []])),
      [...runs, ...carried],
    );
    return documents.map((document) => {
      const message = fromDocument(document);
      const timeline = timelines.get(message.id) ?? [];
      if (timeline.length === (message.timeline ?? []).length) return message;
      return { ...message, timeline, status: timeline.at(-1)?.status ?? message.status };
    });
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
