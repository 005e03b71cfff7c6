// Throughput as the provider sees it: messages arriving at the sandbox, from the first
// arrival to the last, read from the sandbox's own `received_at` clock; and, beside it,
// how many the system under test has finished (recorded and acknowledged), which is what
// a backlog drains by. Call it right after starting the replicas / workers: the window
// and the CPU meter start then.
import { CpuMeter, type CpuReport } from './cpu-usage.ts';
import type { SandboxInspector } from './dispatcher-processes.ts';
import { progress, sleep } from './progress.ts';

export interface Arrivals {
  /** Messages the sandbox received in the window. */
  readonly delivered: number;
  /** (delivered − the first request's messages) ÷ (last − first arrival): msg/s. */
  readonly arrivalsPerSecond: number;
  readonly firstToLastSeconds: number;
  /** From starting the replicas / workers to the first arrival, s. */
  readonly firstArrivalSeconds: number;
  /** Finished (recorded and acked / completed) by the end of the window, and per second of it. */
  readonly finished: number;
  readonly finishedPerSecond: number;
  /** From starting the replicas / workers to the end of the measurement, s. */
  readonly windowSeconds: number;
  /** Arrivals per second over the first and the last third of the window: the trend. */
  readonly firstThirdPerSecond: number;
  readonly lastThirdPerSecond: number;
  /** The window ran out before `target` messages were finished. */
  readonly cutByWindow: boolean;
  readonly cpu: CpuReport;
}

export interface WatchOptions {
  readonly sandbox: SandboxInspector;
  /** Messages expected in all. */
  readonly target: number;
  /** Longest measurement, from starting the replicas / workers, s. */
  readonly windowSeconds: number;
  /** How many the system under test has finished so far (e.g. target − lane depth). */
  readonly finished: () => Promise<number>;
  readonly pids: Readonly<Record<string, number | undefined>>;
  readonly label: string;
}

export async function watchArrivals(options: WatchOptions): Promise<Arrivals> {
  const { sandbox, target } = options;
  // The window counts from when the replicas or workers were started: on a slow journal
  // the first arrival itself can take most of it, and that wait is part of the figure.
  const meter = new CpuMeter(options.pids);
  const startedAt = Date.now();
  const deadline = startedAt + options.windowSeconds * 1000;
  let firstAt: number | undefined;
  let firstBatch = 0;
  let finished = 0;
  let lastReport = startedAt;
  const samples: { at: number; count: number }[] = [];
  for (;;) {
    const page = await sandbox.received();
    finished = await options.finished();
    if (firstAt === undefined && page.count > 0) {
      // Polled often enough that the first request's messages are still on the last-1 000 page.
      firstAt = page.messages[0]?.received_at ?? Date.now();
      firstBatch = page.messages.filter((m) => m.received_at === firstAt).length;
    }
    if (firstAt !== undefined) samples.push({ at: Date.now(), count: page.count });
    if (finished >= target || Date.now() >= deadline) break;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      progress(`${options.label}: ${page.count} arrived, ${finished} finished of ${target}`);
    }
    await sleep(firstAt === undefined ? 10 : 250);
  }
  const cpu = meter.read();
  const seconds = (Date.now() - startedAt) / 1000;
  const last = await sandbox.received();
  const lastAt = last.messages.at(-1)?.received_at ?? firstAt ?? 0;
  const span = firstAt === undefined ? 0 : (lastAt - firstAt) / 1000;
  const origin = samples[0]?.at ?? startedAt;
  const observed = (samples.at(-1)?.at ?? origin) - origin;
  const third = (from: number, to: number): number => {
    const inRange = samples.filter((s) => s.at - origin >= from && s.at - origin <= to);
    const a = inRange[0];
    const b = inRange.at(-1);
    return a === undefined || b === undefined || b.at === a.at
      ? Number.NaN
      : ((b.count - a.count) * 1000) / (b.at - a.at);
  };
  return {
    delivered: last.count,
    firstArrivalSeconds: firstAt === undefined ? Number.NaN : (firstAt - startedAt) / 1000,
    arrivalsPerSecond: span > 0 ? (last.count - firstBatch) / span : Number.NaN,
    firstToLastSeconds: span,
    finished,
    windowSeconds: seconds,
    finishedPerSecond: finished / seconds,
    firstThirdPerSecond: third(0, observed / 3),
    lastThirdPerSecond: third((2 * observed) / 3, observed),
    cutByWindow: finished < target,
    cpu,
  };
}
