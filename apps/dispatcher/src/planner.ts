import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import {
  CommstratError,
  afterFailedAttempt,
  claimedStep,
  decideClaimed,
  expiryOf,
  stepProviders,
  storeOutageVerdict,
  type MessageStatus,
  type ProviderView,
  type QueuedMessage,
  type StrategyStep,
  type Verdict,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { DispatchLifecycle, Settlement } from '@commstrat/lifecycle';
import type { LaneEntry } from '@commstrat/queue';
import type { Work } from './batcher.ts';
import type { InFlight } from './in-flight.ts';
import { laneOps, type DispatcherDeps } from './ports.ts';

/**
 * Decides each claimed entry's fate through core's decisions: a Work item for the
 * sender, or a verdict the lifecycle carries out (expire, defer, fail, move on). Also
 * sorts reclaimed entries by what the journal already shows of them.
 */
export class Planner {
  private readonly deps: DispatcherDeps;
  private readonly lifecycle: DispatchLifecycle;
  private readonly inFlight: InFlight;
  private readonly random: () => number;

  constructor(deps: DispatcherDeps, lifecycle: DispatchLifecycle, inFlight: InFlight, random: () => number) {
    this.deps = deps;
    this.lifecycle = lifecycle;
    this.inFlight = inFlight;
    this.random = random;
  }

  /**
   * Reclaimed entries whose messages the journal does not already show as sent or ended
   * (reclaimVerdict): a replica that died after recording a batch's outcome but before
   * acknowledging it left them pending. The ended ones are acknowledged now; the sent
   * ones go on as cascade timers. One indexed read, on reclaims only; when the journal
   * cannot be read every entry goes again (at least once).
   */
  async unfinished(entries: readonly LaneEntry[]): Promise<LaneEntry[]> {
    let statuses: Map<string, MessageStatus>;
    try {
      const messages = await this.deps.journal.findMessages(entries.map((entry) => entry.message.id));
      statuses = new Map(messages.map((message) => [message.id, message.status]));
    } catch (error) {
      this.deps.logger.warn('journal unavailable; reclaimed entries go again', { error: String(error) });
      return entries.slice();
    }
    const settled = this.lifecycle.begin();
    const again = this.lifecycle.reclaimed(settled, entries, statuses);
    if (settled.entries().length > 0) await this.inFlight.commit(settled);
    return again;
  }

  /**
   * Decides each claimed message's fate: skip, expire, defer, fail, or a Work item for
   * `batch` (the sender's batcher).
   */
  async plan(claimed: readonly LaneEntry[], now: number, batch: (work: Work, now: number) => void): Promise<void> {
    const added = this.inFlight.hold(claimed);
    const sends = claimed.filter((entry) => entry.message.receipt_timer === undefined);
    // A Redis marker, not a journal write, settles the race with a cancel; an entry
    // reclaimed from a replica that died mid-batch is marked again and goes again.
    const { lanes } = laneOps(this.deps, claimed);
    const settled = this.lifecycle.begin(lanes);
    let cancelled: Set<string>;
    let entries: readonly LaneEntry[];
    try {
      cancelled = await lanes.markSending(sends.map((entry) => entry.message.id));
      // Cascade timers that came due: those that move on are routed by their next step now.
      const timers = claimed.filter((entry) => entry.message.receipt_timer !== undefined);
      entries = timers.length === 0 ? sends : [...sends, ...(await this.lifecycle.timersDue(settled, timers, now))];
    } catch (error) {
      // Nothing of this claim is batched or recorded yet: let go of it, so that the
      // reclaim (this replica's or another's) takes it after the visibility timeout. Held
      // on, the reclaim would skip it as this replica's own work for ever: a claim
      // answered just before a Redis restart, whose marking then failed, stayed pending.
      this.inFlight.release(added);
      throw error;
    }
    for (const [i, entry] of entries.entries()) {
      // Awaits on cached routes never reach the event loop: let it turn every so often,
      // so a critical claim answered meanwhile is not held up by a long bulk claim.
      if (i > 0 && i % PLAN_SLICE === 0) await yieldToEventLoop();
      if (cancelled.has(entry.message.id)) {
        this.lifecycle.drop(settled, entry); // cancelled by the tenant: its journal says so already
        continue;
      }
      const work = await this.route(entry, now, settled);
      if (work !== undefined) batch(work, now);
    }
    await this.inFlight.commit(settled);
  }

  /**
   * The strategy's verdict for one message (decideClaimed), carried out, or a Work item
   * bound for a provider. Every reason recorded here is written by us: error text of a
   * library or a server goes to the log only, never into a tenant's timeline.
   */
  private async route(claimed: LaneEntry, now: number, settled: Settlement): Promise<Work | undefined> {
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
        if (verdict.kind === 'fail' && verdict.cause === 'opted_out') this.deps.metrics.contactPolicy('opted_out');
        this.lifecycle.apply(settled, entry, verdict, routing, now);
        return undefined;
      }
      const config = routing.providers.get(verdict.provider);
      if (config === undefined) throw new Error(`route chose provider ${verdict.provider}, which is not configured`);
      const provider = this.deps.providers.handle(message.tenant_id, config);
      if (verdict.failover) this.deps.metrics.failedOver(provider.key);
      return { entry, routing, step, expiresAt: expiryOf(message, step.ttl_seconds), provider };
    } catch (error) {
      this.lifecycle.apply(settled, claimed, this.unroutable(message, step, error, now), undefined, now);
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
}

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
