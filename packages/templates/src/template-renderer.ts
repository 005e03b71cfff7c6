import { Worker } from 'node:worker_threads';
import { DependencyUnavailableError } from '@commstrat/core';
import { DEFAULT_RENDER_LIMITS, type RenderLimits } from './limits.ts';
import type { RenderOutcome, VariantSource, WorkerItem, WorkerJob, WorkerMessage, WorkerReply } from './render-protocol.ts';

export interface TemplateRendererOptions {
  /** What one message's templates may cost, checked by LiquidJS. Default DEFAULT_RENDER_LIMITS. */
  readonly limits?: RenderLimits;
  /**
   * How long one job may run before the worker is stopped and started afresh, ms: the
   * hard limit behind LiquidJS's cooperative one, for Liquid that escapes it. Default 1 000.
   */
  readonly hardTimeoutMs?: number;
  /** Old-generation heap of the worker, MB: a render that allocates past it kills the worker only. Default 128. */
  readonly heapMb?: number;
  /** How long a new worker may take to load LiquidJS and say it is ready, ms. Default 10 000. */
  readonly startTimeoutMs?: number;
  /** Told each time the worker is replaced, with why (for a log line and a counter). */
  readonly onRestart?: (reason: 'timeout' | 'crashed') => void;
}

/** One variant to render: its worker key, its source (sent only when the worker lacks it), its variables. */
export interface RenderItem {
  readonly key: string;
  readonly source: () => VariantSource;
  /** Absent: compile only (a save's check). */
  readonly variables?: unknown;
}

interface Job {
  readonly items: readonly RenderItem[];
  readonly resolve: (outcomes: RenderOutcome[]) => void;
  readonly reject: (error: unknown) => void;
  /** Sent once with sources for the keys the worker lacked: after a `missing` reply. */
  withSources: boolean;
}

interface Running {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Keys whose source this worker was sent. It may have dropped some since: it says `missing`. */
  readonly known: Set<string>;
}

/**
 * Renders templates in a worker thread, one job (one message's variants) at a time.
 * Every outcome is a value, never a throw: a failed render, a job past `hardTimeoutMs`
 * (the worker is terminated and replaced) or a dead worker (its heap cap, `heapMb`)
 * answers each item of the job with why, and the next job gets a new worker. So no
 * template, however written, can hold the process's event loop or heap.
 */
export class TemplateRenderer {
  private readonly limits: RenderLimits;
  private readonly hardTimeoutMs: number;
  private readonly heapMb: number;
  private readonly startTimeoutMs: number;
  private readonly onRestart: (reason: 'timeout' | 'crashed') => void;
  private readonly queue: Job[] = [];
  private running: Running | undefined;
  private busy = false;
  private nextId = 1;
  private closed = false;

  constructor(options: TemplateRendererOptions = {}) {
    this.limits = options.limits ?? DEFAULT_RENDER_LIMITS;
    this.hardTimeoutMs = options.hardTimeoutMs ?? 1000;
    this.heapMb = options.heapMb ?? 128;
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.onRestart = options.onRestart ?? (() => {});
  }

  /** The limits LiquidJS checks, as configured. */
  get renderLimits(): RenderLimits {
    return this.limits;
  }

  /**
   * Renders the items as one job (their render time shared); one outcome per item, in
   * order. An outcome that failed is the template's doing (its limits, its output, its
   * heap). When the renderer cannot run a template at all (closed, its worker does not
   * start) no template is at fault and a retry may pass: the promise rejects with
   * DependencyUnavailableError.
   */
  render(items: readonly RenderItem[]): Promise<RenderOutcome[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (this.closed) return Promise.reject(notRunning('the template renderer is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject, withSources: false });
      void this.pump();
    });
  }

  /** Stops the worker; jobs still queued are refused as DependencyUnavailableError. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(notRunning('the template renderer is closed'));
    await this.running?.worker.terminate();
    this.running = undefined;
  }

  private async pump(): Promise<void> {
    if (this.busy || this.closed) return;
    const job = this.queue.shift();
    if (job === undefined) return;
    this.busy = true;
    try {
      job.resolve(await this.run(job));
    } catch (error) {
      job.reject(error);
    } finally {
      this.busy = false;
      void this.pump();
    }
  }

  private async run(job: Job): Promise<RenderOutcome[]> {
    let running: Running;
    try {
      running = this.worker();
      await withTimeout(running.ready, this.startTimeoutMs);
    } catch (error) {
      this.replace('crashed');
      throw notRunning(`the render worker did not start: ${String(error)}`);
    }
    const items: WorkerItem[] = job.items.map((item) => {
      const send = job.withSources || !running.known.has(item.key);
      if (send) running.known.add(item.key);
      return { key: item.key, ...(send ? { source: item.source() } : {}), ...(item.variables === undefined ? {} : { variables: item.variables }) };
    });
    const replies = await this.exchange(running, { id: this.nextId++, limits: this.limits, items });
    if ('failure' in replies) return job.items.map(() => replies.failure);
    if (replies.some((reply) => 'missing' in reply) && !job.withSources) {
      job.withSources = true;
      return this.run(job);
    }
    return replies.map((reply) => {
      if ('missing' in reply) throw notRunning('the render worker lost a compiled template it was just sent');
      return reply;
    });
  }

  /** Posts one job and waits for its result, its hard limit, or the worker's death. */
  private exchange(running: Running, job: WorkerJob): Promise<readonly WorkerReply[] | { failure: RenderOutcome }> {
    const { worker } = running;
    return new Promise((resolve) => {
      const settle = (result: readonly WorkerReply[] | { failure: RenderOutcome }) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(result);
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === 'result' && message.id === job.id) settle(message.replies);
      };
      const onError = (error: Error & { code?: string }) => {
        this.replace('crashed');
        settle({ failure: failed('crashed', error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `used more than the ${this.heapMb} MB heap the render worker has` : `stopped the render worker: ${error.message}`) });
      };
      const onExit = () => {
        this.replace('crashed');
        settle({ failure: failed('crashed', 'the render worker exited') });
      };
      const timer = setTimeout(() => {
        this.replace('timeout');
        settle({ failure: failed('timeout', `did not finish rendering within ${this.hardTimeoutMs} ms; the render worker was restarted`) });
      }, this.hardTimeoutMs);
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.postMessage(job);
    });
  }

  private worker(): Running {
    if (this.running !== undefined) return this.running;
    const worker = new Worker(new URL('./render-worker.ts', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    // The process may end while the worker idles; close() is the orderly way.
    worker.unref();
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (message: WorkerMessage) => {
        if (message.type !== 'ready') return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    // A start that fails is reported by run; this keeps it from also being unhandled.
    ready.catch(() => {});
    // A worker that dies between jobs is not handed the next one.
    worker.once('exit', () => {
      if (this.running?.worker === worker) this.running = undefined;
    });
    this.running = { worker, ready, known: new Set() };
    return this.running;
  }

  /** Drops the current worker (terminating it if it still runs); the next job starts another. */
  private replace(reason: 'timeout' | 'crashed'): void {
    const current = this.running;
    if (current === undefined) return;
    this.running = undefined;
    current.worker.removeAllListeners('exit');
    void current.worker.terminate();
    if (!this.closed) this.onRestart(reason);
  }
}

function notRunning(why: string): DependencyUnavailableError {
  return new DependencyUnavailableError('template renderer', new Error(why));
}

function failed(kind: 'timeout' | 'crashed', message: string): RenderOutcome {
  return { ok: false, kind, message };
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
