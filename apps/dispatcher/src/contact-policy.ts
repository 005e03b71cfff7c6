import {
  contactAddress,
  overCapVerdict,
  stepCaps,
  storeOutageVerdict,
  stopListKey,
  type FrequencyCap,
} from '@commstrat/core';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { CapAnswer, CapCheck, FrequencyCaps } from '@commstrat/queue';
import { change, type SettledSet } from './batch-recorder.ts';
import type { Work } from './batcher.ts';

export interface ContactPolicyDeps {
  readonly caps: Pick<FrequencyCaps, 'admit'>;
  readonly metrics: DispatcherMetrics;
  readonly logger: Logger;
  readonly random: () => number;
}

/**
 * Carries out a strategy's frequency caps (the decisions are core's) right before a
 * batch is handed to a provider, so a message is counted only when it goes. The stop
 * list is decided when the message is routed (decideClaimed).
 */
export class ContactPolicyGate {
  private readonly deps: ContactPolicyDeps;

  constructor(deps: ContactPolicyDeps) {
    this.deps = deps;
  }

  /**
   * Checks and counts the caps of `works` in one Redis step; the ones a cap holds back
   * are removed from `works` and settled (deferred, failed or expired as their policy
   * says). True when any may go.
   */
  async admit(works: Work[], settled: SettledSet, now: number): Promise<boolean> {
    const planned = works.map((work) => this.checksOf(work));
    if (planned.every(({ checks }) => checks.length === 0)) return works.length > 0;
    let answers: (CapAnswer | undefined)[];
    try {
      answers = await this.deps.caps.admit(planned.map(({ checks }) => checks), now);
    } catch (error) {
      this.deps.logger.warn('frequency caps unavailable; capped messages wait', { error: String(error) });
      answers = planned.map(({ checks }) => (checks.length === 0 ? { admitted: true } : undefined));
    }
    const kept: Work[] = [];
    works.forEach((work, i) => {
      const answer = answers[i];
      const { caps } = planned[i] ?? { caps: [] };
      if (answer?.admitted === true) {
        kept.push(work);
        return;
      }
      this.holdBack(work, settled, now, answer === undefined ? undefined : { cap: caps[answer.blocking], allowedAt: answer.allowedAt });
    });
    works.splice(0, works.length, ...kept);
    return works.length > 0;
  }

  private checksOf(work: Work): { caps: FrequencyCap[]; checks: CapCheck[] } {
    const { message } = work.entry;
    // The channel the message goes out on, and the caps of its strategy and its step.
    const { channel, caps: found } = stepCaps(work.routing.strategy, message);
    const address = contactAddress(channel, message.recipient);
    const caps = address === undefined ? [] : found;
    if (address === undefined || caps.length === 0) return { caps: [], checks: [] };
    const checks = caps.map((cap) => ({
      messageId: message.id,
      tenantId: message.tenant_id,
      channel,
      category: cap.category,
      address: stopListKey(address),
      max: cap.max,
      windowMs: cap.per_seconds * 1000,
    }));
    return { caps, checks };
  }

  private holdBack(
    work: Work,
    settled: SettledSet,
    now: number,
    over: { cap: FrequencyCap | undefined; allowedAt: number } | undefined,
  ): void {
    const { entry } = work;
    const { metrics } = this.deps;
    const id = entry.message.id;
    if (over?.cap === undefined) {
      // Not sent uncapped: a cap is a promise to the recipient, and the message can wait a few seconds.
      metrics.deferred.inc({ reason: 'frequency_cap' });
      const wait = storeOutageVerdict('frequency_cap', now, this.deps.random);
      settled.defer(entry, wait.until, change(id, 'scheduled', now, wait.reason));
      return;
    }
    const verdict = overCapVerdict(over.cap, stepCaps(work.routing.strategy, entry.message).channel, over.allowedAt, work.expiresAt);
    if (verdict.kind === 'defer') {
      metrics.contactPolicy.inc({ outcome: 'deferred' });
      metrics.deferred.inc({ reason: 'frequency_cap' });
      settled.defer(entry, verdict.until, change(id, 'scheduled', now, verdict.reason));
    } else if (verdict.kind === 'fail') {
      metrics.contactPolicy.inc({ outcome: 'dropped' });
      settled.finish(entry, change(id, 'failed', now, verdict.reason));
    } else {
      metrics.contactPolicy.inc({ outcome: 'expired' });
      metrics.expired.inc();
      settled.finish(entry, change(id, 'expired', now, verdict.reason));
    }
  }
}
