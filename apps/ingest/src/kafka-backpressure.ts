import type { IngestMetrics, Logger } from '@commstrat/observability';

export interface LaneBackpressureOptions {
  /** Lane entries, all lanes together, above which intake pauses. */
  readonly cap: number;
  /** Intake resumes once the lanes hold fewer than `cap × resumeRatio` entries. Default 0.9. */
  readonly resumeRatio?: number;
  /** How often the lane depth is read, in ms. Default 1000. */
  readonly checkIntervalMs?: number;
}

export interface LaneBackpressureDeps {
  /** Entries in each lane (`LaneStatistics.depths`). */
  readonly depths: () => Promise<Record<string, number>>;
  /** Stops fetching from every assigned partition. */
  readonly pause: () => void;
  /** Fetches again. */
  readonly resume: () => void;
  readonly metrics: Pick<IngestMetrics, 'kafkaPaused'>;
  readonly logger: Logger;
}

/**
 * Pauses Kafka intake while the lanes are over their cap, so a dispatcher outage or a
 * flood leaves the backlog in Kafka (cheap, durable, replayable) instead of growing
 * Redis memory. The depth is sampled on a timer, not per record: one round trip a
 * second, at the cost of overshooting the cap by what is consumed between two checks.
 * The gap between the pause and resume thresholds keeps it from flapping.
 */
export class LaneBackpressure {
  private readonly deps: LaneBackpressureDeps;
  private readonly cap: number;
  private readonly resumeBelow: number;
  private readonly checkIntervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;
  private depthUnknown = false;
  private pausedNow = false;

  constructor(deps: LaneBackpressureDeps, options: LaneBackpressureOptions) {
    this.deps = deps;
    this.cap = options.cap;
    this.resumeBelow = options.cap * (options.resumeRatio ?? 0.9);
    this.checkIntervalMs = options.checkIntervalMs ?? 1000;
  }

  /** True while intake is paused for backpressure; records in hand wait for the resume. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** Checks now, then every `checkIntervalMs`, until `stop`. */
  start(): void {
    const tick = () => {
      this.checking = this.check();
      void this.checking.then(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.checkIntervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.checking;
  }

  /** Re-applies a pause to a consumer that lost it (kafkajs restarted it after a crash). */
  reapply(): void {
    if (this.pausedNow) this.deps.pause();
  }

  /** One check: pause above the cap, resume below the resume threshold. Never throws. */
  async check(): Promise<void> {
    let depth: number;
    try {
      depth = Object.values(await this.deps.depths()).reduce((sum, n) => sum + n, 0);
      this.depthUnknown = false;
    } catch (error) {
      // Redis is down: intake cannot accept anything either, and keeps its state.
      if (!this.depthUnknown) this.deps.logger.warn('cannot read lane depth for Kafka backpressure', { error: String(error) });
      this.depthUnknown = true;
      return;
    }
    try {
      this.apply(depth);
    } catch (error) {
      this.deps.logger.error('cannot pause or resume the Kafka consumer', { error: String(error) });
    }
  }

  private apply(depth: number): void {
    if (!this.pausedNow && depth > this.cap) {
      this.deps.pause();
      this.pausedNow = true;
      this.deps.metrics.kafkaPaused(true);
      this.deps.logger.warn('lanes over their cap: pausing Kafka intake', { lane_depth: depth, lane_cap: this.cap });
    } else if (this.pausedNow && depth < this.resumeBelow) {
      this.deps.resume();
      this.pausedNow = false;
      this.deps.metrics.kafkaPaused(false);
      this.deps.logger.info('lanes below their cap again: resuming Kafka intake', {
        lane_depth: depth,
        resume_below: this.resumeBelow,
      });
    }
  }
}
