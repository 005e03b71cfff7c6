import type { Message, StatusEvent } from '@commstrat/core';
import type { Collection, Db } from 'mongodb';

/** The raw incoming request, kept as received. */
export interface RequestRecord {
  readonly _id: string;
  readonly tenant_id: string;
  readonly source: 'rest' | 'kafka';
  readonly received_at: Date;
  readonly body: unknown;
  readonly message_ids: readonly string[];
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

  /** Creates the lookup indexes; idempotent, run at start-up. */
  async ensureIndexes(): Promise<void> {
    await this.messages.createIndexes([
      { key: { tenant_id: 1, created_at: -1 }, name: 'tenant_created' },
      { key: { tenant_id: 1, status: 1 }, name: 'tenant_status' },
      { key: { 'timeline.provider_message_id': 1 }, name: 'provider_message_id' },
    ]);
    await this.requests.createIndexes([{ key: { tenant_id: 1, received_at: -1 }, name: 'tenant_received' }]);
    await this.exchanges.createIndexes([{ key: { message_ids: 1 }, name: 'message_ids' }]);
  }

  /** Journals a request and its messages. Resolves only once both writes are acknowledged. */
  async recordAccepted(request: RequestRecord, messages: readonly Message[]): Promise<void> {
    await this.requests.insertOne(request);
    if (messages.length > 0) {
      await this.messages.insertMany(messages.map(toDocument), { ordered: false });
    }
  }

  async findMessage(tenantId: string, id: string): Promise<Message | null> {
    const document = await this.messages.findOne({ _id: id, tenant_id: tenantId });
    return document === null ? null : fromDocument(document);
  }

  /** Appends status changes to their messages' timelines in one bulk write. */
  async recordStatusChanges(changes: readonly StatusChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.messages.bulkWrite(
      changes.map(({ messageId, event }) => ({
        updateOne: {
          filter: { _id: messageId },
          update: {
            $set: { status: event.status },
            $push: { timeline: event },
          },
        },
      })),
      { ordered: false },
    );
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

function toDocument(message: Message): MessageDocument {
  const { id, ...rest } = message;
  return { _id: id, ...rest };
}

function fromDocument(document: MessageDocument): Message {
  const { _id, ...rest } = document;
  return { id: _id, ...rest };
}
