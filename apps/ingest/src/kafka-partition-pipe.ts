/**
 * The records of one Kafka partition under way in this replica, and the offset the group
 * may commit for it.
 *
 * Kafka intake resolves a record's offset with kafkajs as soon as the record starts, so
 * kafkajs fetches the next records while the journal writes the ones before: a record
 * produced meanwhile no longer waits a whole journal write before it is even fetched.
 * What kafkajs resolves therefore says nothing about what is handled. This pipe keeps that
 * instead: the records started, in log order, and which of them are handled. It commits
 * (through `commit`) the position after the longest handled prefix, one commit at a time
 * and always the newest position, so a crash redelivers every record not handled and
 * skips none.
 *
 * A record gives up only when intake stops: it stays uncommitted, with everything after it,
 * and the next start redelivers them.
 */
export interface PartitionPipeOptions {
  /** Records from the first unhandled one through the newest started, at most. */
  readonly limit: number;
  /** Commits `offset` (the next record to read) for the partition. */
  readonly commit: (offset: string) => Promise<void>;
  /**
   * A commit failed (a rebalance, Kafka unavailable: the next advance tries again), or a
   * record's handler threw (a bug: the record stays unhandled and uncommitted).
   */
  readonly onError: (error: unknown, during: 'commit' | 'record') => void;
  /** `lag` records of the partition are not handled yet (told on each fetch and each advance). */
  readonly onLag?: (lag: number) => void;
}

interface Started {
  readonly offset: bigint;
  done: boolean;
}

export class PartitionPipe {
  /** Records waiting for a dependency now; while any does, no new record starts. */
  failing = 0;
  private readonly options: PartitionPipeOptions;
  /** From the first record not handled through the newest started, in log order. */
  private readonly started: Started[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private newestStarted = -1n;
  /** The partition's high watermark as of the latest fetch, for the lag. */
  private highWatermark = 0;
  private handledNext: bigint | undefined;
  private committedNext: bigint | undefined;
  /** A commit loop is running; set and cleared with no await in between its last check. */
  private committing = false;
  /** The latest commit loop, for settle to wait on. */
  private commits: Promise<void> = Promise.resolve();
  private revoked = false;

  constructor(options: PartitionPipeOptions) {
    this.options = options;
  }

  /**
   * A batch was fetched, from `firstOffset` up to the partition's `highWatermark`: the lag
   * counts from the first record not handled, which may be one fetched before.
   */
  fetched(highWatermark: string, firstOffset: string): void {
    this.highWatermark = Number(highWatermark);
    const fetchedFrom = BigInt(firstOffset);
    const firstUnhandled = this.started[0]?.offset ?? (this.handledNext !== undefined && this.handledNext > fetchedFrom ? this.handledNext : fetchedFrom);
    this.options.onLag?.(this.highWatermark - Number(firstUnhandled));
  }

  /**
   * True when the record at `offset` is already started here: kafkajs fetches again from
   * the committed offset after a rejoin, and those records must not run twice.
   */
  seen(offset: string): boolean {
    return BigInt(offset) <= this.newestStarted;
  }

  /** True when another record may start now. */
  hasRoom(): boolean {
    return this.inFlight.size === 0 || (this.failing === 0 && this.started.length < this.options.limit);
  }

  /** Waits until another record may start (see hasRoom), or until none is under way. */
  async room(): Promise<void> {
    while (!this.hasRoom()) await Promise.race(this.inFlight);
  }

  /**
   * Starts the record at `offset` (the next one after every record started before).
   * `handle` resolves true once the record is handled, false when it gave up.
   */
  start(offset: string, handle: () => Promise<boolean>): void {
    const entry: Started = { offset: BigInt(offset), done: false };
    this.started.push(entry);
    this.newestStarted = entry.offset;
    const task = handle().then(
      (ok) => {
        if (!ok) return;
        entry.done = true;
        this.advance();
      },
      // untilHandled retries every error itself; one reaching here is a bug, and the
      // record stays unhandled (uncommitted) rather than taking the process down.
      (error: unknown) => this.options.onError(error, 'record'),
    );
    const tracked = task.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /**
   * The partition went to another replica: the records under way still finish (the new
   * owner recognises them by their batch id), but nothing more is committed from here,
   * so the group's offset never moves back under the new owner.
   */
  revoke(): void {
    this.revoked = true;
  }

  /** Waits for the records under way to finish or give up, then commits what they handled. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    await this.commits;
    // Once more, in case the last commit failed.
    this.commitHandled();
    await this.commits;
  }

  private advance(): void {
    let next: bigint | undefined;
    while (this.started[0]?.done === true) next = (this.started.shift() as Started).offset + 1n;
    if (next === undefined) return;
    this.handledNext = next;
    this.options.onLag?.(this.highWatermark - Number(next));
    this.commitHandled();
  }

  /** Starts a commit loop unless one runs: it commits the newest position until none is left. */
  private commitHandled(): void {
    if (this.committing) return;
    this.committing = true;
    this.commits = this.runCommits();
  }

  private async runCommits(): Promise<void> {
    try {
      while (!this.revoked && this.handledNext !== undefined && this.handledNext !== this.committedNext) {
        const target = this.handledNext;
        await this.options.commit(String(target));
        this.committedNext = target;
      }
    } catch (error) {
      // Not retried here: the next advance, or settle, tries again.
      this.options.onError(error, 'commit');
    } finally {
      this.committing = false;
    }
  }
}
