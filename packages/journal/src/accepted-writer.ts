import type { Message } from '@commstrat/core';
import type { ClientSession, Db } from 'mongodb';
import { GroupCommit } from './group-commit.ts';
import { toDocument, type MessageDocument, type BatchRecord } from './documents.ts';

/** One request to journal with its messages. */
interface Accepted {
  readonly request: BatchRecord;
  readonly messages: readonly Message[];
}

/** What came of one request of a group: journaled, seen before, or its own error. */
type Outcome = { readonly failed: false; readonly journaled: boolean } | { readonly failed: true; readonly error: unknown };

export interface AcceptedWriterOptions {
  /** Transactions on, off, or `auto`: asked of the server once, through this writer's own client. */
  readonly transactions: 'auto' | boolean;
  /** Writes in flight at once; requests that come while all are busy share the next. */
  readonly writers: number;
  /** Test-only fault injection: exit the process between the request and its messages. */
  readonly failpoint?: 'exit-after-request' | undefined;
  /** Awaited before each write (the bulk writers let critical writes in flight go first). */
  readonly before?: () => Promise<void>;
}

/**
 * Most messages one transaction of several requests carries: about one REST batch of
 * 1 000, or twenty Kafka records of 100. One request larger than this still goes whole.
 */
const MAX_MESSAGES_PER_WRITE = 2000;

/**
 * Journals accepted requests with their messages, through a group commit: requests that
 * come while every writer is busy (Kafka records of several partitions, concurrent REST
 * calls) are journaled together in one transaction — one commit, and on a server that
 * syncs its log on commit one sync, for all of them. Where the server has no
 * transactions each request is written alone, request first (see Journal.recordAccepted).
 *
 * A transaction of several requests is all or nothing, so when it fails — a request
 * journaled before (a redelivered Kafka record), a document the server refuses, an
 * outage — each request is written again alone and gets its own answer: one record's
 * fault never becomes its neighbours'.
 */
export class AcceptedWriter {
  private readonly db: Db;
  private readonly options: AcceptedWriterOptions;
  private readonly group: GroupCommit<Accepted, Outcome>;
  private transactional: Promise<boolean> | undefined;

  constructor(db: Db, options: AcceptedWriterOptions) {
    this.db = db;
    this.options = options;
    this.group = new GroupCommit((items) => this.writeGroup(items), {
      maxWeight: MAX_MESSAGES_PER_WRITE,
      weigh: (item) => Math.max(1, item.messages.length),
      writers: options.writers,
    });
  }

  /** True once journaled; false, writing nothing, when a request with this id already is. */
  async write(request: BatchRecord, messages: readonly Message[]): Promise<boolean> {
    const outcome = await this.group.add({ request, messages });
    if (outcome.failed) throw outcome.error;
    return outcome.journaled;
  }

  /** Whether the server takes transactions (`hello` names a replica set or mongos). */
  private usesTransactions(): Promise<boolean> {
    if (this.options.transactions !== 'auto') return Promise.resolve(this.options.transactions);
    this.transactional ??= this.db
      .command({ hello: 1 })
      .then((hello) => typeof hello['setName'] === 'string' || hello['msg'] === 'isdbgrid');
    this.transactional.catch(() => (this.transactional = undefined));
    return this.transactional;
  }

  private async writeGroup(items: readonly Accepted[]): Promise<Outcome[]> {
    await this.options.before?.();
    const transactional = await this.usesTransactions();
    if (items.length > 1 && transactional) {
      try {
        await this.db.client.withSession((session) => session.withTransaction(() => this.insert(items, session)));
        return items.map(() => ({ failed: false, journaled: true }));
      } catch {
        // Each alone below, so each learns its own outcome.
      }
    }
    return Promise.all(
      items.map((item) =>
        this.writeOne(item, transactional).then(
          (journaled): Outcome => ({ failed: false, journaled }),
          (error: unknown): Outcome => ({ failed: true, error }),
        ),
      ),
    );
  }

  private async writeOne(item: Accepted, transactional: boolean): Promise<boolean> {
    try {
      if (!transactional) await this.insert([item]);
      else await this.db.client.withSession((session) => session.withTransaction(() => this.insert([item], session)));
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
    return true;
  }

  /** The requests, then all their messages: two inserts, in `session`'s transaction when given. */
  private async insert(items: readonly Accepted[], session?: ClientSession): Promise<void> {
    const options = session === undefined ? {} : { session };
    const requests = this.db.collection<BatchRecord>('requests');
    if (items.length === 1 && items[0] !== undefined) await requests.insertOne(items[0].request, options);
    else await requests.insertMany(items.map((item) => item.request), options);
    if (this.options.failpoint === 'exit-after-request') process.exit(137);
    const documents = items.flatMap((item) => item.messages.map(toDocument));
    if (documents.length > 0) {
      await this.db.collection<MessageDocument>('messages').insertMany(documents, { ordered: false, ...options });
    }
  }
}

export function isDuplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}
