import type { Message, MessageStatus } from '@commstrat/core';
import type { Journal } from '@commstrat/journal';
import type { Redriver } from './redriver.ts';
import { RunPacer, RunReport, type RunProgress, type RunSummary } from './run-pacer.ts';

export interface RedriveJournalOptions {
  readonly status: MessageStatus;
  /** Undefined only with `--all-tenants`. */
  readonly tenant: string | undefined;
  /** The provider id the message was last handed to (`sandbox`). */
  readonly provider?: string | undefined;
  /** Case-insensitive text the reason of the message's final event contains. */
  readonly reason?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  readonly dryRun: boolean;
  readonly rate?: number | undefined;
  readonly limit?: number | undefined;
  readonly expiresAt?: Date | undefined;
}

export interface RedriveItem {
  readonly message_id: string;
  readonly tenant: string;
  readonly status: MessageStatus;
  readonly provider: string | undefined;
  readonly reason: string | undefined;
  readonly created_at: Date;
  /** `redrive` (dry run), `redriven`, `resumed`, `skipped`. */
  readonly action: string;
  readonly skip_reason?: string;
  readonly new_id?: string;
}

export type RedriveSummary = RunSummary<RedriveItem>;

const PAGE = 200;

/**
 * Re-drives finished messages selected from the journal, tenant by tenant, oldest first,
 * page by page on an index (Journal.findRedriveCandidates); the reason match is applied
 * to each page.
 * Originals linked before (`redriven_as`) are skipped, or finished if a run was cut short.
 */
export async function redriveFromJournal(
  deps: { readonly journal: Journal; readonly redriver: Redriver },
  options: RedriveJournalOptions,
  progress: RunProgress,
  control: RunPacer = new RunPacer(options.dryRun ? undefined : options.rate),
): Promise<RedriveSummary> {
  const report = new RunReport<RedriveItem>(progress, (item) => item.skip_reason);
  const needle = options.reason?.toLowerCase();
  let selected = 0;
  const full = () => options.limit !== undefined && selected >= options.limit;
  try {
    // Across tenants, one tenant at a time: each query is then served by tenant_status_id.
    const tenants = options.tenant === undefined ? await deps.journal.tenantIds() : [options.tenant];
    for (const tenantId of tenants) {
      let after: string | undefined;
      for (;;) {
        const page = await deps.journal.findRedriveCandidates({
          tenantId,
          status: options.status,
          ...(options.provider === undefined ? {} : { provider: options.provider }),
          ...(options.since === undefined ? {} : { from: options.since }),
          ...(options.until === undefined ? {} : { to: options.until }),
          ...(after === undefined ? {} : { after }),
          limit: PAGE,
        });
        after = page.at(-1)?.id;
        const chosen = page.filter((message) => needle === undefined || (finalReason(message)?.toLowerCase().includes(needle) ?? false));
        const batch = options.limit === undefined ? chosen : chosen.slice(0, Math.max(0, options.limit - selected));
        selected += batch.length;
        progress.setTotal(selected);
        for (const message of batch) {
          if (control.stopped) break;
          report.record(await redriveOne(deps.redriver, message, options, control));
        }
        if (page.length < PAGE || control.stopped || full()) break;
      }
      if (control.stopped || full()) break;
    }
  } finally {
    progress.stop();
  }
  return report.summary(options.dryRun, control.stopped, selected);
}

async function redriveOne(redriver: Redriver, message: Message, options: RedriveJournalOptions, control: RunPacer): Promise<RedriveItem> {
  const base = {
    message_id: message.id,
    tenant: message.tenant_id,
    status: message.status,
    provider: message.provider,
    reason: finalReason(message),
    created_at: message.created_at,
  };
  if (options.dryRun) {
    const refusal = redriver.refusal(message, { expiresAt: options.expiresAt });
    return refusal === undefined ? { ...base, action: 'redrive' } : { ...base, action: 'skipped', skip_reason: refusal };
  }
  if (message.redriven_as === undefined) await control.pace();
  const outcome = await redriver.redrive(message, { expiresAt: options.expiresAt });
  if (outcome.kind === 'skipped') {
    return { ...base, action: 'skipped', skip_reason: outcome.reason, ...(outcome.newId === undefined ? {} : { new_id: outcome.newId }) };
  }
  return { ...base, action: outcome.kind, new_id: outcome.newId };
}

/** Why the message ended: the reason of the timeline's last event in its current status. */
export function finalReason(message: Message): string | undefined {
  return message.timeline.findLast((event) => event.status === message.status)?.reason;
}
