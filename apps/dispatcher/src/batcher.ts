import type { QueuedMessage, StrategyStep } from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { LaneEntry } from '@commstrat/queue';
import type { ProviderHandle } from './provider-registry.ts';

/** One claimed message on its way to the provider its strategy chose. */
export interface Work {
  readonly entry: LaneEntry;
  readonly routing: Routing;
  readonly step: StrategyStep;
  /** When it expires (ms), computed once when it is planned; undefined: never. */
  readonly expiresAt?: number | undefined;
  readonly provider: ProviderHandle;
}

interface OpenBatch {
  readonly provider: ProviderHandle;
  works: Work[];
  /** When the oldest message joined: the linger counts from here. */
  since: number;
  /** Not before this time (the provider's rate said wait). */
  notBefore: number;
  /** Critical messages never linger. */
  readonly urgent: boolean;
}

/**
 * Groups claimed messages by provider. A batch leaves when it holds the provider's
 * max batch size or when its oldest message has waited the provider's linger time,
 * whichever comes first; critical messages go in batches of their own that leave at
 * once, so they never wait behind a filling bulk batch.
 */
export class Batcher {
  private readonly open = new Map<string, OpenBatch>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(work: Work, now: number): void {
    const urgent = work.entry.lane === 'critical';
    const key = batchKey(work.provider, work.entry.message, urgent);
    let batch = this.open.get(key);
    if (batch === undefined) {
      batch = { provider: work.provider, works: [], since: now, notBefore: 0, urgent };
      this.open.set(key, batch);
    }
    batch.works.push(work);
    this.count += 1;
  }

  /**
   * Batches due now, cut to the provider's size. `force` (shutdown) skips the linger but
   * never the provider's rate: a batch put back by the rate limiter still waits.
   * `room(provider)` caps how many non-critical batches may leave per provider (its free
   * request slots), so they wait here rather than queue for a slot: a critical batch then
   * never finds a queue of bulk requests ahead of it. `urgentRoom(provider)` does the same
   * for critical batches (their own slots): while one is in flight, the critical
   * messages that come meanwhile wait here together and leave as one request when it
   * frees, instead of queueing one request each for the slot.
   */
  takeReady(
    now: number,
    force = false,
    room: (provider: ProviderHandle) => number = () => Number.POSITIVE_INFINITY,
    urgentRoom: (provider: ProviderHandle) => number = () => Number.POSITIVE_INFINITY,
  ): { provider: ProviderHandle; works: Work[] }[] {
    const ready: { provider: ProviderHandle; works: Work[] }[] = [];
    const started = new Map<string, number>();
    for (const [key, batch] of this.open) {
      const max = batch.provider.config.maxBatchSize;
      if (batch.notBefore > now) continue;
      const lingered = batch.urgent || now - batch.since >= batch.provider.config.lingerMs;
      const startedKey = `${batch.urgent ? 'urgent:' : ''}${batch.provider.key}`;
      const free = () => (started.get(startedKey) ?? 0) < (batch.urgent ? urgentRoom : room)(batch.provider);
      let took = false;
      while ((batch.works.length >= max || (batch.works.length > 0 && (lingered || force))) && free()) {
        started.set(startedKey, (started.get(startedKey) ?? 0) + 1);
        const works = batch.works.splice(0, max);
        this.count -= works.length;
        ready.push({ provider: batch.provider, works });
        took = true;
      }
      if (batch.works.length === 0) this.open.delete(key);
      else if (took) batch.since = now;
    }
    return ready;
  }

  /** Returns messages the provider's rate did not let through, ahead of the others. */
  putBack(provider: ProviderHandle, works: readonly Work[], notBefore: number, now: number): void {
    if (works.length === 0) return;
    const urgent = works[0]?.entry.lane === 'critical';
    const first = works[0];
    const key = first === undefined ? provider.key : batchKey(provider, first.entry.message, urgent);
    const batch = this.open.get(key) ?? { provider, works: [], since: now, notBefore, urgent };
    batch.works.unshift(...works);
    batch.notBefore = Math.max(batch.notBefore, notBefore);
    batch.since = Math.min(batch.since, now - provider.config.lingerMs);
    this.open.set(key, batch);
    this.count += works.length;
  }

  /**
   * The earliest time a batch becomes due, for how long the claim loop may block. A batch
   * whose provider has no free slot (`room`, `urgentRoom` as for takeReady) is left out:
   * the slot's freeing starts it, and polling for it would spin the claim loop.
   */
  nextDeadline(
    room: (provider: ProviderHandle) => number = () => Number.POSITIVE_INFINITY,
    urgentRoom: (provider: ProviderHandle) => number = () => Number.POSITIVE_INFINITY,
  ): number | undefined {
    let next: number | undefined;
    for (const batch of this.open.values()) {
      if ((batch.urgent ? urgentRoom : room)(batch.provider) <= 0) continue;
      const due = Math.max(batch.notBefore, batch.urgent ? 0 : batch.since + batch.provider.config.lingerMs);
      next = next === undefined ? due : Math.min(next, due);
    }
    return next;
  }
}

/**
 * Critical messages batch apart; so do messages the adapter says cannot share a request
 * (its batchKey, e.g. one text per request), and works put back came out of one batch.
 */
function batchKey(provider: ProviderHandle, message: QueuedMessage, urgent: boolean): string {
  const shared = provider.adapter.batchKey?.(message) ?? '';
  return `${provider.key}${urgent ? '#urgent' : ''}${shared === '' ? '' : `#${shared}`}`;
}
