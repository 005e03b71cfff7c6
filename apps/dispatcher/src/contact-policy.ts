import {
  contactAddress,
  overCapVerdict,
  stepCaps,
  storeOutageVerdict,
  stopListKey,
  type FrequencyCap,
  type Verdict,
} from '@commstrat/core';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { CapAnswer, CapCheck, FrequencyCaps } from '@commstrat/queue';
import type { Work } from './batcher.ts';

export interface ContactPolicyDeps {
  readonly caps: Pick<FrequencyCaps, 'admit'>;
  readonly metrics: DispatcherMetrics;
  readonly logger: Logger;
  readonly random: () => number;
}

/** What the caps let through now, and the verdict on each message they hold back (for the lifecycle). */
export interface Admission {
  readonly admitted: Work[];
  readonly heldBack: { readonly work: Work; readonly verdict: Verdict }[];
}

/**
 * Checks a strategy's frequency caps (the decisions are core's) right before a batch is
 * handed to a provider, so a message is counted only when it goes. The stop list is
 * decided when the message is routed (decideClaimed).
 */
export class ContactPolicyGate {
  private readonly deps: ContactPolicyDeps;

  constructor(deps: ContactPolicyDeps) {
    this.deps = deps;
  }

  /**
   * Checks and counts the caps of `works` in one Redis step: the ones that may go, and
   * the ones a cap holds back with their verdict (defer, fail or expire, as their
   * policy says; wait a few seconds when the cap store cannot be read).
   */
  async admit(works: readonly Work[], now: number): Promise<Admission> {
    const planned = works.map((work) => this.checksOf(work));
    if (planned.every(({ checks }) => checks.length === 0)) return { admitted: works.slice(), heldBack: [] };
    let answers: (CapAnswer | undefined)[];
    try {
      answers = await this.deps.caps.admit(planned.map(({ checks }) => checks), now);
    } catch (error) {
      this.deps.logger.warn('frequency caps unavailable; capped messages wait', { error: String(error) });
      answers = planned.map(({ checks }) => (checks.length === 0 ? { admitted: true } : undefined));
    }
    const admission: Admission = { admitted: [], heldBack: [] };
    works.forEach((work, i) => {
      const answer = answers[i];
      const { caps } = planned[i] ?? { caps: [] };
      if (answer?.admitted === true) {
        admission.admitted.push(work);
        return;
      }
      const over = answer === undefined ? undefined : { cap: caps[answer.blocking], allowedAt: answer.allowedAt };
      admission.heldBack.push({ work, verdict: this.heldBack(work, now, over) });
    });
    return admission;
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

  /** The verdict on a message the caps hold back (`over` undefined: the store could not say). */
  private heldBack(work: Work, now: number, over: { cap: FrequencyCap | undefined; allowedAt: number } | undefined): Verdict {
    const { entry } = work;
    const { metrics } = this.deps;
    // Not sent uncapped: a cap is a promise to the recipient, and the message can wait a few seconds.
    if (over?.cap === undefined) return storeOutageVerdict('frequency_cap', now, this.deps.random);
    const verdict = overCapVerdict(over.cap, stepCaps(work.routing.strategy, entry.message).channel, over.allowedAt, work.expiresAt);
    if (verdict.kind === 'defer') {
      metrics.contactPolicy('deferred');
      return { ...verdict, cause: 'frequency_cap' };
    }
    metrics.contactPolicy(verdict.kind === 'fail' ? 'dropped' : 'expired');
    return verdict;
  }
}
