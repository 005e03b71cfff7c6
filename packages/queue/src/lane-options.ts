import type { Priority, QueuedMessage } from '@commstrat/core';

export interface LaneQueueOptions {
  /** Prefix of every key, so tests and deployments sharing one Redis stay apart. Default `commstrat:`. */
  readonly prefix?: string;
  /** Consumer group shared by all dispatcher replicas. Default `dispatchers`. */
  readonly group?: string;
}

/** The consumer group every dispatcher replica reads the lanes through. */
export const DEFAULT_GROUP = 'dispatchers';

/** A message that exhausted its attempts, as the dead-letter stream keeps it. */
export interface DeadLetterInput {
  readonly message: QueuedMessage;
  /** Why it was given up, in words (the journal's `failed` reason). */
  readonly reason: string;
  /** The error code of the last failure (packages/core ERROR_CODES). */
  readonly code?: string;
  /** The provider it last failed at, `<tenant>/<provider>`; absent when none was available. */
  readonly provider?: string;
}

/** One claimed lane entry: ack it by `lane` and `entryId` once its outcome is recorded. */
export interface LaneEntry {
  readonly lane: Priority;
  readonly entryId: string;
  readonly message: QueuedMessage;
}

/** A message to park in the delayed set until `dueAt` (ms since epoch). */
export interface DelayedMessage {
  readonly message: QueuedMessage;
  readonly dueAt: number;
}

/** One entry of the dead-letter stream, as `commstrat replay dlq` reads it. */
export interface DeadLetterEntry {
  readonly entryId: string;
  /** When it was dead-lettered: the entry id's millisecond part (Redis's clock). */
  readonly at: Date;
  /** Undefined when the entry's `m` field is missing or unreadable (written by hand): skipped, not fatal. */
  readonly message: QueuedMessage | undefined;
  readonly reason: string;
  /** Absent on entries written before dead letters carried a code. */
  readonly code: string | undefined;
  readonly provider: string | undefined;
}
