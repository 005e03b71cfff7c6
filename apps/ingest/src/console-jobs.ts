import { DependencyUnavailableError, newId } from '@commstrat/core';
import type { Logger } from '@commstrat/observability';
import { RunPacer, type ReplayDlqOptions, type ReplaySummary, type RunProgress } from '@commstrat/redrive';
import type { Redis } from 'ioredis';

/** A console re-drive as every ingest replica answers it: its record in Redis. */
export interface JobRecord {
  readonly id: string;
  readonly kind: 'dead-letter-redrive';
  /** The tenant whose dead letters it re-drives; null: every tenant (an operator's). */
  readonly scope_tenant: string | null;
  /** The key id that started it (never the key). */
  readonly started_by: string;
  readonly filter: Record<string, unknown>;
  readonly state: 'running' | 'finished' | 'stopped' | 'failed';
  /** Entries selected so far (grows as pages are read) and handled so far. */
  readonly selected: number;
  readonly done: number;
  readonly counts: Record<string, number>;
  readonly skipped: Record<string, number>;
  readonly started_at: string;
  /** Renewed at least every `heartbeatMs` while it runs: an old one means its replica stopped. */
  readonly updated_at: string;
  readonly finished_at: string | null;
  readonly error: string | null;
  /** The first items of the summary, once it is done. */
  readonly items: readonly unknown[];
}

export interface RedriveJobsOptions {
  /** Redis key prefix: jobs are `<prefix>console:job:<id>`. */
  readonly prefix: string;
  /** How long a job's record is kept after it was last written, seconds. Default 86 400. */
  readonly keepSeconds?: number;
  /** Longest pause between two writes of a running job's record, ms. Default 1 000. */
  readonly heartbeatMs?: number;
}

type Run = (options: ReplayDlqOptions, progress: RunProgress, pacer: RunPacer) => Promise<ReplaySummary>;

/** Most items a finished job's record keeps (the counts cover all of them). */
const MAX_ITEMS = 200;

/**
 * Runs console re-drives in this process and keeps their progress in Redis, so the
 * page may poll any replica. A replica that stops mid-run leaves a record whose
 * `updated_at` stops moving; the re-drive's markers in the journal make running it again
 * safe (each original goes at most once). A stop asked on any replica reaches the
 * running one through Redis within a heartbeat.
 */
export class RedriveJobs {
  private readonly redis: Redis;
  private readonly run: Run;
  private readonly logger: Logger;
  private readonly prefix: string;
  private readonly keepSeconds: number;
  private readonly heartbeatMs: number;
  private readonly running = new Map<string, { pacer: RunPacer; done: Promise<void> }>();

  constructor(redis: Redis, run: Run, logger: Logger, options: RedriveJobsOptions) {
    this.redis = redis;
    this.run = run;
    this.logger = logger;
    this.prefix = options.prefix;
    this.keepSeconds = options.keepSeconds ?? 86_400;
    this.heartbeatMs = options.heartbeatMs ?? 1000;
  }

  private key(id: string): string {
    return `${this.prefix}console:job:${id}`;
  }

  /** Starts the re-drive and answers its first record; the run goes on after the answer. */
  async start(owner: { readonly scopeTenant: string | null; readonly startedBy: string }, options: ReplayDlqOptions): Promise<JobRecord> {
    const now = new Date().toISOString();
    let record: JobRecord = {
      id: newId(),
      kind: 'dead-letter-redrive',
      scope_tenant: owner.scopeTenant,
      started_by: owner.startedBy,
      filter: {
        provider: options.provider ?? null,
        error_code: options.errorCode ?? null,
        since: options.since ?? null,
        until: options.until ?? null,
        limit: options.limit ?? null,
        rate: options.rate ?? null,
      },
      state: 'running',
      selected: 0,
      done: 0,
      counts: {},
      skipped: {},
      started_at: now,
      updated_at: now,
      finished_at: null,
      error: null,
      items: [],
    };
    await this.write(record);
    const pacer = new RunPacer(options.rate);
    // Writes go one after another, so a late heartbeat never lands over the final record.
    let writes = Promise.resolve();
    const save = () => {
      const snapshot = record;
      writes = writes
        .then(() => this.write(snapshot))
        .catch((error: unknown) => {
          this.logger.warn('could not write console job progress', { job_id: snapshot.id, error: String(error) });
        });
      return writes;
    };
    // One timer writes progress and looks for a stop: a write per item would cost a round trip each.
    const timer = setInterval(() => {
      record = { ...record, updated_at: new Date().toISOString() };
      void save();
      void this.redis.exists(`${this.key(record.id)}:stop`).then(
        (asked) => asked === 1 && pacer.stop(),
        () => {},
      );
    }, this.heartbeatMs);
    const progress: RunProgress = {
      tick: (counts) => {
        record = { ...record, done: record.done + 1, counts: { ...counts } };
      },
      setTotal: (total) => {
        record = { ...record, selected: total };
      },
      stop: () => {},
    };
    const done = this.run(options, progress, pacer)
      .then((summary) => {
        record = {
          ...record,
          state: summary.interrupted ? 'stopped' : 'finished',
          selected: summary.selected,
          counts: summary.counts,
          skipped: summary.skipped,
          items: summary.items.slice(0, MAX_ITEMS),
        };
      })
      .catch((error: unknown) => {
        this.logger.warn('console dead-letter redrive failed', { job_id: record.id, error: String(error) });
        record = { ...record, state: 'failed', error: error instanceof Error ? error.message : String(error) };
      })
      .then(async () => {
        clearInterval(timer);
        const end = new Date().toISOString();
        record = { ...record, updated_at: end, finished_at: end };
        await save();
        this.running.delete(record.id);
      });
    this.running.set(record.id, { pacer, done });
    return record;
  }

  async get(id: string): Promise<JobRecord | null> {
    if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return null;
    const raw = await this.call(() => this.redis.get(this.key(id)));
    return raw === null ? null : (JSON.parse(raw) as JobRecord);
  }

  /** Asks the job to stop between two items, whichever replica runs it. */
  async requestStop(id: string): Promise<void> {
    this.running.get(id)?.pacer.stop();
    await this.call(() => this.redis.set(`${this.key(id)}:stop`, '1', 'EX', this.keepSeconds));
  }

  /** Stops this replica's jobs between two items and waits for their last records. */
  async close(): Promise<void> {
    for (const job of this.running.values()) job.pacer.stop();
    await Promise.all([...this.running.values()].map((job) => job.done));
  }

  private async write(record: JobRecord): Promise<void> {
    await this.call(() => this.redis.set(this.key(record.id), JSON.stringify(record), 'EX', this.keepSeconds));
  }

  private async call<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (cause) {
      throw new DependencyUnavailableError('console jobs (Redis)', cause);
    }
  }
}
