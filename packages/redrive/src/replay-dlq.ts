import type { Journal } from '@commstrat/journal';
import type { DeadLetterEntry, DeadLetterStream } from '@commstrat/queue';
import type { Redriver } from './redriver.ts';
import { RunPacer, RunReport, type RunProgress, type RunSummary } from './run-pacer.ts';

export interface ReplayDlqOptions {
  /** Undefined only with `--all-tenants`. */
  readonly tenant: string | undefined;
  /** A provider id (`sandbox`) or a tenant's provider key (`acme/sandbox`). */
  readonly provider?: string | undefined;
  readonly errorCode?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  readonly dryRun: boolean;
  readonly rate?: number | undefined;
  readonly limit?: number | undefined;
  readonly expiresAt?: Date | undefined;
}

/** One dead letter in a dry run's listing or a run's report. */
export interface DeadLetterItem {
  readonly entry_id: string;
  readonly message_id: string | undefined;
  readonly tenant: string | undefined;
  readonly provider: string | undefined;
  readonly code: string | undefined;
  readonly dead_lettered_at: Date;
  /** `replay` (dry run), `replayed`, `resumed`, `skipped`. */
  readonly action: string;
  readonly reason?: string;
  readonly new_id?: string;
}

export type ReplaySummary = RunSummary<DeadLetterItem>;

const PAGE = 100;

/**
 * Replays the dead-letter stream: each selected entry's message (failed in the journal)
 * is re-driven as a new message (Redriver), then the entry removed. An entry whose
 * original was re-driven before (a second run, or one cut short before the removal) is
 * removed without sending anything. An entry the journal does not know, or that cannot
 * be read, stays for a person to look at.
 */
export async function replayDeadLetters(
  deps: { readonly stream: DeadLetterStream; readonly journal: Journal; readonly redriver: Redriver },
  options: ReplayDlqOptions,
  progress: RunProgress,
  control: RunPacer = new RunPacer(options.dryRun ? undefined : options.rate),
): Promise<ReplaySummary> {
  const report = new RunReport<DeadLetterItem>(progress, (item) => item.reason);
  let selected = 0;
  let after: string | null = null;
  try {
    do {
      const page = await deps.stream.page({ since: options.since, until: options.until, after }, PAGE);
      after = page.nextAfter;
      const chosen = page.entries.filter((entry) => selectsDeadLetter(entry, options));
      const room = options.limit === undefined ? chosen.length : Math.max(0, options.limit - selected);
      const batch = chosen.slice(0, room);
      selected += batch.length;
      progress.setTotal(selected);
      for (const entry of batch) {
        if (control.stopped) break;
        report.record(await replayOne(deps, entry, options, control));
      }
      if (options.limit !== undefined && selected >= options.limit) break;
    } while (after !== null && !control.stopped);
  } finally {
    progress.stop();
  }
  return report.summary(options.dryRun, control.stopped, selected);
}

async function replayOne(
  deps: { readonly stream: DeadLetterStream; readonly journal: Journal; readonly redriver: Redriver },
  entry: DeadLetterEntry,
  options: ReplayDlqOptions,
  control: RunPacer,
): Promise<DeadLetterItem> {
  const base = {
    entry_id: entry.entryId,
    message_id: entry.message?.id,
    tenant: entry.message?.tenant_id,
    provider: entry.provider,
    code: entry.code,
    dead_lettered_at: entry.at,
  };
  const { message } = entry;
  if (message === undefined) return { ...base, action: 'skipped', reason: 'unreadable entry (kept)' };
  const original = await deps.journal.findMessage(message.tenant_id, message.id);
  if (original === null) return { ...base, action: 'skipped', reason: 'not in the journal (kept)' };
  if (options.dryRun) {
    const refusal = deps.redriver.refusal(original, { expiresAt: options.expiresAt });
    return refusal === undefined ? { ...base, action: 'replay' } : { ...base, action: 'skipped', reason: refusal };
  }
  if (original.redriven_as === undefined) await control.pace();
  const outcome = await deps.redriver.redrive(original, { expiresAt: options.expiresAt });
  if (outcome.kind !== 'skipped' || outcome.newId !== undefined) {
    // Linked to its new message: the entry has done its work.
    await deps.stream.remove([entry.entryId]);
  }
  if (outcome.kind === 'skipped') {
    return { ...base, action: 'skipped', reason: outcome.reason, ...(outcome.newId === undefined ? {} : { new_id: outcome.newId }) };
  }
  return { ...base, action: outcome.kind === 'redriven' ? 'replayed' : outcome.kind, new_id: outcome.newId };
}

/** Whether a replay selects the entry: its tenant, its error code, its provider by id or `<tenant>/<provider>`. */
export function selectsDeadLetter(entry: DeadLetterEntry, selection: Pick<ReplayDlqOptions, 'tenant' | 'provider' | 'errorCode'>): boolean {
  if (selection.tenant !== undefined && entry.message?.tenant_id !== selection.tenant) return false;
  if (selection.errorCode !== undefined && entry.code !== selection.errorCode) return false;
  if (selection.provider !== undefined) {
    const provider = entry.provider;
    if (provider === undefined || (provider !== selection.provider && !provider.endsWith(`/${selection.provider}`))) return false;
  }
  return true;
}
