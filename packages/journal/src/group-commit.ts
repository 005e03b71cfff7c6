export interface GroupCommitOptions<T> {
  /**
   * Most weight one write carries (a write takes at least one item, however heavy).
   * Serialising a write is synchronous work, and a huge one would stall everything else
   * the process does (a critical message waiting to go). Default: no limit.
   */
  readonly maxWeight?: number;
  /** An item's weight, e.g. the documents it adds. Default 1 per item. */
  readonly weigh?: (item: T) => number;
}

/**
 * Group commit: items added while a write is in flight are written together by the
 * next one, so concurrent callers share round trips and a busy server sees a few large
 * writes instead of many small ones. Each caller's promise settles with the write that
 * carried its item; a failed write rejects every caller in it, and later items still go.
 */
export class GroupCommit<T> {
  private readonly write: (items: readonly T[]) => Promise<void>;
  private readonly maxWeight: number;
  private readonly weigh: (item: T) => number;
  private waiting: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing = false;

  constructor(write: (items: readonly T[]) => Promise<void>, options: GroupCommitOptions<T> = {}) {
    this.write = write;
    this.maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.weigh = options.weigh ?? (() => 1);
  }

  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.waiting.length > 0) {
      const group = this.waiting.splice(0, this.fitting());
      try {
        await this.write(group.map(({ item }) => item));
        for (const { resolve } of group) resolve();
      } catch (error) {
        for (const { reject } of group) reject(error);
      }
    }
    this.writing = false;
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
