import type { Settlement } from '@commstrat/lifecycle';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { LaneEntry } from '@commstrat/queue';

/**
 * The entries this replica holds claimed and not yet acknowledged: what bounds its
 * claims (maxInFlight), and what a reclaim must skip as its own work.
 */
export class InFlight {
  private readonly held = new Set<string>();
  private readonly metrics: Pick<DispatcherMetrics, 'inFlight'>;
  private readonly logger: Logger;

  constructor(metrics: Pick<DispatcherMetrics, 'inFlight'>, logger: Logger) {
    this.metrics = metrics;
    this.logger = logger;
  }

  get size(): number {
    return this.held.size;
  }

  has(entryId: string): boolean {
    return this.held.has(entryId);
  }

  /**
   * Holds what a claim brought and returns what it added. (An entry may be held
   * already: delivered again after Redis lost the delivery from its AOF while this
   * replica still works on it. Only what this claim added is let go.)
   */
  hold(claimed: readonly LaneEntry[]): LaneEntry[] {
    const added = claimed.filter((entry) => !this.held.has(entry.entryId));
    for (const entry of added) this.held.add(entry.entryId);
    this.metrics.inFlight(this.held.size);
    return added;
  }

  release(entries: readonly LaneEntry[]): void {
    for (const entry of entries) this.held.delete(entry.entryId);
    this.metrics.inFlight(this.held.size);
  }

  /** Writes a settlement (journal, then Redis), then lets its entries go. */
  async commit(settlement: Settlement): Promise<void> {
    try {
      await settlement.commit();
    } catch (error) {
      // Not acked: the entries stay pending and another replica (or this one) reclaims
      // them after the visibility timeout. Sent messages may then be sent again.
      this.logger.error('could not record outcomes; entries left pending', { error: String(error) });
    } finally {
      this.release(settlement.entries());
    }
  }
}
