import { setTimeout as sleep } from 'node:timers/promises';
import {
  ProviderUnavailableError,
  newId,
  retryDelayMs,
  type QueuedMessage,
  type RetryPolicy,
} from '@commstrat/core';
import type { Journal, ProviderExchange, StatusChange } from '@commstrat/journal';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { ProviderAdapter, SendResult } from '@commstrat/providers';
import type { LaneEntry, LaneQueue } from '@commstrat/queue';
import pLimit from 'p-limit';

export interface DispatcherDeps {
  readonly lanes: LaneQueue;
  readonly journal: Journal;
  /** The provider each channel goes to, until strategies choose routes. */
  readonly routes: ReadonlyMap<string, ProviderAdapter>;
  readonly metrics: DispatcherMetrics;
  readonly logger: Logger;
  readonly consumer: string;
  readonly claimCount: number;
  readonly blockMs: number;
  readonly providerConcurrency: number;
  readonly retry: RetryPolicy;
}

/** What one cycle decided, written to the journal and Redis before anything is acked. */
interface CycleOutcome {
  changes: StatusChange[];
  exchanges: ProviderExchange[];
  retries: { message: QueuedMessage; dueAt: number }[];
  deadLetters: { message: QueuedMessage; reason: string }[];
}

/**
 * Claims lane entries, sends them to providers in batches, records every outcome,
 * then acknowledges. A replica that dies before the ack leaves its entries pending for
 * another replica to reclaim, so a message is sent at least once.
 */
export class Dispatcher {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly deps: DispatcherDeps;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.limit = pLimit(deps.providerConcurrency);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming; resolves once the batch in flight is recorded and acknowledged. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.runCycle();
      } catch (error) {
        // Entries of a failed cycle stay pending and are claimed again; wait a little so
        // that an outage of Redis or MongoDB does not turn into a busy loop.
        this.deps.logger.error('dispatch cycle failed', {
          error: error instanceof Error ? error.message : String(error),
        });
        await sleep(1000);
      }
    }
  }

  /** One claim → send → record → ack round; returns how many entries it handled. */
  async runCycle(now: () => number = Date.now): Promise<number> {
    await this.deps.lanes.promoteDue(now());
    const entries = await this.deps.lanes.claim(this.deps.consumer, this.deps.claimCount, this.deps.blockMs);
    if (entries.length === 0) return 0;
    const outcome: CycleOutcome = { changes: [], exchanges: [], retries: [], deadLetters: [] };
    const sendable = await this.claimInJournal(entries, now());
    const batches = this.plan(sendable, now(), outcome);
    await Promise.all(
      batches.map(({ provider, messages }) =>
        this.limit(async () => this.record(provider, messages, await provider.send(messages), outcome, now())),
      ),
    );
    await this.deps.journal.recordProviderExchanges(outcome.exchanges);
    await this.deps.journal.recordStatusChanges(outcome.changes);
    await this.deps.lanes.defer(outcome.retries);
    await this.deps.lanes.deadLetter(outcome.deadLetters);
    await this.deps.lanes.ack(entries);
    return entries.length;
  }

  /**
   * Moves the claimed messages to `sending` in the journal in one write. The journal is
   * where a cancel lands, so a message cancelled meanwhile is not in an allowed state and
   * is skipped (its entry is still acked). `sending` is allowed too: an entry reclaimed
   * from a replica that died mid-batch is sent again (at-least-once).
   */
  private async claimInJournal(entries: readonly LaneEntry[], now: number): Promise<LaneEntry[]> {
    const skipped = await this.deps.journal.transitionMany(
      entries.map((entry) => entry.message.id),
      ['queued', 'scheduled', 'sending'],
      { status: 'sending', at: new Date(now) },
    );
    if (skipped.size > 0) {
      this.deps.logger.info('skipping messages no longer waiting to be sent', { count: skipped.size });
    }
    return entries.filter((entry) => !skipped.has(entry.message.id));
  }

  /** Drops what must not be sent (expired, unroutable) and cuts the rest into provider batches. */
  private plan(entries: readonly LaneEntry[], now: number, outcome: CycleOutcome) {
    const byProvider = new Map<ProviderAdapter, QueuedMessage[]>();
    for (const { message } of entries) {
      if (message.expires_at !== undefined && Date.parse(message.expires_at) <= now) {
        outcome.changes.push(change(message.id, 'expired', now, 'expires_at passed before sending'));
        continue;
      }
      const provider = this.deps.routes.get(message.channel ?? '');
      if (provider === undefined) {
        outcome.changes.push(change(message.id, 'failed', now, `no provider for channel ${String(message.channel)}`));
        continue;
      }
      const list = byProvider.get(provider) ?? [];
      list.push(message);
      byProvider.set(provider, list);
    }
    const batches: { provider: ProviderAdapter; messages: QueuedMessage[] }[] = [];
    for (const [provider, messages] of byProvider) {
      for (let i = 0; i < messages.length; i += provider.maxBatchSize) {
        batches.push({ provider, messages: messages.slice(i, i + provider.maxBatchSize) });
      }
    }
    return batches;
  }

  private record(
    provider: ProviderAdapter,
    messages: readonly QueuedMessage[],
    result: SendResult,
    outcome: CycleOutcome,
    now: number,
  ): void {
    const { metrics } = this.deps;
    const label = result.error === undefined ? 'ok' : result.error.retryable ? 'retryable' : 'permanent';
    metrics.batchSize.observe({ provider: provider.id }, messages.length);
    metrics.providerRequestDuration.observe({ provider: provider.id, outcome: label }, result.exchange.durationMs / 1000);
    outcome.exchanges.push({
      _id: newId(),
      provider: provider.id,
      message_ids: messages.map((m) => m.id),
      request: result.exchange.request,
      response: result.exchange.response,
      http_status: result.exchange.httpStatus,
      outcome: result.error === undefined ? 'accepted' : result.error.retryable ? 'error' : 'rejected',
      started_at: result.exchange.startedAt,
      duration_ms: result.exchange.durationMs,
    });

    if (result.error === undefined) {
      for (const item of result.outcomes) {
        metrics.messagesDispatched.inc({ provider: provider.id, outcome: item.outcome });
        outcome.changes.push(
          item.outcome === 'accepted'
            ? { messageId: item.messageId, event: { status: 'sent', at: new Date(now), provider: provider.id, provider_message_id: item.providerMessageId } }
            : change(item.messageId, 'failed', now, `provider ${provider.id} rejected: ${item.reason}`),
        );
      }
      return;
    }

    const error = result.error;
    metrics.messagesDispatched.inc({ provider: provider.id, outcome: 'error' }, messages.length);
    this.deps.logger.warn('provider request failed', { provider: provider.id, code: error.code, error: error.message, batch_size: messages.length });
    for (const message of messages) {
      const attempts = (message.attempts ?? 0) + 1;
      if (!error.retryable) {
        outcome.changes.push(change(message.id, 'failed', now, error.message));
      } else if (attempts >= this.deps.retry.maxAttempts) {
        outcome.changes.push(change(message.id, 'failed', now, `gave up after ${attempts} attempts: ${error.message}`));
        outcome.deadLetters.push({ message: { ...message, attempts }, reason: error.message });
      } else {
        const retryAfterMs =
          error instanceof ProviderUnavailableError ? (error.retryAfterSeconds ?? 0) * 1000 : 0;
        const dueAt = now + retryDelayMs(attempts, this.deps.retry, retryAfterMs);
        outcome.retries.push({ message: { ...message, attempts }, dueAt });
        outcome.changes.push(change(message.id, 'scheduled', now, `retry ${attempts + 1} at ${new Date(dueAt).toISOString()}: ${error.message}`));
      }
    }
  }
}

function change(messageId: string, status: 'expired' | 'failed' | 'scheduled', now: number, reason: string): StatusChange {
  return { messageId, event: { status, at: new Date(now), reason } };
}
