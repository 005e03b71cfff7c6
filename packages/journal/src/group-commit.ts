export interface GroupCommitOptions<T> {
  /**
   * Most weight one write carries (a write takes at least one item, however heavy).
   * Serialising a write is synchronous work, and a huge one would stall everything else
   * the process does (a critical message waiting to go). Default: no limit.
   */
  readonly maxWeight?: number;
  /** An item's weight, e.g. the documents it adds. Default 1 per item. */
  readonly weigh?: (item: T) => number;
  /**
   * Writes in flight at once. Items wait only while every writer is busy, and then go
   * together in the next free one. Default 1.
   */
  readonly writers?: number;
}

/**
 * Group commit: items added while a write is in flight are written together by the
 * next one, so concurrent callers share round trips and a busy server sees a few large
 * writes instead of many small ones. `write` may answer each item of a write (results
 * parallel to its items), which its caller's promise resolves with; a failed write
 * rejects every caller in it, and later items still go.
 */
export class GroupCommit<T, R = void> {
  private readonly write: (items: readonly T[]) => Promise<readonly R[] | void>;
  private readonly maxWeight: number;
  private readonly weigh: (item: T) => number;
  private readonly writers: number;
  private waiting: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private busy = 0;

  constructor(write: (items: readonly T[]) => Promise<readonly R[] | void>, options: GroupCommitOptions<T> = {}) {
    this.write = write;
    this.maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.weigh = options.weigh ?? (() => 1);
    this.writers = Math.max(1, options.writers ?? 1);
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.busy < this.writers) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.busy += 1;
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.fitting());
        try {
          const results = await this.write(group.map(({ item }) => item));
          group.forEach(({ resolve }, i) => resolve(results?.[i] as R));
        } catch (error) {
          for (const { reject } of group) reject(error);
        }
      }
    } finally {
      this.busy -= 1;
    }
  }

  /** How many of the waiting items the next write takes: at least one. */
  private fitting(): number {
    let weight = 0;
    let count = 0;
    for (const { item } of this.waiting) {
      weight += this.weigh(item);
      if (count > 0 && weight > this.maxWeight) break;
      count += 1;
    }
    return count;
  }
}
