/**
 * Group commit: items added while a write is in flight are written together by the
 * next one, so concurrent callers share round trips and a busy server sees a few large
 * writes instead of many small ones. Each caller's promise settles with the write that
 * carried its item; a failed write rejects every caller in it, and later items still go.
 */
export class GroupCommit<T> {
  private readonly write: (items: readonly T[]) => Promise<void>;
  private readonly maxItems: number;
  private waiting: { item: T; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private writing = false;

  /**
   * `maxItems` bounds one write: serialising it is synchronous work, and a huge one
   * would stall everything else the process does (a critical message waiting to go).
   */
  constructor(write: (items: readonly T[]) => Promise<void>, maxItems = Number.POSITIVE_INFINITY) {
    this.write = write;
    this.maxItems = maxItems;
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
      const group = this.waiting.splice(0, this.maxItems);
      try {
        await this.write(group.map(({ item }) => item));
        for (const { resolve } of group) resolve();
      } catch (error) {
        for (const { reject } of group) reject(error);
      }
    }
    this.writing = false;
  }
}
