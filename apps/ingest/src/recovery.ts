import type { Journal } from '@commstrat/journal';
import type { Logger } from '@commstrat/observability';
import type { Intake } from './intake.ts';

export interface RecoveryOptions {
  /** A request younger than this may still be on its way to Redis; left alone. ms, default 30 000. */
  readonly graceMs?: number;
  /** How long one replica holds a request it is recovering. ms, default 60 000. */
  readonly leaseMs?: number;
  /** Pause between passes. ms, default 30 000. */
  readonly intervalMs?: number;
}

/**
 * Finds requests that were journaled but never marked enqueued — the process died
 * between the MongoDB write and the Redis append, or before setting the flag — and
 * enqueues their messages. The enqueue guard in Redis makes this exactly once: when the
 * original intake did reach Redis, the pass only sets the flag.
 */
export class RecoveryPass {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly graceMs: number;
  private readonly leaseMs: number;
  private readonly intervalMs: number;
  private readonly journal: Journal;
  private readonly intake: Intake;
  private readonly logger: Logger;

  constructor(deps: { journal: Journal; intake: Intake; logger: Logger }, options: RecoveryOptions = {}) {
    this.journal = deps.journal;
    this.intake = deps.intake;
    this.logger = deps.logger;
    this.graceMs = options.graceMs ?? 30_000;
    this.leaseMs = options.leaseMs ?? 60_000;
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
      const request = await this.journal.leaseUnenqueuedRequest(new Date(now - this.graceMs), now, this.leaseMs);
      if (request === null) return repaired;
      const messages = await this.journal.findMessages(request.message_ids);
      const waiting = messages.filter((m) => m.status === 'queued' || m.status === 'scheduled');
      await this.intake.enqueue(request._id, waiting);
      this.logger.info('recovered a request journaled but not marked enqueued', {
        batch_id: request._id,
        tenant_id: request.tenant_id,
        messages: waiting.length,
      });
      repaired += 1;
    }
  }
}
