import {
  ANY_CATEGORY,
  CONSENT_CATEGORY,
  CommstratError,
  DependencyUnavailableError,
  canonicalE164,
  matchKeyword,
  newId,
  type InboundAction,
  type InboundReport,
  type KeywordMatch,
} from '@commstrat/core';
import type { RoutingCache, Tenant } from '@commstrat/config';
import type { InboundRecord, InboundStore, PreferenceStore } from '@commstrat/journal';
import type { IngestMetrics, Logger } from '@commstrat/observability';
import type { Intake } from './intake.ts';

export interface InboundHandlerDeps {
  readonly store: Pick<InboundStore, 'record' | 'recordAction' | 'unfinished'>;
  readonly preferences: Pick<PreferenceStore, 'apply'>;
  /** The tenant's consent settings (its keywords) and whether it has a default callback URL. */
  readonly settings: Pick<RoutingCache, 'tenantSettings'>;
  /** Where a keyword's reply goes in: the one path into the service, as any message. */
  readonly intake: Pick<Intake, 'acceptOne'>;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
}

/** One inbound message as journaled, and whether it repeats one journaled before (a provider's retry). */
export interface ReceivedInbound {
  readonly record: InboundRecord;
  readonly repeated: boolean;
}

/**
 * What happens to inbound messages: each is journaled, its keyword (STOP, START, HELP in
 * the tenant's languages) is carried out on the sender's preferences, the keyword's reply
 * (when the tenant set one) is sent back as an ordinary message, and what was done is
 * recorded, which lets the status-callback relay forward it to the tenant. Every step may
 * run again (a provider's retry, the recovery pass) without doing anything twice: the
 * opt-out is idempotent, the reply carries an idempotency key, the action is recorded once.
 */
export class InboundHandler {
  private readonly deps: InboundHandlerDeps;

  constructor(deps: InboundHandlerDeps) {
    this.deps = deps;
  }

  /** Journals and handles one request's inbound messages of a tenant's provider. */
  async receive(tenantId: string, provider: string, reports: readonly InboundReport[], now: Date): Promise<ReceivedInbound[]> {
    const settings = await this.deps.settings.tenantSettings(tenantId).catch((cause: unknown) => {
      if (cause instanceof CommstratError && !cause.retryable) throw cause;
      throw new DependencyUnavailableError('configuration store (PostgreSQL)', cause);
    });
    const records = reports.map((report): InboundRecord => {
      const phone = canonicalE164(report.from);
      const match = matchKeyword(report.text, settings.consent.keywords);
      return {
        _id: newId(),
        tenant_id: tenantId,
        provider,
        ...(report.provider_message_id === undefined ? {} : { provider_message_id: report.provider_message_id }),
        channel: 'sms',
        from: report.from,
        ...(phone === undefined ? {} : { from_phone: phone }),
        ...(report.to === undefined ? {} : { to: report.to }),
        text: report.text,
        received_at: now,
        at: report.at === undefined ? now : new Date(report.at),
        ...(match === undefined ? {} : { keyword: { action: match.action, language: match.language, keyword: match.keyword } }),
        callbacks: settings.callbacks,
      };
    });
    const received = await journalCall(this.deps.store.record(records));
    for (const { record } of received) {
      // A retry of a message handled before does nothing again.
      if (record.action === undefined) await this.finish(record, settings.consent.keywords);
    }
    return received;
  }

  /**
   * Handles the messages journaled before `olderThan` whose handling never finished (the
   * process died in between); ingest's recovery runs it. Returns how many it finished.
   */
  async recover(olderThan: Date, limit = 100): Promise<number> {
    const unfinished = await this.deps.store.unfinished(olderThan, limit);
    let finished = 0;
    for (const record of unfinished) {
      try {
        const { consent } = await this.deps.settings.tenantSettings(record.tenant_id);
        await this.finish(record, consent.keywords);
        finished += 1;
      } catch (error) {
        this.deps.logger.warn('could not finish an inbound message; tried again later', { inbound_id: record._id, error: String(error) });
      }
    }
    return finished;
  }

  /** Carries out a journaled message's keyword and records what it did. */
  private async finish(record: InboundRecord, keywords: Parameters<typeof matchKeyword>[1]): Promise<void> {
    const match = matchKeyword(record.text, keywords);
    const action = await this.carryOut(record, match);
    const replyId = match?.reply === undefined || record.from_phone === undefined ? undefined : await this.reply(record, match.reply);
    const done: InboundAction = replyId !== undefined && action === 'none' ? 'replied' : action;
    await journalCall(this.deps.store.recordAction(record._id, done, replyId));
    if (done !== 'none') this.deps.metrics.inboundKeyword(done);
    this.deps.logger.info('inbound message', { inbound_id: record._id, tenant_id: record.tenant_id, keyword: match?.action ?? null, action: done });
  }

  /** A STOP opts the sender out of every SMS category, a START removes that opt-out; anything else changes nothing. */
  private async carryOut(record: InboundRecord, match: KeywordMatch | undefined): Promise<InboundAction> {
    if (match === undefined || match.action === 'help' || record.from_phone === undefined) return 'none';
    const optedOut = match.action === 'stop';
    const change = {
      address: { kind: 'phone' as const, address: record.from_phone },
      channel: 'sms' as const,
      category: ANY_CATEGORY,
      optedOut,
      reason: `replied ${match.keyword}`,
    };
    await journalCall(this.deps.preferences.apply(record.tenant_id, [change], 'inbound', record.received_at));
    return optedOut ? 'opted_out' : 'opted_in';
  }

  /**
   * The keyword's reply, as a message of the tenant to the sender: its SMS default
   * strategy routes it, its category (`consent`) is never held back by the sender's
   * preferences, and its idempotency key makes a second attempt return the first.
   */
  private async reply(record: InboundRecord, text: string): Promise<string | undefined> {
    const tenant: Tenant = { id: record.tenant_id, name: record.tenant_id, callbacks: record.callbacks };
    try {
      const accepted = await this.deps.intake.acceptOne(tenant, 'inbound', {
        channel: 'sms',
        priority: 'high',
        category: CONSENT_CATEGORY,
        recipient: { phone: record.from_phone },
        content: { text },
        idempotency_key: `inbound:${record._id}`,
        tags: ['inbound-reply'],
        metadata: { inbound_id: record._id },
      });
      return accepted.id;
    } catch (error) {
      if (error instanceof CommstratError && error.retryable) throw error;
      // The tenant has no SMS default strategy, say: the keyword holds, the reply is not sent.
      this.deps.logger.warn('keyword reply not sent', { inbound_id: record._id, tenant_id: record.tenant_id, error: String(error) });
      return undefined;
    }
  }
}

async function journalCall<T>(call: Promise<T>): Promise<T> {
  return call.catch((cause: unknown) => {
    if (cause instanceof CommstratError) throw cause;
    throw new DependencyUnavailableError('journal (MongoDB)', cause);
  });
}
