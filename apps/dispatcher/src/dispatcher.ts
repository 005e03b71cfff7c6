import { setTimeout as sleep } from 'node:timers/promises';
import { PRIORITIES, selectLanes, type LaneSelectionState } from '@commstrat/core';
import { DispatchLifecycle } from '@commstrat/lifecycle';
import type { LaneEntry } from '@commstrat/queue';
import { InFlight } from './in-flight.ts';
import { Planner } from './planner.ts';
import type { DispatcherDeps } from './ports.ts';
import { Sender } from './sender.ts';

export type { DispatcherDeps } from './ports.ts';

/**
 * The dispatch loop: claims lane entries by weighted priority, has the planner apply
 * each message's strategy (expiry, send window, route over available providers) and
 * the sender batch them per provider within its rate and concurrency; the lifecycle
 * records every outcome, and only then are the entries acknowledged. Entries of a
 * replica that dies stay pending and are reclaimed by a live one: a message is sent at
 * least once.
 */
export class Dispatcher {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly deps: DispatcherDeps;
  private readonly clock: () => number;
  private readonly inFlight: InFlight;
  private readonly planner: Planner;
  private readonly sender: Sender;
  private readonly batch: (work: Parameters<Sender['add']>[0], now: number) => void;
  private laneState: LaneSelectionState | undefined;
  private lastPromote = 0;
  private lastReclaim = 0;
  private lastTrim = 0;
  /** When this replica last claimed a critical entry (its clock). */
  private criticalClaimedAt = Number.NEGATIVE_INFINITY;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? Date.now;
    const random = deps.random ?? Math.random;
    const lifecycle = new DispatchLifecycle({
      journal: deps.journal,
      lanes: deps.lanes,
      routing: deps.routing,
      metrics: deps.metrics,
      logger: deps.logger,
      random,
    });
    this.inFlight = new InFlight(deps.metrics, deps.logger);
    this.planner = new Planner(deps, lifecycle, this.inFlight, random);
    this.sender = new Sender(deps, lifecycle, this.inFlight, this.clock, () => this.running);
    this.batch = (work, now) => this.sender.add(work, now);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.runCritical(), this.run()];
  }

  /** Stops claiming, sends what is batched, waits for every send to be recorded and acked. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    // Drain once both loops are out (either may have just planned something): what is
    // batched goes now (within the rates), then every send is recorded.
    await this.sender.drain();
  }

  /** Runs `step` until stopped; a failed step is logged and retried after a pause. */
  private async repeat(name: string, step: () => Promise<void>): Promise<void> {
    while (this.running) {
      try {
        await step();
      } catch (error) {
        // Claimed entries of a failed step stay pending and are reclaimed; pause so an
        // outage of Redis, MongoDB or PostgreSQL does not become a busy loop.
        this.deps.logger.error(`${name} failed`, { error: error instanceof Error ? error.message : String(error) });
        await sleep(500);
      }
    }
  }

  /**
   * The critical lane's loop: waits on that lane alone, plans what comes and sends it at
   * once (critical batches never linger and never wait for a slot behind other lanes).
   * It is not bound by maxInFlight: critical traffic is small and must never queue.
   */
  private async runCritical(): Promise<void> {
    await this.repeat('critical claim', async () => {
      const { consumer, claimCount, blockMs } = this.deps;
      const entries = await this.deps.waitingLanes.critical.claim(consumer, claimCount, blockMs, ['critical']);
      if (entries.length === 0) return;
      this.criticalClaimedAt = this.clock();
      await this.planner.plan(entries, this.clock(), this.batch);
      this.sender.flush(this.clock(), false);
    });
  }

  private async run(): Promise<void> {
    await this.repeat('dispatch cycle', () => this.cycle());
  }

  /** One round: housekeeping, claim, plan, and start the batches that are due. */
  async cycle(): Promise<void> {
    const now = this.clock();
    await this.housekeeping(now);
    const room = this.inFlightCap(now) - this.inFlight.size;
    if (room > 0) {
      const entries = await this.claim(Math.min(room, this.deps.claimCount), now);
      if (entries.length > 0) await this.planner.plan(entries, this.clock(), this.batch);
    } else {
      await sleep(5);
    }
    this.sender.flush(this.clock(), false);
  }

  /**
   * Most entries the lower lanes may hold claimed now. While critical messages flow, they
   * hold few (criticalYield): every bulk message in flight is work for the same journal,
   * Redis, provider and CPU a critical message needs at that moment, and measured behind
   * a draining bulk lane (docs/benchmarks.md) it is what made a critical message's p99
   * several times its idle one. What they already hold still goes; they claim more once
   * below the cap.
   */
  private inFlightCap(now: number): number {
    const { maxInFlight, criticalYield } = this.deps;
    const yielding = now - this.criticalClaimedAt < criticalYield.ms;
    this.deps.metrics.criticalYield(yielding);
    return yielding ? Math.min(maxInFlight, criticalYield.inFlight) : maxInFlight;
  }

  private async housekeeping(now: number): Promise<void> {
    if (now - this.lastPromote >= 100) {
      this.lastPromote = now;
      await this.deps.lanes.promoteDue(now);
    }
    if (now - this.lastTrim >= TRIM_INTERVAL_MS) {
      this.lastTrim = now;
      await this.deps.lanes.trimHandled();
    }
    if (now - this.lastReclaim >= this.deps.visibilityTimeoutMs / 2) {
      this.lastReclaim = now;
      const reclaimed = (await this.deps.lanes.reclaim(this.deps.consumer, this.deps.visibilityTimeoutMs, this.deps.claimCount))
        .filter((entry) => !this.inFlight.has(entry.entryId));
      if (reclaimed.length > 0) {
        this.deps.logger.warn('reclaimed entries from a stalled or dead replica', { count: reclaimed.length });
        this.deps.metrics.reclaimed(reclaimed.length);
        await this.planner.plan(await this.planner.unfinished(reclaimed), now, this.batch);
      }
    }
  }

  /**
   * The lanes below critical (which has its own loop), the budget shared by weight.
   * With nothing anywhere, waits on those lanes (but never past the next batch's linger
   * deadline).
   */
  private async claim(budget: number, now: number): Promise<LaneEntry[]> {
    const { lanes, consumer } = this.deps;
    const backlog = await this.deps.depths.get();
    const selection = selectLanes({
      backlog: { ...backlog, critical: 0 },
      claimCount: budget,
      state: this.laneState,
      weights: this.deps.laneWeights,
    });
    this.laneState = selection.state;
    const entries = await lanes.claimLanes(consumer, { ...selection.claims, critical: 0 });
    if (entries.length > 0) return entries;
    const deadline = this.sender.nextDeadline();
    if (deadline !== undefined) {
      // Batches are waiting for their linger or rate: sleep here until the first is due
      // (at most 20 ms, to notice new entries). Redis checks BLOCK timeouts only about
      // every 100 ms, which is far too coarse for a linger of a few ms.
      await sleep(Math.min(20, Math.max(1, deadline - now)));
      return [];
    }
    const shared = PRIORITIES.filter((lane) => lane !== 'critical');
    const blocked = await this.deps.waitingLanes.shared.claim(
      consumer,
      Math.max(1, Math.floor(budget / shared.length)),
      this.deps.blockMs,
      shared,
    );
    if (blocked.length > 0) this.deps.depths.invalidate(); // the lanes moved; sample again soon
    return blocked;
  }
}

/**
 * How often handled entries are trimmed from the lanes, ms: at 30 000 msg/s a second
 * leaves about 9 MB of acknowledged entries in Redis until the next trim.
 */
const TRIM_INTERVAL_MS = 1000;
