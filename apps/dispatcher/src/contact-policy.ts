import {
  applicableCaps,
  contactAddress,
  overCapVerdict,
  screenRecipient,
  stopListKey,
  type FrequencyCap,
} from '@commstrat/core';
import type { Routing } from '@commstrat/config';
import type { DispatcherMetrics, Logger } from '@commstrat/observability';
import type { CapAnswer, CapCheck, FrequencyCaps, LaneEntry } from '@commstrat/queue';
import { change, type SettledSet } from './batch-recorder.ts';
import type { Work } from './batcher.ts';

export interface ContactPolicyDeps {
  readonly caps: Pick<FrequencyCaps, 'admit'>;
  readonly metrics: DispatcherMetrics;
  readonly logger: Logger;
  readonly random: () => number;
}

/**
 * How long a capped message waits when Redis cannot say whether its cap has room, ms:
 * this plus up to as much again of jitter. It is not sent uncapped: a cap is a promise
 * to the recipient, and the message can wait a few seconds.
 */
const CAPS_UNAVAILABLE_RETRY_MS = 2000;

/**
 * Carries out a strategy's contact policy (the decisions are core's): the stop list
 * when a message is routed, the frequency caps right before it is handed to a provider,
 * so a message is counted only when it goes.
 */
export class ContactPolicyGate {
  private readonly deps: ContactPolicyDeps;

  constructor(deps: ContactPolicyDeps) {
    this.deps = deps;
  }

  /** False when the recipient opted out: the message then ends `failed` in `settled`. */
  screen(entry: LaneEntry, routing: Routing, now: number, settled: SettledSet): boolean {
    const { message } = entry;
    const verdict = screenRecipient({
      policy: routing.strategy.contact_policy,
      priority: message.priority,
      channel: routing.strategy.channel,
      recipient: message.recipient,
      stopped: (key) => routing.stopList.has(key),
    });
    if (verdict.kind === 'send') return true;
    this.deps.metrics.contactPolicy.inc({ outcome: 'opted_out' });
    settled.finish(entry, change(message.id, 'failed', now, verdict.reason));
    return false;
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
    // The channel the message goes out on: the strategy's (one step per strategy).
    const channel = work.routing.strategy.channel;
    const address = contactAddress(channel, message.recipient);
    const caps = address === undefined ? [] : applicableCaps(work.routing.strategy.contact_policy, message, channel);
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
      metrics.deferred.inc({ reason: 'frequency_cap' });
      const dueAt = now + CAPS_UNAVAILABLE_RETRY_MS + Math.floor(this.deps.random() * CAPS_UNAVAILABLE_RETRY_MS);
      settled.defer(entry, dueAt, change(id, 'scheduled', now, 'waiting for the frequency-cap store; will retry'));
      return;
    }
    const verdict = overCapVerdict(over.cap, work.routing.strategy.channel, over.allowedAt, work.expiresAt);
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
