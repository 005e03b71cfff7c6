import type { Journal } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { LaneWriter } from '@commstrat/queue';
import type { Intake } from './intake.ts';

export interface RecoveryOptions {
  /** A request younger than this may still be on its way to Redis; left alone. ms, default 30 000. */
  readonly graceMs?: number;
  /** Requests verified per query. Default 500. */
  readonly pageSize?: number;
  /** Pause between passes. ms, default 30 000. */
  readonly intervalMs?: number;
}

/**
 * Verifies, page by page, that journaled requests reached Redis: a request whose enqueue
 * guard is missing was journaled by a process that died before its Lua enqueue, and its
 * messages are enqueued now (the guard makes that exactly once, also when two replicas
 * run the pass at the same moment). Verified pages are then marked in one write each.
 * A guard seen is trusted only because it is older than the grace: Redis acknowledges a
 * write before it is on disk (AOF, fsync every second, loses up to about 2 s on a crash),
 * so the grace must stay well above that window, or a request could be marked verified
 * from a guard that the next crash takes back, with its messages (docs/reliability.md).
 * A loss larger than the grace (a failover to a lagging replica, a restore from an older
 * snapshot) is not repaired by this pass.
 * The pass must run within the guard's lifetime (15 min) of a crash; should every ingest
 * replica stay down longer, a request of the last moments may be enqueued again, which the
 * dispatcher's journal state check turns into a skipped duplicate in all but a narrow race.
 */
export class RecoveryPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly graceMs: number;
  private readonly pageSize: number;
  private readonly intervalMs: number;
  private readonly journal: Journal;
  private readonly intake: Intake;
  private readonly logger: Logger;

  private readonly lanes: Pick<LaneWriter, 'enqueueGuards'>;

  constructor(
    deps: { journal: Journal; intake: Intake; lanes: Pick<LaneWriter, 'enqueueGuards'>; logger: Logger },
    options: RecoveryOptions = {},
  ) {
    this.lanes = deps.lanes;
    this.journal = deps.journal;
    this.intake = deps.intake;
    this.logger = deps.logger;
    this.graceMs = options.graceMs ?? 30_000;
    this.pageSize = options.pageSize ?? 500;
    this.intervalMs = options.intervalMs ?? 30_000;
  }

  /** Runs one pass now and then every `intervalMs`. */
  start(): void {
    const tick = () => {
      this.running = this.runOnce().catch((error: unknown) => {
        this.logger.warn('recovery pass failed', { error: String(error) });
        return 0;
      });
      void this.running.then(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; returns how many requests it repaired. */
  async runOnce(now: number = Date.now()): Promise<number> {
    let repaired = 0;
    for (;;) {
      const page = await this.journal.findUnverifiedBatches(new Date(now - this.graceMs), this.pageSize);
      if (page.length === 0) return repaired;
      const guarded = await this.lanes.enqueueGuards(page.map((request) => request._id));
      for (const [i, request] of page.entries()) {
        if (guarded[i] === true) continue;
        const messages = await this.journal.findMessages(request.message_ids);
        const waiting = messages.filter((m) => m.status === 'queued' || m.status === 'scheduled');
        await this.intake.enqueue(request._id, waiting);
        this.logger.info('recovered a batch journaled but never enqueued', {
          batch_id: request._id,
          tenant_id: request.tenant_id,
          messages: waiting.length,
        });
        repaired += 1;
      }
      await this.journal.markEnqueued(page.map((request) => request._id));
      if (page.length < this.pageSize) return repaired;
    }
  }
}
