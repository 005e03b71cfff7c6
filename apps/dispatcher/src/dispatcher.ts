import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import {
  CommstratError,
  PRIORITIES,
  afterFailedAttempt,
  claimedStep,
  currentStepIndex,
  decideClaimed,
  expiryOf,
  newId,
  reclaimVerdict,
  selectLanes,
  stepProviders,
  storeOutageVerdict,
  throttleDelayMs,
  timeVerdict,
  type LaneSelectionState,
  type LaneWeights,
  type MessageStatus,
  type ProviderView,
  type QueuedMessage,
  type StrategyStep,
  type Verdict,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import { defaultBurst, type LaneEntry, type SampledDepths } from '@commstrat/queue';
import { Batcher, type Work } from './batcher.ts';
import { BatchRecorder, type SettledSet } from './batch-recorder.ts';
import type { ContactPolicyGate } from './contact-policy.ts';
import { messageToSend } from './cascade-steps.ts';
import { CascadeTimers } from './cascade-timers.ts';
import type { JournalPort, LanePort, ProviderPort, RatePort, RoutingPort } from './ports.ts';
import type { ProviderHandle } from './provider-registry.ts';

export interface DispatcherDeps {
  /** Lane operations that never wait (claims without BLOCK, acks, deferrals). */
  readonly lanes: LanePort;
  /** The process's shared sample of the lane depths, for weighted lane selection. */
  readonly depths: Pick<SampledDepths, 'get' | 'invalidate'>;
  /**
   * Blocking claims, each on its own connection: `shared` waits on the other lanes when
   * all are empty, `critical` is the critical lane's own loop, which waits on that lane
   * alone and so takes a critical message the moment it arrives, whatever the other
   * lanes are doing.
   */
  readonly waitingLanes: { readonly shared: Pick<LanePort, 'claim'>; readonly critical: Pick<LanePort, 'claim'> };
  /**
   * The critical lane's other Redis operations (markers, rate tokens, acks) on a
   * connection of their own, so they never queue behind the other lanes' large claims
   * and acks; their journal writes go through the journal's urgent writer likewise.
   */
  readonly urgent: { readonly lanes: LanePort; readonly rateLimiter: RatePort };
  readonly journal: JournalPort;
  readonly routing: RoutingPort;
  readonly providers: ProviderPort;
  readonly rateLimiter: RatePort;
  /** The stop list and frequency caps of each message's strategy. */
  readonly contactPolicy: Pick<ContactPolicyGate, 'admit'>;
  readonly metrics: DispatcherMetrics;
  readonly logger: Logger;
  readonly consumer: string;
  /** Most entries claimed per cycle, over all lanes. */
  readonly claimCount: number;
  /** Most entries held claimed and unacknowledged. */
  readonly maxInFlight: number;
  /** Longest wait for new entries when the lanes are empty, ms. */
  readonly blockMs: number;
  /** Entries pending on a consumer longer than this are reclaimed, ms. */
  readonly visibilityTimeoutMs: number;
  readonly laneWeights: LaneWeights;
  /** The time; injectable so tests can move it (send windows, expiry). */
  readonly clock?: () => number;
  /** Random numbers for weighted routes and jitter; injectable for tests. */
  readonly random?: () => number;
}

/**
 * Claims lane entries by weighted priority, applies each message's strategy (expiry,
 * send window, route over available providers), batches them per provider within its
 * rate and concurrency, records every outcome, then acknowledges. Entries of a replica
 * that dies stay pending and are reclaimed by a live one: a message is sent at least once.
 */
export class Dispatcher {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly deps: DispatcherDeps;
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly batcher = new Batcher();
  private readonly recorder: BatchRecorder;
  private readonly timers: CascadeTimers;
  private readonly sends = new Set<Promise<void>>();
  /** Sends started per provider and not yet answered: what its free slots are counted from. */
  private readonly sending = new Map<string, number>();
  /** The critical ones among them, per provider: what its critical slots are counted from. */
  private readonly urgentSending = new Map<string, number>();
  /**
   * Per provider: batches the provider has answered whose outcome is not yet recorded.
   * Beyond `concurrency` of them, no new request starts: a crash resends what the provider
   * took but the journal does not show, so this keeps that to 2 × concurrency batches
   * however far a slow journal falls behind (invariant 2's bound).
   */
  private readonly recording = new Map<string, number>();
  /**
   * Per provider: the recording of the last critical batch it answered, which the next
   * critical request waits for. Critical batches skip the slots above, so without this a
   * slow journal let their unrecorded answers pile up past the crash bound: one
   * critical request at the provider and one answered awaiting the journal, no more.
   */
  private readonly urgentRecorded = new Map<string, Promise<void>>();
  /** Entry ids this replica holds, so a reclaim never takes its own work twice. */
  private readonly held = new Set<string>();
  private laneState: LaneSelectionState | undefined;
  private lastPromote = 0;
  private lastReclaim = 0;
  private lastTrim = 0;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.recorder = new BatchRecorder(deps, this.random);
    this.timers = new CascadeTimers({
      journal: deps.journal,
      routing: deps.routing,
      logger: deps.logger,
      metrics: deps.metrics,
      random: this.random,
    });
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
    while (this.batcher.size > 0 || this.sends.size > 0) {
      this.flush(this.clock(), true);
      if (this.sends.size > 0) await Promise.race(this.sends);
      else await sleep(Math.max(1, (this.batcher.nextDeadline() ?? 0) - this.clock()));
    }
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
      await this.plan(entries, this.clock());
      this.flush(this.clock(), false);
    });
  }

  private async run(): Promise<void> {
    await this.repeat('dispatch cycle', () => this.cycle());
  }

  /** One round: housekeeping, claim, plan, and start the batches that are due. */
  async cycle(): Promise<void> {
    const now = this.clock();
    await this.housekeeping(now);
    const room = this.deps.maxInFlight - this.held.size;
    if (room > 0) {
      const entries = await this.claim(Math.min(room, this.deps.claimCount), now);
      if (entries.length > 0) await this.plan(entries, this.clock());
    } else {
      await sleep(5);
    }
    this.flush(this.clock(), false);
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
        .filter((entry) => !this.held.has(entry.entryId));
      if (reclaimed.length > 0) {
        this.deps.logger.warn('reclaimed entries from a stalled or dead replica', { count: reclaimed.length });
        this.deps.metrics.reclaimed.inc(reclaimed.length);
        await this.plan(await this.unfinished(reclaimed), now);
      }
    }
  }

  /**
   * Reclaimed entries whose messages the journal does not already show as sent or ended
   * (reclaimVerdict): a replica that died after recording a batch's outcome but before
   * acknowledging it left them pending. The ended ones are acknowledged now; the sent
   * ones go on as cascade timers. One indexed read, on reclaims only; when the journal
   * cannot be read every entry goes again (at least once).
   */
  private async unfinished(entries: readonly LaneEntry[]): Promise<LaneEntry[]> {
    let statuses: Map<string, MessageStatus>;
    try {
      const messages = await this.deps.journal.findMessages(entries.map((entry) => entry.message.id));
      statuses = new Map(messages.map((message) => [message.id, message.status]));
    } catch (error) {
      this.deps.logger.warn('journal unavailable; reclaimed entries go again', { error: String(error) });
      return entries.slice();
    }
    const settled = this.recorder.begin();
    const again: LaneEntry[] = [];
    for (const entry of entries) {
      const verdict = reclaimVerdict(entry.message, statuses.get(entry.message.id));
      if (verdict === 'drop') settled.drop(entry);
      else if (verdict === 'as_timer') again.push({ ...entry, message: { ...entry.message, receipt_timer: currentStepIndex(entry.message) } });
      else again.push(entry);
    }
    if (settled.entries().length > 0) await this.finish(settled);
    return again;
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
    const deadline = this.batcher.nextDeadline();
    if (deadline !== undefined) {
      // Batches are waiting for their linger or rate: sleep here until the first is due
      // (at most 20 ms, to notice new entries). Redis checks BLOCK timeouts only about
      // every 100 ms, far too coarse for a linger of a few ms.
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

  /** Decides each claimed message's fate: skip, expire, defer, fail, or batch for a provider. */
  private async plan(claimed: readonly LaneEntry[], now: number): Promise<void> {
    // (An entry may be held already: delivered again after Redis lost the delivery from
    // its AOF while this replica still works on it. Only what this claim added is let go.)
    const added = claimed.filter((entry) => !this.held.has(entry.entryId));
    for (const entry of added) this.held.add(entry.entryId);
    this.deps.metrics.inFlight.set(this.held.size);
    const sends = claimed.filter((entry) => entry.message.receipt_timer === undefined);
    // A Redis marker, not a journal write, settles the race with a cancel; an entry
    // reclaimed from a replica that died mid-batch is marked again and goes again.
    const ops = this.ops(claimed);
    const { lanes } = ops;
    const settled = this.recorder.begin(lanes, ops === this.deps.urgent);
    let cancelled: Set<string>;
    let entries: readonly LaneEntry[];
    try {
      cancelled = await lanes.markSending(sends.map((entry) => entry.message.id));
      // Cascade timers that came due: those that move on are routed by their next step now.
      const timers = claimed.filter((entry) => entry.message.receipt_timer !== undefined);
      entries = timers.length === 0 ? sends : [...sends, ...(await this.timers.handle(timers, now, settled))];
    } catch (error) {
      // Nothing of this claim is batched or recorded yet: let go of it, so that the
      // reclaim (this replica's or another's) takes it after the visibility timeout. Held
      // on, the reclaim would skip it as this replica's own work for ever: a claim
      // answered just before a Redis restart, whose marking then failed, stayed pending.
      for (const entry of added) this.held.delete(entry.entryId);
      this.deps.metrics.inFlight.set(this.held.size);
      throw error;
    }
    for (const [i, entry] of entries.entries()) {
      // Awaits on cached routes never reach the event loop: let it turn every so often,
      // so a critical claim answered meanwhile is not held up by a long bulk claim.
      if (i > 0 && i % PLAN_SLICE === 0) await yieldToEventLoop();
      if (cancelled.has(entry.message.id)) {
        settled.drop(entry); // cancelled by the tenant: its journal says so already
        continue;
      }
      const work = await this.route(entry, now, settled);
      if (work !== undefined) this.batcher.add(work, now);
    }
    await this.finish(settled);
  }

  /**
   * The strategy's verdict for one message (decideClaimed), carried out, or a Work item
   * bound for a provider. Every reason recorded here is written by us: error text of a
   * library or a server goes to the log only, never into a tenant's timeline.
   */
  private async route(claimed: LaneEntry, now: number, settled: SettledSet): Promise<Work | undefined> {
    const { message } = claimed;
    let step = FALLBACK_STEP;
    try {
      const routing = await this.deps.routing.resolve(message.tenant_id, message);
      const found = claimedStep(message, routing.strategy);
      if (found !== undefined) step = found;
      // Pinned from here: its retries, window waits and later steps route by this version.
      const entry = found === undefined ? claimed : pinned(claimed, routing.strategy.name, routing.version);
      const verdict = decideClaimed({
        message,
        strategy: routing.strategy,
        tenantTimeZone: routing.tenantTimeZone,
        stopList: routing.stopList,
        providers: found === undefined ? new Map() : this.providerViews(message.tenant_id, routing, found, now),
        now,
        random: this.random,
      });
      if (verdict.kind !== 'send') {
        if (verdict.kind === 'fail' && verdict.cause === 'opted_out') this.deps.metrics.contactPolicy.inc({ outcome: 'opted_out' });
        this.recorder.carryOut(settled, entry, verdict, routing, now);
        return undefined;
      }
      const config = routing.providers.get(verdict.provider);
      if (config === undefined) throw new Error(`route chose provider ${verdict.provider}, which is not configured`);
      const provider = this.deps.providers.handle(message.tenant_id, config);
      if (verdict.failover) this.deps.metrics.failovers.inc({ provider: provider.key });
      return { entry, routing, step, expiresAt: expiryOf(message, step.ttl_seconds), provider };
    } catch (error) {
      this.recorder.carryOut(settled, claimed, this.unroutable(message, step, error, now), undefined, now);
      return undefined;
    }
  }

  /** Each provider of the step's route that the tenant has, as decideClaimed sees it. */
  private providerViews(tenantId: string, routing: Routing, step: StrategyStep, now: number): Map<string, ProviderView> {
    const views = new Map<string, ProviderView>();
    for (const id of stepProviders(step)) {
      const config = routing.providers.get(id);
      if (config === undefined) continue;
      const handle = this.deps.providers.handle(tenantId, config);
      const available = this.deps.providers.available(handle, now);
      views.set(id, { available, health: available ? this.deps.providers.health(handle, now) : 0, prices: config.prices });
    }
    return views;
  }

  /** The verdict on a message whose routing could not be read. */
  private unroutable(message: QueuedMessage, step: StrategyStep, error: unknown, now: number): Verdict {
    if (error instanceof CommstratError && error.retryable) {
      // The configuration store is down and no snapshot of this tenant is held (or it is
      // too old): wait, without spending an attempt, and try again.
      return storeOutageVerdict('config_unavailable', now, this.random);
    }
    // No such strategy, or not on this channel: the same lookup again cannot help.
    if (error instanceof CommstratError) return { kind: 'fail', reason: `cannot route: ${error.message}` };
    // Nobody raised it on purpose (a bug, a provider of an unknown kind), so whether a
    // retry helps is unknown: logged in full, retried under the step's policy, and the
    // tenant told only that it was ours.
    this.deps.logger.error('routing failed unexpectedly', {
      message_id: message.id,
      tenant: message.tenant_id,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    return afterFailedAttempt({ message, strategy: undefined, step, now, random: this.random, reason: 'internal error while routing', cause: 'retry' });
  }

  /**
   * Starts every batch that is due and has a free request slot at its provider. A slot
   * is freed as soon as the provider has answered (not once the outcome is recorded),
   * and its freeing starts the next batch.
   */
  private flush(now: number, force: boolean): void {
    const room = (provider: ProviderHandle) =>
      provider.config.concurrency -
      (this.sending.get(provider.key) ?? 0) -
      Math.max(0, (this.recording.get(provider.key) ?? 0) - provider.config.concurrency);
    // Critical batches wait for a critical slot here, gathering the critical messages
    // that come meanwhile: queued at the slot one request each, they fell ever further
    // behind whenever a request and its journal write took longer than their pace.
    const urgentRoom = (provider: ProviderHandle) => URGENT_BATCHES_IN_FLIGHT - (this.urgentSending.get(provider.key) ?? 0);
    for (const { provider, works } of this.batcher.takeReady(now, force, room, urgentRoom)) {
      const urgent = works[0]?.entry.lane === 'critical';
      const counts = urgent ? [this.sending, this.urgentSending] : [this.sending];
      for (const count of counts) count.set(provider.key, (count.get(provider.key) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        for (const count of counts) count.set(provider.key, (count.get(provider.key) ?? 1) - 1);
        if (this.batcher.size > 0) this.flush(this.clock(), !this.running);
      };
      const send = this.send(provider, works, release).finally(() => {
        release();
        this.sends.delete(send);
      });
      this.sends.add(send);
    }
  }

  /** The Redis operations for these entries: the critical lane's own when all are critical. */
  private ops(entries: readonly LaneEntry[]): { lanes: LanePort; rateLimiter: RatePort } {
    return entries.length > 0 && entries.every((entry) => entry.lane === 'critical') ? this.deps.urgent : this.deps;
  }

  /**
   * Sends one batch and records what came of it; `release` frees its request slot. A
   * message may have waited for its batch to fill or for rate tokens since it was
   * planned: expiry and window are checked again right before it goes, and the late
   * ones are recorded with the batch's outcome, in one journal write.
   */
  private async send(provider: ProviderHandle, batch: Work[], release: () => void): Promise<void> {
    const ops = this.ops(batch.map((work) => work.entry));
    const settled = this.recorder.begin(ops.lanes, ops === this.deps.urgent);
    let answered = false;
    let urgentRecorded: (() => void) | undefined;
    try {
      const works = batch.filter((work) => this.onTime(work, this.clock(), settled));
      if (works.length === 0 || !(await this.takeTokens(provider, works, ops.rateLimiter))) return;
      // Caps last, right before the provider: a message counts only when it goes.
      if (!(await this.deps.contactPolicy.admit(works, settled, this.clock()))) return;
      // The concurrency cap covers the provider request only; recording runs outside it so
      // a slow journal write never holds a provider slot. Critical batches have a slot
      // of their own.
      const urgent = ops === this.deps.urgent;
      const result = await (urgent ? provider.urgentLimit : provider.limit)(async () => {
        if (urgent) await this.urgentRecorded.get(provider.key);
        this.deps.providers.beforeSend(provider, this.clock());
        const answer = await provider.adapter.send(works.map((work) => messageToSend(work.entry, work.routing)));
        this.deps.providers.afterSend(provider, this.clock(), answer.error?.retryable === true);
        // Set before the slot frees, so the next critical request finds it.
        if (urgent) this.urgentRecorded.set(provider.key, new Promise((resolve) => (urgentRecorded = resolve)));
        return answer;
      });
      // The slot is free from here: recording must not hold the next batch back (the
      // journal write can take as long as the request did), within the `recording` bound.
      answered = true;
      this.recording.set(provider.key, (this.recording.get(provider.key) ?? 0) + 1);
      release();
      // One line per provider request, its ids bound; the bodies (masked by the logger) at debug.
      const tenant = works[0]?.entry.message.tenant_id;
      const log = this.deps.logger.child({ batch_id: newId(), provider: provider.config.id, tenant_id: tenant });
      const { exchange, error } = result;
      const [status, durationMs] = [exchange.httpStatus, exchange.durationMs];
      log.info('provider request', { messages: works.length, outcome: error?.code ?? 'ok', http_status: status, duration_ms: durationMs });
      if (log.isDebugEnabled()) {
        const ids = works.map((work) => work.entry.message.id);
        log.debug('provider exchange', { message_ids: ids, request: exchange.request, response: exchange.response });
      }
      const answeredAt = exchange.startedAt.getTime() + durationMs;
      for (const { entry } of works) {
        const accepted = entry.message.created_at === undefined ? NaN : Date.parse(entry.message.created_at);
        if (accepted <= answeredAt) this.deps.metrics.acceptToProvider.observe({ lane: entry.lane }, (answeredAt - accepted) / 1000);
      }
      this.recorder.record(settled, provider, works, result, this.clock());
    } finally {
      try {
        await this.finish(settled);
      } finally {
        urgentRecorded?.();
        if (answered) {
          this.recording.set(provider.key, (this.recording.get(provider.key) ?? 1) - 1);
          if (this.batcher.size > 0) this.flush(this.clock(), !this.running);
        }
      }
    }
  }

  /**
   * Takes the provider's rate tokens for `works`, putting back what the rate does not let
   * through now (removed from `works`). False when nothing may go now.
   */
  private async takeTokens(
    provider: ProviderHandle,
    works: Work[],
    rateLimiter: RatePort,
  ): Promise<boolean> {
    const { config } = provider;
    let grant;
    try {
      grant = await rateLimiter.take(provider.key, works.length, config.ratePerSecond);
    } catch (error) {
      this.deps.logger.warn('rate limiter unavailable; batch put back', { provider: provider.key, error: String(error) });
      this.batcher.putBack(provider, works.splice(0), this.clock() + 500, this.clock());
      return false;
    }
    if (grant.granted < works.length) {
      const held = works.splice(grant.granted);
      this.deps.metrics.throttled.inc({ provider: provider.key }, held.length);
      const delay = throttleDelayMs(held.length, config.ratePerSecond, defaultBurst(config.ratePerSecond), grant.waitMs);
      this.batcher.putBack(provider, held, this.clock() + delay, this.clock());
      // Flush right when the tokens are back rather than at the claim loop's next turn.
      setTimeout(() => this.flush(this.clock(), !this.running), delay).unref();
    }
    return works.length > 0;
  }

  /**
   * The step's time rules again right before a message is sent (timeVerdict): it may
   * have waited for its batch to fill or for rate tokens since it was planned. True when
   * it may go now; otherwise it is settled in `settled`.
   */
  private onTime(work: Work, now: number, settled: SettledSet): boolean {
    const { entry, step, expiresAt, routing } = work;
    const verdict = timeVerdict({ message: entry.message, step, tenantTimeZone: routing.tenantTimeZone, now, waited: true, expiresAt });
    if (verdict === undefined) return true;
    this.recorder.carryOut(settled, entry, verdict, routing, now);
    return false;
  }

  /** Writes a settled set (journal, then Redis), then acks it and releases the entries. */
  private async finish(settled: SettledSet): Promise<void> {
    try {
      await settled.commit();
    } catch (error) {
      // Not acked: the entries stay pending and another replica (or this one) reclaims
      // them after the visibility timeout. Sent messages may then be sent again.
      this.deps.logger.error('could not record outcomes; entries left pending', { error: String(error) });
    } finally {
      for (const entry of settled.entries()) this.held.delete(entry.entryId);
      this.deps.metrics.inFlight.set(this.held.size);
    }
  }
}

/**
 * How often handled entries are trimmed from the lanes, ms: at 30 000 msg/s a second
 * leaves about 9 MB of acknowledged entries in Redis until the next trim.
 */
const TRIM_INTERVAL_MS = 1000;

/**
 * Critical batches in flight per provider (the provider registry's critical request
 * slots): one at the provider, while the next gathers what comes meanwhile.
 */
const URGENT_BATCHES_IN_FLIGHT = 1;

/** Entries planned between two turns of the event loop. */
const PLAN_SLICE = 100;

/** The step a message is retried under when its strategy could not be read: default retry policy. */
const FALLBACK_STEP: StrategyStep = { route: { mode: 'failover', providers: [] } };

/** The entry with its message pinned to the strategy version it is routed with now. */
function pinned(entry: LaneEntry, strategy: string, version: number): LaneEntry {
  const { message } = entry;
  if (message.strategy === strategy && message.strategy_version === version) return entry;
  return { ...entry, message: { ...message, strategy, strategy_version: version } };
}
