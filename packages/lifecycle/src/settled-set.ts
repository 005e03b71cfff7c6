import type { ErrorCode, MessageStatus, QueuedMessage } from '@commstrat/core';
import type { Journal, ProviderExchange, StatusChange } from '@commstrat/journal';
import type { DeadLetterInput, LaneEntry, LaneReader } from '@commstrat/queue';

export function change(messageId: string, status: MessageStatus, now: number, reason: string): StatusChange {
  return { messageId, event: { status, at: new Date(now), reason } };
}

/** The journal write a settled set makes (group-committed by the journal). */
export type OutcomeJournal = Pick<Journal, 'recordOutcomes'>;

/** The Redis step a settled set ends with (one MULTI). */
export type SettleLanes = Pick<LaneReader, 'settle'>;

/**
 * What the callers outside this package see of a settled set: the entries it will
 * acknowledge, and its commit. Only the lifecycle writes into one.
 */
export interface Settlement {
  entries(): readonly LaneEntry[];
  /** Journal first, then Redis (deferrals, dead letters, acks: one atomic step). */
  commit(): Promise<void>;
}

/**
 * What a set of entries came to, written in bulk — provider exchanges and status
 * changes to MongoDB, retries and dead letters to Redis — and only then acknowledged.
 */
export class SettledSet implements Settlement {
  private readonly changes: StatusChange[] = [];
  private readonly exchanges: ProviderExchange[] = [];
  private readonly retries: { message: QueuedMessage; dueAt: number }[] = [];
  private readonly deadLetters: DeadLetterInput[] = [];
  private readonly acks: LaneEntry[] = [];
  private readonly dropped: string[] = [];
  private readonly journal: OutcomeJournal;
  private readonly lanes: SettleLanes;

  constructor(journal: OutcomeJournal, lanes: SettleLanes) {
    this.journal = journal;
    this.lanes = lanes;
  }

  /** Cancelled by the tenant before it was claimed: acknowledged, its cancel marker cleared. */
  drop(entry: LaneEntry): void {
    this.acks.push(entry);
    this.dropped.push(entry.message.id);
  }

  finish(entry: LaneEntry, statusChange: StatusChange): void {
    this.changes.push(statusChange);
    this.acks.push(entry);
  }

  /** Back to the delayed set until `dueAt` (window, retry), then acknowledged. */
  defer(entry: LaneEntry, dueAt: number, statusChange: StatusChange, message: QueuedMessage = entry.message): void {
    this.retries.push({ message, dueAt });
    this.finish(entry, statusChange);
  }

  /** `code` and `provider` (absent: none was available) are what a replay filters on. */
  deadLetter(entry: LaneEntry, message: QueuedMessage, statusChange: StatusChange, code: ErrorCode, provider?: string): void {
    this.deadLetters.push({ message, reason: statusChange.event.reason ?? '', code, ...(provider === undefined ? {} : { provider }) });
    this.finish(entry, statusChange);
  }

  exchange(record: ProviderExchange): void {
    this.exchanges.push(record);
  }

  entries(): readonly LaneEntry[] {
    return this.acks;
  }

  /** Acknowledged with no status change (a cascade timer that has nothing left to do). */
  ack(entry: LaneEntry): void {
    this.acks.push(entry);
  }

  /** Parked in the delayed set until `dueAt` besides what else happens to its entry (a cascade timer). */
  later(message: QueuedMessage, dueAt: number): void {
    this.retries.push({ message, dueAt });
  }

  /** Back to the delayed set until `dueAt` with no status change (a cascade timer not yet due), then acknowledged. */
  requeue(entry: LaneEntry, dueAt: number, message: QueuedMessage = entry.message): void {
    this.retries.push({ message, dueAt });
    this.acks.push(entry);
  }

  /** A status change with no lane operation of its own (`sending`, before the outcome). */
  note(statusChange: StatusChange): void {
    this.changes.push(statusChange);
  }

  /**
   * Journal first, then Redis (deferrals, dead letters, acks: one atomic step): a crash
   * in between means a resend, never a loss.
   */
  async commit(): Promise<void> {
    await this.journal.recordOutcomes(this.exchanges, this.changes);
    await this.lanes.settle({ deferred: this.retries, deadLetters: this.deadLetters, acks: this.acks, dropped: this.dropped });
  }
}
