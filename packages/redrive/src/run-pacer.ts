import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Paces a run to `rate` items a second (undefined: as fast as the servers go) and lets
 * whoever runs it stop it between two items (the CLI on SIGINT, the console on a
 * request), so a stopped run has finished every item it started and reports its summary;
 * the next run resumes from the journal's markers.
 */
export class RunPacer {
  private readonly intervalMs: number;
  private next = 0;
  private stopRequested = false;

  constructor(rate: number | undefined) {
    this.intervalMs = rate === undefined ? 0 : 1000 / rate;
  }

  get stopped(): boolean {
    return this.stopRequested;
  }

  /** Asks the run to stop before its next item. */
  stop(): void {
    this.stopRequested = true;
  }

  /** Waits until the next item may go. */
  async pace(): Promise<void> {
    if (this.intervalMs === 0) return;
    const now = Date.now();
    if (this.next > now) await sleep(this.next - now);
    this.next = Math.max(now, this.next) + this.intervalMs;
  }
}

/** How far a run got, told after each item; `total` may grow as pages are read. */
export interface RunProgress {
  /** One more item handled (re-driven or skipped), with the counts so far. */
  tick(counts: Readonly<Record<string, number>>): void;
  setTotal(total: number): void;
  stop(): void;
}

/** Counts by outcome, and skips by why, for the summary. */
export class Tally {
  readonly counts: Record<string, number> = {};
  readonly skipped: Record<string, number> = {};

  add(outcome: string): void {
    this.counts[outcome] = (this.counts[outcome] ?? 0) + 1;
  }

  skip(reason: string): void {
    this.add('skipped');
    // "already re-driven as 01K…" counted as one reason, whatever the id.
    const key = reason.replace(/ as [0-9A-HJKMNP-TV-Z]{26}$/, '');
    this.skipped[key] = (this.skipped[key] ?? 0) + 1;
  }
}

/** What a replay or re-drive run reports: its counts, its skips by reason, and each item. */
export interface RunSummary<Item> {
  readonly dry_run: boolean;
  readonly interrupted: boolean;
  readonly selected: number;
  readonly counts: Record<string, number>;
  readonly skipped: Record<string, number>;
  readonly items: Item[];
}

/**
 * What a run has done so far: each item it handled, in order, and their tally. Both the
 * journal re-drive and the dead-letter replay record through it, so their progress and
 * summaries count alike.
 */
export class RunReport<Item extends { readonly action: string }> {
  private readonly tally = new Tally();
  private readonly items: Item[] = [];
  private readonly skipReason: (item: Item) => string | undefined;
  private readonly progress: RunProgress;

  /** `skipReason`: why a `skipped` item was, counted in the summary's `skipped`. */
  constructor(progress: RunProgress, skipReason: (item: Item) => string | undefined) {
    this.progress = progress;
    this.skipReason = skipReason;
  }

  /** One more item handled; progress is told with the counts so far. */
  record(item: Item): void {
    if (item.action === 'skipped') this.tally.skip(this.skipReason(item) ?? '');
    else this.tally.add(item.action);
    this.items.push(item);
    this.progress.tick(this.tally.counts);
  }

  summary(dryRun: boolean, interrupted: boolean, selected: number): RunSummary<Item> {
    return { dry_run: dryRun, interrupted, selected, counts: this.tally.counts, skipped: this.tally.skipped, items: this.items };
  }
}
