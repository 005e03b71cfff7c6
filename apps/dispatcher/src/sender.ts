import { setTimeout as sleep } from 'node:timers/promises';
import { newId, throttleDelayMs, timeVerdict } from '@commstrat/core';
import type { DispatchLifecycle, Settlement } from '@commstrat/lifecycle';
import { defaultBurst } from '@commstrat/queue';
import { Batcher, type Work } from './batcher.ts';
import { messageToSend } from './cascade-steps.ts';
import type { InFlight } from './in-flight.ts';
import { laneOps, type DispatcherDeps, type RatePort } from './ports.ts';
import type { ProviderHandle } from './provider-registry.ts';

/**
 * Batches planned messages per provider and sends each batch within the provider's
 * rate, concurrency and the contact policy's caps, then has the lifecycle record the
 * answer. The request slot is freed as soon as the provider answered; the recording
 * runs outside it, within a bound (`recording`).
 */
export class Sender {
  private readonly deps: DispatcherDeps;
  private readonly lifecycle: DispatchLifecycle;
  private readonly inFlight: InFlight;
  private readonly clock: () => number;
  /** Whether the dispatcher still runs: once stopped, what is batched leaves without its linger. */
  private readonly running: () => boolean;
  private readonly batcher = new Batcher();
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
   * Per provider: the recordings of critical batches it answered that are still being
   * journaled. Critical batches skip the slots above, so without a bound of their own a
   * slow journal let their unrecorded answers pile up past the crash bound; a critical
   * request waits while URGENT_UNRECORDED of them are unrecorded. More than one, so a
   * critical request does not wait for the journal write of the one before it.
   */
  private readonly urgentRecording = new Map<string, Set<Promise<void>>>();

  constructor(deps: DispatcherDeps, lifecycle: DispatchLifecycle, inFlight: InFlight, clock: () => number, running: () => boolean) {
    this.deps = deps;
    this.lifecycle = lifecycle;
    this.inFlight = inFlight;
    this.clock = clock;
    this.running = running;
  }

  /** A planned message joins its provider's open batch. */
  add(work: Work, now: number): void {
    this.batcher.add(work, now);
  }

  /**
   * When the first lingering batch is due (undefined: none is batched, or every one waits
   * for a request slot, whose freeing starts it: see flush).
   */
  nextDeadline(): number | undefined {
    return this.batcher.nextDeadline(this.room, this.urgentRoom);
  }

  /** Sends what is batched (within the rates), and waits until every send is recorded. */
  async drain(): Promise<void> {
    while (this.batcher.size > 0 || this.sends.size > 0) {
      this.flush(this.clock(), true);
      if (this.sends.size > 0) await Promise.race(this.sends);
      else await sleep(Math.max(1, (this.batcher.nextDeadline() ?? 0) - this.clock()));
    }
  }

  /**
   * Starts every batch that is due and has a free request slot at its provider. A slot
   * is freed as soon as the provider has answered (not once the outcome is recorded),
   * and its freeing starts the next batch.
   */
  flush(now: number, force: boolean): void {
    for (const { provider, works } of this.batcher.takeReady(now, force, this.room, this.urgentRoom)) {
      const urgent = works[0]?.entry.lane === 'critical';
      const counts = urgent ? [this.sending, this.urgentSending] : [this.sending];
      for (const count of counts) count.set(provider.key, (count.get(provider.key) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        for (const count of counts) count.set(provider.key, (count.get(provider.key) ?? 1) - 1);
        if (this.batcher.size > 0) this.flush(this.clock(), !this.running());
      };
      const send = this.send(provider, works, release).finally(() => {
        release();
        this.sends.delete(send);
      });
      this.sends.add(send);
    }
  }

  /** Free request slots of a provider for non-critical batches. */
  private readonly room = (provider: ProviderHandle): number =>
    provider.config.concurrency -
    (this.sending.get(provider.key) ?? 0) -
    Math.max(0, (this.recording.get(provider.key) ?? 0) - provider.config.concurrency);

  /**
   * Free critical slots of a provider. Critical batches wait for one here, gathering the
   * critical messages that come meanwhile: queued at the slot one request each, they fell
   * ever further behind whenever a request and its journal write took longer than their pace.
   */
  private readonly urgentRoom = (provider: ProviderHandle): number => URGENT_BATCHES_IN_FLIGHT - (this.urgentSending.get(provider.key) ?? 0);

  /**
   * Sends one batch and records what came of it; `release` frees its request slot. A
   * message may have waited for its batch to fill or for rate tokens since it was
   * planned: expiry and window are checked again right before it goes, and the late
   * ones are recorded with the batch's outcome, in one journal write.
   */
  private async send(provider: ProviderHandle, batch: Work[], release: () => void): Promise<void> {
    const ops = laneOps(this.deps, batch.map((work) => work.entry));
    const urgent = ops === this.deps.urgent;
    // A critical batch's outcome goes through the journal's urgent writer: never behind bulk writes.
    const settled = this.lifecycle.begin(ops.lanes, { urgent });
    let answered = false;
    let urgentRecorded: (() => void) | undefined;
    try {
      const works = batch.filter((work) => this.onTime(work, this.clock(), settled));
      if (works.length === 0 || !(await this.takeTokens(provider, works, ops.rateLimiter))) return;
      // Caps last, right before the provider: a message counts only when it goes.
      const now = this.clock();
      const { admitted, heldBack } = await this.deps.contactPolicy.admit(works, now);
      for (const { work, verdict } of heldBack) this.lifecycle.apply(settled, work.entry, verdict, work.routing, now);
      if (admitted.length === 0) return;
      // The concurrency cap covers the provider request only; recording runs outside it so
      // a slow journal write never holds a provider slot. Critical batches have a slot
      // of their own.
      const result = await (urgent ? provider.urgentLimit : provider.limit)(async () => {
        const recordings = urgent ? this.urgentRecordings(provider) : undefined;
        while (recordings !== undefined && recordings.size >= URGENT_UNRECORDED) await Promise.race(recordings);
        this.deps.providers.beforeSend(provider, this.clock());
        const answer = await provider.adapter.send(admitted.map((work) => messageToSend(work.entry, work.routing)));
        this.deps.providers.afterSend(provider, this.clock(), answer.error?.retryable === true);
        // Counted before the slot frees, so the next critical request finds it.
        if (recordings !== undefined) {
          const recorded = new Promise<void>((resolve) => (urgentRecorded = resolve));
          recordings.add(recorded);
          void recorded.then(() => recordings.delete(recorded));
        }
        return answer;
      });
      // The slot is free from here: recording must not hold the next batch back (the
      // journal write can take as long as the request did), within the `recording` bound.
      answered = true;
      this.recording.set(provider.key, (this.recording.get(provider.key) ?? 0) + 1);
      release();
      // One line per provider request, its ids bound; the bodies (masked by the logger) at
      // debug. Its id is the id of its provider_exchanges document, so the line and the
      // journal's record (and each message's `sending` and `sent` events) join on it.
      const exchangeId = newId();
      const tenant = admitted[0]?.entry.message.tenant_id;
      const log = this.deps.logger.child({ exchange_id: exchangeId, provider: provider.config.id, tenant_id: tenant });
      const { exchange, error } = result;
      const [status, durationMs] = [exchange.httpStatus, exchange.durationMs];
      log.info('provider request', { messages: admitted.length, outcome: error?.code ?? 'ok', http_status: status, duration_ms: durationMs });
      if (log.isDebugEnabled()) {
        const ids = admitted.map((work) => work.entry.message.id);
        log.debug('provider exchange', { message_ids: ids, request: exchange.request, response: exchange.response });
      }
      const answeredAt = exchange.startedAt.getTime() + durationMs;
      for (const { entry } of admitted) {
        const accepted = entry.message.created_at === undefined ? NaN : Date.parse(entry.message.created_at);
        if (accepted <= answeredAt) this.deps.metrics.reachedProvider(entry.lane, (answeredAt - accepted) / 1000);
      }
      this.lifecycle.recordAnswer(settled, provider, admitted, result, this.clock(), exchangeId);
    } finally {
      try {
        await this.inFlight.commit(settled);
      } finally {
        urgentRecorded?.();
        if (answered) {
          this.recording.set(provider.key, (this.recording.get(provider.key) ?? 1) - 1);
          if (this.batcher.size > 0) this.flush(this.clock(), !this.running());
        }
      }
    }
  }

  private urgentRecordings(provider: ProviderHandle): Set<Promise<void>> {
    let recordings = this.urgentRecording.get(provider.key);
    if (recordings === undefined) this.urgentRecording.set(provider.key, (recordings = new Set()));
    return recordings;
  }

  /**
   * Takes the provider's rate tokens for `works`, putting back what the rate does not let
   * through now (removed from `works`). False when nothing may go now.
   */
  private async takeTokens(provider: ProviderHandle, works: Work[], rateLimiter: RatePort): Promise<boolean> {
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
      this.deps.metrics.throttled(provider.key, held.length);
      const delay = throttleDelayMs(held.length, config.ratePerSecond, defaultBurst(config.ratePerSecond), grant.waitMs);
      this.batcher.putBack(provider, held, this.clock() + delay, this.clock());
      // Flush right when the tokens are back rather than at the claim loop's next turn.
      setTimeout(() => this.flush(this.clock(), !this.running()), delay).unref();
    }
    return works.length > 0;
  }

  /**
   * The step's time rules again right before a message is sent (timeVerdict): it may
   * have waited for its batch to fill or for rate tokens since it was planned. True when
   * it may go now; otherwise its verdict is carried out in `settled`.
   */
  private onTime(work: Work, now: number, settled: Settlement): boolean {
    const { entry, step, expiresAt, routing } = work;
    const verdict = timeVerdict({ message: entry.message, step, tenantTimeZone: routing.tenantTimeZone, now, waited: true, expiresAt });
    if (verdict === undefined) return true;
    this.lifecycle.apply(settled, entry, verdict, routing, now);
    return false;
  }
}

/**
 * Critical batches in flight per provider (the provider registry's critical request
 * slots): one at the provider, while the next gathers what comes meanwhile.
 */
const URGENT_BATCHES_IN_FLIGHT = 1;

/**
 * Critical batches per provider answered and still being journaled, at most: a critical
 * request waits while this many are. With one request in flight, a crash resends at
 * most URGENT_UNRECORDED + 1 critical requests (docs/reliability.md).
 */
const URGENT_UNRECORDED = 2;
