import type { Priority } from '@commstrat/core';

/**
 * Lane depths read at most once per `maxAgeMs`, shared by every reader in the process
 * (admission control, Kafka backpressure, the depth gauge, lane selection): they all
 * need about-now, none needs a round trip of its own. Concurrent reads share one.
 */
export class SampledDepths {
  private readonly read: () => Promise<Record<Priority, number>>;
  private readonly maxAgeMs: number;
  private readonly clock: () => number;
  private last: { at: number; depths: Record<Priority, number> } | undefined;
  private reading: Promise<Record<Priority, number>> | undefined;

  /**
   * @param read the depths from Redis, e.g. `() => lanes.depths()`
   * @param maxAgeMs how old a sample may be when it is handed out, ms. Default 250.
   */
  constructor(read: () => Promise<Record<Priority, number>>, maxAgeMs = 250, clock: () => number = Date.now) {
    this.read = read;
    this.maxAgeMs = maxAgeMs;
    this.clock = clock;
  }

  /** The depths, from a sample at most `maxAgeMs` old. Rejects when Redis cannot be read. */
  get(): Promise<Record<Priority, number>> {
    if (this.last !== undefined && this.clock() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.depths);
    this.reading ??= this.read()
      .then((depths) => {
        this.last = { at: this.clock(), depths };
        return depths;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** The next `get` reads again (the lanes are known to have moved). */
  invalidate(): void {
    this.last = undefined;
  }
}
