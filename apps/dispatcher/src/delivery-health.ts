import { countsInWindow, lateShare, nextDeliveryWeight, type DeliverySpeedOptions, type DeliveryWeightState } from '@commstrat/core';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { DeliverySpeeds } from '@commstrat/queue';

export interface DeliveryHealthOptions extends Required<Pick<DeliverySpeedOptions, 'windowMs' | 'maxLateShare' | 'minReceipts' | 'minWeight' | 'recoveryMs'>> {
  /** How often the shared counts are read, ms. */
  readonly refreshMs: number;
}

export interface DeliveryHealthDeps {
  readonly speeds: Pick<DeliverySpeeds, 'read' | 'saveStates'>;
  /** The providers (`<tenant>/<provider>`) this replica routes to. */
  readonly providers: () => readonly string[];
  readonly metrics: Pick<DispatcherMetrics, 'deliverySpeed'>;
  readonly logger: Logger;
  readonly clock?: () => number;
}

/**
 * Each provider's delivery weight on this replica, from the receipt counts every ingest
 * writes to Redis: read every `refreshMs` for the providers this replica routes to, turned
 * into weights by core's nextDeliveryWeight (falling at once, climbing back over the
 * recovery time), shared back so every replica ramps a provider up alike. The routing
 * reads `weight` (no I/O); when Redis cannot be read the last weights stay.
 */
export class DeliveryHealth {
  private readonly deps: DeliveryHealthDeps;
  private readonly options: DeliveryHealthOptions;
  private readonly clock: () => number;
  private readonly weights = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(deps: DeliveryHealthDeps, options: DeliveryHealthOptions) {
    this.deps = deps;
    this.options = options;
    this.clock = deps.clock ?? Date.now;
  }

  /** The provider's delivery weight in (0, 1]; 1 until its receipts say otherwise. */
  weight(provider: string): number {
    return this.weights.get(provider) ?? 1;
  }

  start(): void {
    const tick = () => {
      this.running = this.refresh().catch((error: unknown) => {
        this.deps.logger.warn('delivery speeds unreadable; routing keeps the last weights', { error: String(error) });
      });
      void this.running.then(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.options.refreshMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One read of the shared counts and states, the weights computed and shared back. */
  async refresh(): Promise<void> {
    const providers = [...new Set(this.deps.providers())];
    if (providers.length === 0) return;
    const now = this.clock();
    const read = await this.deps.speeds.read(providers);
    const changed = new Map<string, DeliveryWeightState>();
    for (const [provider, { buckets, state }] of read) {
      const counts = countsInWindow(buckets, now, this.options.windowMs);
      const next = nextDeliveryWeight(state, counts, now, this.options);
      this.weights.set(provider, next.weight);
      this.deps.metrics.deliverySpeed(provider, lateShare(counts, this.options), next.weight);
      // Only what a ramp needs: a provider at full weight with none stored stores nothing.
      if (next.weight < 1 || (state !== undefined && state.weight < 1)) changed.set(provider, next);
    }
    await this.deps.speeds.saveStates(changed);
  }
}
