import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallbackTarget } from '@commstrat/config';
import { EgressRefusedError, nextCallbackAttempt, signReceiptBody, type CallbackRetryPolicy } from '@commstrat/core';
import { EgressTimeoutError, type EgressClient } from '@commstrat/egress';
import type { CallbackAttempt, CallbackRecord, CallbackStore } from '@commstrat/journal';
import type { CallbackMetrics, Logger } from '@commstrat/observability';
import { StandardWebhookSigner } from '@commstrat/providers';
import type { ProviderRateLimiter } from '@commstrat/queue';

/**
 * The deprecated signature header of a callback: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>">` keyed with the signing secret as text, as receipts. Sent beside the
 * Standard Webhooks headers for one release, then dropped (docs/security.md).
 */
export const CALLBACK_SIGNATURE_HEADER = 'x-commstrat-signature';

export interface CallbackWorkerOptions {
  readonly store: CallbackStore;
  readonly targets: { targetOf(tenantId: string): Promise<CallbackTarget | null> };
  /** The shared token buckets; a tenant's callbacks take from `callbacks:<tenant>`. */
  readonly rateLimiter: ProviderRateLimiter;
  readonly metrics: CallbackMetrics;
  readonly logger: Logger;
  readonly policy: CallbackRetryPolicy;
  /** Time limit of one POST, ms. */
  readonly timeoutMs: number;
  /** Attempts in flight at once on this replica, all tenants together. */
  readonly concurrency: number;
  /** Attempts in flight at once for one tenant on this replica: what a slow endpoint can hold. */
  readonly tenantConcurrency: number;
  /** Callbacks a second to one tenant, across all replicas. */
  readonly tenantRatePerSecond: number;
  /** How often the relay and an idle sender look for work, ms. */
  readonly pollMs: number;
  /** Makes the POSTs, through the egress policy; closed by stop(). */
  readonly http: Pick<EgressClient, 'post' | 'close'>;
  readonly clock?: () => number;
  readonly random?: () => number;
}

/** Longest answer body read from a receiver: only its status counts. */
const MAX_ANSWER_BYTES = 2000;

/**
 * Sends status callbacks, in every dispatcher replica, apart from dispatch: its own two
 * loops, its own HTTP connections and its own MongoDB queries, so a slow or failing
 * receiver never holds a message back. One loop relays status changes from the
 * messages' outbox flags into `callbacks`; the other claims due callbacks one at a time
 * (an atomic lease: no two replicas make the same attempt), POSTs each signed, and
 * records the attempt with what follows it. A tenant whose endpoint is slow fills only
 * its own `tenantConcurrency` slots: the claim skips it until one is free.
 */
export class CallbackWorker {
  private readonly options: CallbackWorkerOptions;
  private readonly clock: () => number;
  private readonly inFlight = new Map<string, number>();
  /** Tenants out of rate tokens, until when (ms). */
  private readonly throttled = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly wakers = new Set<() => void>();
  /** A signer per signing secret (a rotated secret gets a new one). */
  private readonly signers = new Map<string, StandardWebhookSigner>();

  constructor(options: CallbackWorkerOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.relayLoop(), this.sendLoop()];
  }

  /** Stops claiming and waits for the attempts in flight (each bounded by the timeout). */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeAll();
    await Promise.all(this.loops);
    await Promise.allSettled([...this.attempts]);
    this.options.http.close();
  }

  private async relayLoop(): Promise<void> {
    while (this.running) {
      try {
        const { callbacks } = await this.options.store.relay(500, new Date(this.clock()));
        if (callbacks > 0) {
          this.options.metrics.relayed(callbacks);
          this.wakeAll();
        }
        // A full page: more may be waiting, relay again at once.
        if (callbacks >= 500) continue;
      } catch (error) {
        this.options.logger.warn('could not relay status callbacks; trying again', { error: String(error) });
      }
      await this.pause();
    }
  }

  private async sendLoop(): Promise<void> {
    while (this.running) {
      if (this.attempts.size >= this.options.concurrency) {
        await Promise.race(this.attempts);
        continue;
      }
      let record: CallbackRecord | null;
      try {
        record = await this.options.store.claim(
          new Date(this.clock()),
          this.busyTenants(),
          randomUUID(),
          this.options.timeoutMs + 10_000,
        );
      } catch (error) {
        this.options.logger.warn('could not claim status callbacks; trying again', { error: String(error) });
        record = null;
      }
      if (record === null) {
        await this.pause();
        continue;
      }
      const tenant = record.tenant_id;
      this.inFlight.set(tenant, (this.inFlight.get(tenant) ?? 0) + 1);
      const attempt = this.attempt(record)
        .catch((error: unknown) => {
          // The lease runs out and the callback is due again: nothing is lost.
          this.options.logger.warn('a status callback attempt was not recorded', { tenant_id: tenant, error: String(error) });
        })
        .finally(() => {
          this.attempts.delete(attempt);
          const left = (this.inFlight.get(tenant) ?? 1) - 1;
          if (left === 0) this.inFlight.delete(tenant);
          else this.inFlight.set(tenant, left);
        });
      this.attempts.add(attempt);
    }
  }

  /** Tenants the claim skips: out of slots on this replica, or out of rate tokens. */
  private busyTenants(): string[] {
    const now = this.clock();
    const busy = [...this.inFlight].filter(([, count]) => count >= this.options.tenantConcurrency).map(([tenant]) => tenant);
    for (const [tenant, until] of this.throttled) {
      if (until > now) busy.push(tenant);
      else this.throttled.delete(tenant);
    }
    return busy;
  }

  private async attempt(record: CallbackRecord): Promise<void> {
    const { store, metrics, policy } = this.options;
    const now = this.clock();
    // One message's callbacks go in order: this one waits while an earlier one is pending.
    const earlier = await store.earlierPending(record);
    if (earlier !== null) {
      // An earlier callback waiting for its retry: this one is due just after it. One in
      // flight (leased) wakes the later ones when it is recorded, but not this one while
      // this replica holds it, so look again after a poll, not when that lease runs out
      // (the attempt's timeout + 10 s).
      const until = earlier.lease !== undefined ? now + this.options.pollMs : Math.max(earlier.next_attempt_at?.getTime() ?? now, now) + 100;
      await store.release(record, new Date(until));
      return;
    }
    const grant = await this.options.rateLimiter.take(
      `callbacks:${record.tenant_id}`,
      1,
      this.options.tenantRatePerSecond,
      Math.max(1, Math.floor(this.options.tenantRatePerSecond)),
    );
    if (grant.granted === 0) {
      this.throttled.set(record.tenant_id, now + grant.waitMs);
      await store.release(record, new Date(now + grant.waitMs));
      return;
    }
    const target = await this.options.targets.targetOf(record.tenant_id);
    const url = record.url ?? target?.url ?? null;
    const number = record.attempts.length + 1;
    const answer: { statusCode?: number; error?: string; retryAfterMs?: number; durationMs: number; misconfigured?: true } =
      url === null || target === null ? { error: 'no_url', durationMs: 0 } : await this.post(url, target.secret, record);
    const delivered = answer.statusCode !== undefined && answer.statusCode >= 200 && answer.statusCode < 300;
    const at = new Date(this.clock());
    // A URL the egress policy refuses is refused again on every retry: abandoned now.
    const next = delivered || answer.misconfigured === true
      ? null
      : nextCallbackAttempt(number, record.created_at, at, policy, answer.retryAfterMs ?? 0, this.options.random);
    const outcome = delivered ? 'delivered' : next === null ? 'abandoned' : 'failed';
    const attempt: CallbackAttempt = {
      attempt: number,
      at: new Date(now),
      url: url ?? '',
      ...(answer.statusCode === undefined ? {} : { status_code: answer.statusCode }),
      ...(answer.error === undefined ? {} : { error: answer.error }),
      duration_ms: answer.durationMs,
      next_attempt_at: next,
    };
    await store.recordAttempt(record, attempt, delivered ? 'delivered' : next === null ? 'abandoned' : 'pending');
    metrics.attempt(outcome, answer.durationMs / 1000);
    if (outcome === 'abandoned') {
      this.options.logger.warn('status callback abandoned', {
        tenant_id: record.tenant_id,
        message_id: record.message_id,
        event_id: record._id,
        attempts: number,
        error: answer.error ?? `http_${answer.statusCode}`,
      });
    }
  }

  /**
   * One signed POST, by Standard Webhooks (`webhook-id` is the callback's event id, the
   * same on every retry) and by the deprecated header; never follows a redirect and never
   * throws: what went wrong is the answer's `error`, `misconfigured: ...` when the egress
   * policy refuses the URL or the address it resolves to.
   */
  private async post(
    url: string,
    secret: string,
    record: CallbackRecord,
  ): Promise<{ statusCode?: number; error?: string; retryAfterMs?: number; durationMs: number; misconfigured?: true }> {
    const body = JSON.stringify(record.payload);
    const at = new Date(this.clock());
    const started = performance.now();
    try {
      const response = await this.options.http.post(
        url,
        body,
        {
          'content-type': 'application/json',
          'user-agent': 'commstrat-callbacks/1',
          ...this.signer(secret).headers(record._id, at, body),
          'x-commstrat-event-id': record._id,
          [CALLBACK_SIGNATURE_HEADER]: signReceiptBody(secret, body, at),
        },
        { timeoutMs: this.options.timeoutMs, maxAnswerBytes: MAX_ANSWER_BYTES },
      );
      const durationMs = Math.round(performance.now() - started);
      const retryAfter = Number(response.headers['retry-after']);
      const ok = response.status >= 200 && response.status < 300;
      return {
        statusCode: response.status,
        ...(ok ? {} : { error: `http_${response.status}` }),
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
        durationMs,
      };
    } catch (cause) {
      const durationMs = Math.round(performance.now() - started);
      if (cause instanceof EgressRefusedError) {
        return { error: `misconfigured: callback URL ${cause.message}`.slice(0, 300), durationMs, misconfigured: true };
      }
      if (cause instanceof EgressTimeoutError) return { error: 'timeout', durationMs };
      const detail = cause instanceof Error ? cause.message : String(cause);
      return { error: `connection: ${detail}`.slice(0, 200), durationMs };
    }
  }

  private signer(secret: string): StandardWebhookSigner {
    let signer = this.signers.get(secret);
    if (signer === undefined) {
      if (this.signers.size >= 10_000) this.signers.clear();
      signer = new StandardWebhookSigner(secret);
      this.signers.set(secret, signer);
    }
    return signer;
  }

  /** Waits `pollMs`, or less when the relay queued something. */
  private async pause(): Promise<void> {
    if (!this.running) return;
    const controller = new AbortController();
    const wake = () => controller.abort();
    this.wakers.add(wake);
    await sleep(this.options.pollMs, undefined, { signal: controller.signal }).catch(() => undefined);
    this.wakers.delete(wake);
  }

  private wakeAll(): void {
    for (const wake of this.wakers) wake();
  }
}
