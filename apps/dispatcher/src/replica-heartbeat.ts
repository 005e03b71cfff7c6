import type { Logger } from '@commstrat/observability';
import type { ReplicaCircuit, ReplicaHeartbeats } from '@commstrat/queue';

export interface ReplicaHeartbeatOptions {
  /** How often the replica republishes its state, ms. Default 5 000. */
  readonly intervalMs?: number;
}

/**
 * Publishes what only this replica's memory holds — its circuits and its config version —
 * to Redis every `intervalMs`, with a lifetime of three intervals, for `commstrat inspect`.
 * A publish that fails (Redis away) is logged and tried again at the next tick: it is
 * for operators, and must never hold up dispatching.
 */
export class ReplicaHeartbeat {
  private readonly heartbeats: ReplicaHeartbeats;
  private readonly state: { consumer: string; configVersion: string; startedAt: Date; circuits: (now: number) => ReplicaCircuit[] };
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    heartbeats: ReplicaHeartbeats,
    state: { consumer: string; configVersion: string; circuits: (now: number) => ReplicaCircuit[] },
    logger: Logger,
    options: ReplicaHeartbeatOptions = {},
  ) {
    this.heartbeats = heartbeats;
    this.state = { ...state, startedAt: new Date() };
    this.logger = logger;
    this.intervalMs = options.intervalMs ?? 5000;
  }

  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops publishing and removes the replica's hash, so inspect stops listing it at once. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
    await this.heartbeats.withdraw(this.state.consumer).catch(() => {});
  }

  private beat(): void {
    const now = Date.now();
    const ttlSeconds = Math.max(1, Math.ceil((3 * this.intervalMs) / 1000));
    this.inFlight = this.heartbeats
      .publish(
        { consumer: this.state.consumer, configVersion: this.state.configVersion, startedAt: this.state.startedAt, circuits: this.state.circuits(now) },
        ttlSeconds,
        new Date(now),
      )
      .catch((error: unknown) => {
        this.logger.warn('replica heartbeat not published', { error: error instanceof Error ? error.message : String(error) });
      });
  }
}
