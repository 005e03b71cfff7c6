import type { ReceiptLifecycle } from '@commstrat/lifecycle';
import type { IngestMetrics, Logger } from '@commstrat/observability';
import type { ParkedReceipt, ParkedReceipts } from '@commstrat/queue';

export interface ReceiptParkingOptions {
  /** Pause between passes, ms. Default 2 000. */
  readonly intervalMs?: number;
  /** How long a receipt that names no known message is kept trying, ms. Default 600 000. */
  readonly keepMs?: number;
  /** Receipts tried per pass. Default 1 000. */
  readonly pageSize?: number;
}

/**
 * Applies parked receipts again until the journal knows their messages: a receipt can
 * arrive before the batch's `sent` is journaled, and is then kept instead of lost. Every
 * ingest replica runs it; two applying the same receipt are harmless (conditional writes:
 * the second is a duplicate). A receipt still unknown after `keepMs` is dropped and counted.
 */
export class ReceiptParking {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly deps: {
    /** What a receipt does to its message (undelivered receipts of cascade steps move it on here too). */
    receipts: Pick<ReceiptLifecycle, 'apply'>;
    parked: ParkedReceipts;
    metrics: IngestMetrics;
    logger: Logger;
  };
  private readonly intervalMs: number;
  private readonly keepMs: number;
  private readonly pageSize: number;

  constructor(deps: ReceiptParking['deps'], options: ReceiptParkingOptions = {}) {
    this.deps = deps;
    this.intervalMs = options.intervalMs ?? 2000;
    this.keepMs = options.keepMs ?? 600_000;
    this.pageSize = options.pageSize ?? 1000;
  }

  start(): void {
    const tick = () => {
      this.running = this.runOnce().catch((error: unknown) => {
        this.deps.logger.warn('parked receipts pass failed', { error: String(error) });
      });
      void this.running.then(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, this.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over the oldest parked receipts. */
  async runOnce(now: number = Date.now()): Promise<void> {
    const page = await this.deps.parked.oldest(this.pageSize);
    const byProvider = new Map<string, ParkedReceipt[]>();
    for (const parked of page) {
      const key = `${parked.tenant}/${parked.provider}`;
      byProvider.set(key, [...(byProvider.get(key) ?? []), parked]);
    }
    const done: ParkedReceipt[] = [];
    for (const [key, group] of byProvider) {
      const [first] = group;
      if (first === undefined) continue;
      const receipts = group.map((parked) => parked.receipt);
      const results = await this.deps.receipts.apply(first.tenant, first.provider, receipts, new Date(now), this.deps.logger);
      group.forEach((parked, i) => {
        const result = results[i] ?? 'unknown';
        // Held (strategy unreadable): stays parked and is tried again; so is one still unknown, for a while.
        if (result === 'held' || (result === 'unknown' && now - parked.at < this.keepMs)) return;
        this.deps.metrics.receipts(key, result === 'moved' ? 'applied' : result);
        done.push(parked);
      });
    }
    await this.deps.parked.remove(done);
  }
}
