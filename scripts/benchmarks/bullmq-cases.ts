// The BullMQ baseline of `scripts/bench dispatcher`, on the same Redis and the same
// sandbox in the same run: a prioritised queue and 1 or 2 worker processes
// (bullmq-worker.ts) that send each job to the sandbox, one message per request.
// Throughput for the same N as commstrat's, also with each job's outcome recorded in
// its own MongoDB document (baseline (b), `withJournal`); the latency of priority-1 jobs
// added one by one while a backlog of low-priority jobs waits. Keys under
// `bench:<run>:bull`.
import { join } from 'node:path';
import { Journal } from '@commstrat/journal';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { watchArrivals } from './dispatcher-arrivals.ts';
import type { CaseContext, LatencyResult, ThroughputResult } from './dispatcher-cases.ts';
import { summarise } from './dispatcher-cases.ts';
import { startChildService, type ChildService } from './dispatcher-processes.ts';
import { CpuMeter } from './cpu-usage.ts';
import { smsMessage } from './payloads.ts';
import { fillQueuedJournal } from './queued-journal.ts';
import { formatCount, progress, sleep } from './progress.ts';

export interface BullSettings {
  readonly sandboxUrl: string;
  readonly sandboxToken: string;
  readonly concurrency: number;
}

/** Lower number = higher priority in BullMQ; 0 would mean "no priority" (the plain wait list). */
const PRIORITY = { critical: 1, normal: 10, bulk: 1000 } as const;

function bullPrefix(ctx: CaseContext): string {
  return `bench:${ctx.run.id}:bull`;
}

async function withQueue<T>(
  ctx: CaseContext,
  name: string,
  use: (queue: Queue) => Promise<T>,
): Promise<T> {
  const connection = new Redis(ctx.run.stack.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection, prefix: bullPrefix(ctx) });
  try {
    return await use(queue);
  } finally {
    const started = Date.now();
    await queue
      .obliterate({ force: true, count: 5000 })
      .catch((error: unknown) => progress(`bullmq: obliterate ${name} failed: ${String(error)}`));
    await ctx.run.deleteRedisKeys(`${bullPrefix(ctx)}:${name}:`);
    progress(
      `bullmq: queue ${name} obliterated in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    await queue.close();
    await connection.quit();
  }
}

async function startWorkers(
  ctx: CaseContext,
  settings: BullSettings,
  queue: string,
  count: number,
  mongoUrl?: string,
): Promise<ChildService[]> {
  const args = JSON.stringify({
    redisUrl: ctx.run.stack.redisUrl,
    prefix: bullPrefix(ctx),
    queue,
    concurrency: settings.concurrency,
    sandboxUrl: settings.sandboxUrl,
    sandboxToken: settings.sandboxToken,
    ...(mongoUrl === undefined ? {} : { mongoUrl }),
  });
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const worker = await startChildService({
        name: `bullmq-worker-${i + 1}`,
        root: ctx.root,
        script: 'scripts/benchmarks/bullmq-worker.ts',
        args: [args],
        env: ctx.run.stack.env,
        logFile: join(ctx.outputDir, `bullmq-${ctx.run.id}-${queue}-${i + 1}.log`),
      });
      ctx.run.defer(`bullmq worker ${worker.pid}`, () => worker.stop(1000));
      return worker;
    }),
  );
}

function job(n: number, priority: number, jobId?: string) {
  const { recipient, content } = smsMessage(n);
  return {
    name: 'sms',
    data: { to: recipient.phone, text: content.text },
    opts: { priority, ...(jobId === undefined ? {} : { jobId }) },
  };
}

async function addBulk(
  queue: Queue,
  count: number,
  priority: number,
  maxSeconds: number,
): Promise<{ added: number; seconds: number }> {
  const started = Date.now();
  let added = 0;
  while (added < count && Date.now() - started < maxSeconds * 1000) {
    const size = Math.min(5000, count - added);
    await queue.addBulk(Array.from({ length: size }, (_, i) => job(added + i, priority)));
    added += size;
  }
  return { added, seconds: (Date.now() - started) / 1000 };
}

/**
 * N jobs, then 1 or 2 worker processes. `withJournal`: first N queued messages journaled
 * in a MongoDB database of the case (the journal's documents and indexes), each job
 * naming its document, which the worker updates once the provider answered.
 */
export async function bullThroughput(
  ctx: CaseContext,
  settings: BullSettings,
  messages: number,
  workers: number,
  windowSeconds: number,
  withJournal = false,
): Promise<ThroughputResult> {
  const name = `n${messages}w${workers}${withJournal ? 'm' : ''}`;
  const mongo = withJournal ? ctx.run.mongoDatabase(`bull_${name}`) : undefined;
  try {
    return await withQueue(ctx, name, async (queue) => {
      const started = Date.now();
      let jobs = Array.from({ length: messages }, (_, i) => job(i, PRIORITY.normal));
      if (mongo !== undefined) {
        const client = new MongoClient(mongo.url, { ignoreUndefined: true });
        try {
          await client.connect();
          const journal = new Journal(client.db());
          await journal.ensureIndexes();
          const filled = await fillQueuedJournal(journal, messages, { tenantId: ctx.run.tenant.id, label: `bullmq ${name}` });
          jobs = filled.ids.map((id, i) => ({
            name: 'sms',
            data: { id, ...(filled.sms[i] ?? { to: '', text: '' }) },
            opts: { priority: PRIORITY.normal },
          }));
        } finally {
          await client.close();
        }
      }
      for (let i = 0; i < jobs.length; i += 5000) await queue.addBulk(jobs.slice(i, i + 5000));
      const fillSeconds = (Date.now() - started) / 1000;
      progress(
        `bullmq ${name}: ${formatCount(messages)} jobs added${mongo === undefined ? '' : ' (and journaled)'} in ${fillSeconds.toFixed(1)} s; starting ${workers} worker process(es)`,
      );
      await ctx.sandbox.clear();
      const running = await startWorkers(ctx, settings, name, workers, mongo?.url);
      const pids = Object.fromEntries(running.map((w, i) => [`worker${i + 1}`, w.pid]));
      const arrivals = await watchArrivals({
        sandbox: ctx.sandbox,
        target: messages,
        windowSeconds,
        finished: async () =>
          messages - (await queue.getJobCountByTypes('prioritized', 'wait', 'active', 'delayed')),
        pids: { ...pids, sandbox: ctx.sandboxPid, ...ctx.stackPids },
        label: `bullmq ${name}`,
      });
      await Promise.all(running.map((w) => w.stop(5000)));
      return {
        system: mongo === undefined ? 'bullmq' : 'bullmq+mongodb',
        messages,
        replicas: workers,
        fill: {
          seconds: fillSeconds,
          perSecond: messages / fillSeconds,
          how: `${mongo === undefined ? '' : 'Journal.recordAccepted × 1 000, then '}Queue.addBulk × 5 000, priority ${PRIORITY.normal}`,
        },
        perReplica: [],
        ...arrivals,
      };
    });
  } finally {
    if (mongo !== undefined) await ctx.run.dropMongo(mongo.url).catch(() => undefined);
  }
}

export async function bullCriticalLatency(
  ctx: CaseContext,
  settings: BullSettings,
  backlog: number,
  maxFillSeconds: number,
  critical: number,
  paceMs: number,
): Promise<LatencyResult> {
  return withQueue(ctx, 'critical', async (queue) => {
    const fill = await addBulk(queue, backlog, PRIORITY.bulk, maxFillSeconds);
    progress(
      `bullmq critical: ${formatCount(fill.added)} low-priority jobs added in ${fill.seconds.toFixed(1)} s`,
    );
    await ctx.sandbox.clear();
    const [worker] = await startWorkers(ctx, settings, 'critical', 1);
    if (worker === undefined) throw new Error('no worker');
    await sleep(2000);
    const meter = new CpuMeter({ worker: worker.pid, sandbox: ctx.sandboxPid, ...ctx.stackPids });
    const backlogAtStart = await queue.getPrioritizedCount();
    const sent: { id: string; sentAt: number }[] = [];
    const adds: Promise<unknown>[] = [];
    for (let i = 0; i < critical; i++) {
      const sentAt = Date.now();
      const { name, data, opts } = job(5_000_000 + i, PRIORITY.critical, `crit-${i}`);
      adds.push(queue.add(name, data, opts));
      sent.push({ id: `crit-${i}`, sentAt });
      await sleep(Math.max(0, sentAt + paceMs - Date.now()));
    }
    await Promise.all(adds);
    const backlogAtEnd = await queue.getPrioritizedCount();
    const arrivedAt = new Map<string, number>();
    const deadline = Date.now() + 60_000;
    while (arrivedAt.size < sent.length && Date.now() < deadline) {
      for (const { id } of sent) {
        if (arrivedAt.has(id)) continue;
        const at = (await ctx.sandbox.received(id)).messages[0]?.received_at;
        if (at !== undefined) arrivedAt.set(id, at);
      }
      if (arrivedAt.size < sent.length) await sleep(250);
    }
    const cpu = meter.read();
    await worker.stop(5000);
    const arrived = sent.filter(({ id }) => arrivedAt.has(id));
    return {
      system: 'bullmq',
      backlog: fill.added,
      backlogFill: {
        seconds: fill.seconds,
        perSecond: fill.added / fill.seconds,
        how: `Queue.addBulk × 5 000, priority ${PRIORITY.bulk}, stopped at ${backlog} or ${maxFillSeconds} s`,
      },
      sent: critical,
      arrived: arrived.length,
      paceMs,
      latencyMs: summarise(arrived.map(({ id, sentAt }) => (arrivedAt.get(id) ?? 0) - sentAt)),
      backlogDuring: [backlogAtStart, backlogAtEnd],
      cpu,
    };
  });
}
