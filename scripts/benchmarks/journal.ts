// `scripts/bench journal`: the journal's reads with N messages journaled. Fills a MongoDB
// database of the run through Journal.recordAccepted (fill rate), starts a real ingest on
// it and measures `GET /v1/messages/{id}` and the paged listings over HTTP, against the
// same queries through the driver alone, with each query's explain; then Redis bytes per
// queued message, and the RSS of ingest, MongoDB and Redis around the read load. Prints a
// table on stdout and writes every figure to .stack/bench/journal-<run>.json.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { firstIdAt } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import { MongoClient, type Document } from 'mongodb';
import { BenchRun } from './bench-run.ts';
import { CpuMeter, formatCpu } from './cpu-usage.ts';
import { startIngestProcess } from './ingest-process.ts';
import { BENCH_TENANT, CAMPAIGNS, fillJournal, JOURNAL_DAYS } from './journal-fill.ts';
import { explainRead, measureRead, type ExplainSummary, type Latency, type ReadCase, type ReadResult } from './journal-reads.ts';
import { formatCount, positiveIntegers, progress, runBenchmark, sleep } from './progress.ts';
import { measureRedisBytes, type RedisBytesResult } from './redis-bytes.ts';
import { writeJson } from './report.ts';
import { servicePid, stackEnvFrom } from './stack.ts';

const USAGE = `usage: scripts/bench journal [options]
  --messages N        messages journaled before the reads (default 1000000)
  --in-flight N       requests of 1 000 messages written at once while filling (default 4)
  --reads N           GET /v1/messages/{id} calls per mode: sequential, concurrent, driver (default 2000)
  --pages N           listing calls per listing and mode (default 500)
  --clients N         concurrent clients of the concurrent mode (default 4)
  --budget S          most seconds per read and mode; a read the server answers slowly
                      stops early, and its row says how many calls it made (default 30)
  --queue-messages N  messages enqueued for the Redis bytes per message, lanes and delayed each (default 100000)
  --redis-only        only the Redis bytes per queued message: lanes, the delayed set, and the
                      0.1 delayed layout (zset of ids + payload hash) in the same run; then
                      templated messages in the lanes against the same texts pre-rendered`;

const MESSAGES_PER_REQUEST = 1000;

/** Thrown when the command line is wrong: its message and the usage are all the user needs. */
function readCases(reads: number, pages: number, from: Date): ReadCase[] {
  const day = (n: number) => new Date(from.getTime() + n * 86_400_000);
  const campaign = `campaign-${String(Math.floor(CAMPAIGNS / 3)).padStart(2, '0')}`;
  const list = (name: string, what: string, query: ReadCase['read'] & { kind: 'list' }): ReadCase => ({
    name,
    index: query.query.status !== undefined ? 'tenant_status_id' : query.query.tag !== undefined ? 'tenant_tag_id_tagged' : 'tenant_id',
    what,
    targetMs: 50,
    calls: pages,
    read: query,
  });
  return [
    { name: 'get-by-id', index: '_id_', what: 'GET /v1/messages/{id}, random ids of the tenant', targetMs: 5, calls: reads, read: { kind: 'get' } },
    list('sent-first-page', '?status=sent&limit=100, first page', { kind: 'list', query: { status: 'sent' }, deep: false }),
    list('sent-deep-pages', `?status=sent&limit=100&after=…, chains of 10 pages via next_after from random ids`, {
      kind: 'list',
      query: { status: 'sent' },
      deep: true,
    }),
    list('failed-first-page', '?status=failed&limit=100, first page', { kind: 'list', query: { status: 'failed' }, deep: false }),
    list('tag-first-page', `?tag=${campaign}&limit=100, first page (1 message in ${String(CAMPAIGNS)})`, {
      kind: 'list',
      query: { tag: campaign },
      deep: false,
    }),
    list('time-range', `?from=…&to=…&limit=100, one day ${String(JOURNAL_DAYS - 10)} days back`, {
      kind: 'list',
      query: { from: day(10), to: day(11) },
      deep: false,
    }),
  ];
}

/** Resident memory of a process from /proc, MiB; undefined when it is not running. */
function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) / 1024;
  } catch {
    return undefined;
  }
}

function rssOf(pids: Readonly<Record<string, number | undefined>>): Record<string, number | undefined> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, rssMiB(pid)]));
}

/** Size of the messages collection as the server reports it, if it answers collStats. */
async function collectionStats(db: ReturnType<MongoClient['db']>, name: string): Promise<Document | undefined> {
  try {
    const stats = await db.command({ collStats: name });
    const pick = ['count', 'size', 'avgObjSize', 'storageSize', 'totalIndexSize', 'indexSizes'];
    return Object.fromEntries(pick.filter((k) => k in stats).map((k) => [k, stats[k] as unknown]));
  } catch (error) {
    return { unavailable: error instanceof Error ? error.message : String(error) };
  }
}

/** Columns padded to their widest cell; the first column left-aligned, the rest right. */
function formatColumns(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const ms = (value: number) => (value < 10 ? value.toFixed(1) : formatCount(value));
/** p50 / p99 / max; `[n]` when the time budget cut the mode short at n calls. */
const triple = (l: Latency) => `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}${l.budgetHit ? ` [${String(l.calls)}]` : ''}`;

function readRows(results: readonly ReadResult[]): string[][] {
  return results.map((r) => [
    r.name,
    formatCount(r.meanPageSize, r.meanPageSize < 10 ? 1 : 0),
    triple(r.api.sequential),
    triple(r.api.concurrent),
    formatCount(r.api.concurrent.calls / r.api.concurrent.seconds),
    triple(r.driver.sequential),
    triple(r.driver.concurrent),
    `≤ ${String(r.targetMs)}`,
    Math.max(r.api.sequential.p99, r.api.concurrent.p99) <= r.targetMs ? 'yes' : 'no',
  ]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '1000000' },
      'in-flight': { type: 'string', default: '4' },
      reads: { type: 'string', default: '2000' },
      pages: { type: 'string', default: '500' },
      clients: { type: 'string', default: '4' },
      budget: { type: 'string', default: '30' },
      'queue-messages': { type: 'string', default: '100000' },
      'redis-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const count = positiveIntegers(values, USAGE);
  const settings = {
    messages: count('messages'),
    inFlight: count('in-flight'),
    reads: count('reads'),
    pages: count('pages'),
    clients: count('clients'),
    budgetSeconds: count('budget'),
    queueMessages: count('queue-messages'),
    redisOnly: values['redis-only'] === true,
  };

  const root = join(import.meta.dirname, '..', '..');
  const stack = stackEnvFrom(process.env);
  const outputDir = join(stack.stackDir, 'bench');
  const startedAt = new Date();
  const run = await BenchRun.open(stack, startedAt);
  progress(
    settings.redisOnly
      ? `run ${run.id}: Redis bytes per queued message only`
      : `run ${run.id}: ${formatCount(settings.messages)} messages journaled, then the reads`,
  );
  run.closeOnSignal();

  /** The run's JSON beside its printed figures: what was run, when, and `results`. */
  const writeResults = (results: Record<string, unknown>): void => {
    const file = join(outputDir, `journal-${run.id}.json`);
    writeJson(file, {
      benchmark: 'journal',
      run: run.id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `scripts/bench journal ${process.argv.slice(2).join(' ')}`.trim(),
      ...results,
    });
    progress(`results written to ${file}`);
  };

  try {
    if (settings.redisOnly) {
      const redis = await redisBytes(run, settings.queueMessages);
      process.stdout.write(`${redisLines(redis).join('\n')}\n`);
      writeResults({ settings, redis });
      return;
    }
    const stackPids = { mongodb: servicePid(stack, 'mongodb'), redis: servicePid(stack, 'redis') };
    const idle = new CpuMeter(stackPids);
    await sleep(2000);
    const backgroundLoad = idle.read();
    if (backgroundLoad.machineBusy > 0.3) progress(`warning: the machine is not idle before measuring (${formatCpu(backgroundLoad)})`);

    const database = run.mongoDatabase('journal');
    const client = new MongoClient(database.url, { maxPoolSize: settings.clients + settings.inFlight + 2 });
    await client.connect();
    run.defer('MongoDB client', () => client.close());
    const journal = new Journal(client.db());
    // As in production, the indexes are there while the journal fills.
    await journal.ensureIndexes();
    const fill = await fillJournal(journal, {
      messages: settings.messages,
      messagesPerRequest: MESSAGES_PER_REQUEST,
      requestsInFlight: settings.inFlight,
      pids: stackPids,
    });
    progress(`fill: ${formatCount(fill.result.messagesPerSecond)} msg/s over ${fill.result.seconds.toFixed(1)} s; ${formatCpu(fill.result.cpu)}`);
    const stats = await collectionStats(client.db(), 'messages');

    const ingest = await startIngestProcess({
      root,
      logFile: join(outputDir, `ingest-${run.id}-journal.log`),
      env: {
        ...run.stack.env,
        COMMSTRAT_REDIS_PREFIX: run.redisPrefix('journal-ingest'),
        COMMSTRAT_MONGO_URL: database.url,
        COMMSTRAT_POSTGRES_URL: run.postgresUrl,
        COMMSTRAT_LOG_LEVEL: 'warn',
        INGEST_KAFKA_ENABLED: 'false',
      },
    });
    run.defer('ingest', () => ingest.stop());
    const processes = { ingest: ingest.pid, ...stackPids };
    const cases = readCases(settings.reads, settings.pages, new Date(fill.result.from));
    const ctx = {
      url: ingest.url,
      apiKey: run.tenant.apiKey,
      tenantId: BENCH_TENANT,
      messages: client.db().collection('messages'),
      ids: fill.ids.benchIds,
      clients: settings.clients,
      budgetSeconds: settings.budgetSeconds,
    };
    const plans: ExplainSummary[] = [];
    for (const readCase of cases) plans.push(await explainRead(readCase, ctx, firstIdAt, 'queryPlanner', 60_000));
    const rssStart = rssOf(processes);
    const meter = new CpuMeter(processes);
    const reads: ReadResult[] = [];
    for (const readCase of cases) reads.push(await measureRead(readCase, ctx, firstIdAt));
    const readCpu = meter.read();
    const rssEnd = rssOf(processes);
    await ingest.stop();
    const executions: ExplainSummary[] = [];
    for (const readCase of cases) {
      executions.push(await explainRead(readCase, ctx, firstIdAt, 'executionStats', settings.budgetSeconds * 1000));
    }

    const redis = await redisBytes(run, settings.queueMessages);

    const c = String(settings.clients);
    const lines = [
      `fill: ${formatCount(fill.result.messages)} messages in ${formatCount(fill.result.requests)} requests of ${formatCount(MESSAGES_PER_REQUEST)}, ` +
        `${String(settings.inFlight)} in flight: ${formatCount(fill.result.messagesPerSecond)} msg/s (${fill.result.seconds.toFixed(1)} s); ${formatCpu(fill.result.cpu)}`,
      `  by tenant ${JSON.stringify(fill.result.byTenant)}, by status ${JSON.stringify(fill.result.byStatus)}`,
      `  messages collection: ${JSON.stringify(stats)}`,
      '',
      formatColumns(
        ['read (ms: p50 / p99 / max)', 'per answer', 'API 1 client', `API ${c} clients`, `API ${c}c calls/s`, 'driver 1 client', `driver ${c} clients`, 'target p99', 'met'],
        readRows(reads),
      ),
      '',
      ...reads.map((r) => `${r.name}: ${r.what}; ${formatCount(r.calls)} calls per mode asked`),
      `[n]: the mode's time budget (${String(settings.budgetSeconds)} s) ran out after n calls`,
      `cpu during the reads: ${formatCpu(readCpu)}`,
      '',
      'explain of each query as the driver sends it, hinted to its index (plan; then executionStats, asked after the reads):',
      ...plans.map((e, i) => {
        const run = executions[i];
        const stats =
          run === undefined || run.raw['failed'] !== undefined
            ? `executionStats: ${String(run?.raw['failed'] ?? 'not asked')}`
            : `keys ${String(run.keysExamined ?? '?')}, docs ${String(run.docsExamined ?? '?')}, returned ${String(run.returned ?? '?')}, explain took ${formatCount(run.ms)} ms`;
        return `  ${e.name}: ${e.stages.join(' <- ') || '(no plan stages in the answer)'}${e.indexScan ? '' : '  ** NO INDEX SCAN **'}; ${stats}`;
      }),
      '',
      ...redisLines(redis),
      '',
      formatColumns(
        ['RSS MiB', 'start of reads', 'end of reads'],
        Object.keys(processes).map((name) => [name, formatCount(rssStart[name] ?? Number.NaN), formatCount(rssEnd[name] ?? Number.NaN)]),
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);

    writeResults({
      settings,
      backgroundLoad,
      fill: fill.result,
      messagesCollection: stats,
      explains: { queryPlanner: plans, executionStats: executions },
      reads,
      readCpu,
      rss: { unit: 'MiB', start: rssStart, end: rssEnd },
      redis,
    });
  } finally {
    if (!run.interrupted) await run.close();
  }
}

/** Redis bytes per queued message: the lanes, the delayed set, and the 0.1 delayed layout to compare; templated messages against pre-rendered ones. */
async function redisBytes(run: BenchRun, messages: number): Promise<RedisBytesResult[]> {
  return [
    await measureRedisBytes(run, 'lanes', messages, MESSAGES_PER_REQUEST),
    await measureRedisBytes(run, 'delayed', messages, MESSAGES_PER_REQUEST),
    await measureRedisBytes(run, 'delayed-0.1', messages, MESSAGES_PER_REQUEST),
    await measureRedisBytes(run, 'lanes-pre-rendered', messages, MESSAGES_PER_REQUEST),
    await measureRedisBytes(run, 'lanes-templated', messages, MESSAGES_PER_REQUEST),
  ];
}

const REDIS_CASES: Readonly<Record<RedisBytesResult['case'], { what: string; target: string }>> = {
  lanes: { what: 'lane streams', target: '≤ 400' },
  delayed: { what: 'delayed set (entries by due time)', target: '≤ 300' },
  'delayed-0.1': { what: 'delayed set of 0.1 (zset of ids + payload hash)', target: 'baseline' },
  'lanes-pre-rendered': { what: 'lanes, SMS + e-mail texts by the producer', target: 'baseline' },
  'lanes-templated': { what: 'lanes, the same rendered from a template', target: '≤ 1.5 × baseline' },
};

function redisLines(redis: readonly RedisBytesResult[]): string[] {
  return [
    formatColumns(
      ['Redis bytes per queued message', 'messages', 'MEMORY USAGE / N', 'used_memory Δ / N', 'payload', 'guard keys / N', 'target'],
      redis.map((r) => [
        REDIS_CASES[r.case].what,
        formatCount(r.messages),
        formatCount(r.keyBytesPerMessage),
        formatCount(r.usedMemoryPerMessage),
        formatCount(r.payloadBytes),
        formatCount(r.guardBytesPerMessage, 1),
        REDIS_CASES[r.case].target,
      ]),
    ),
    ...redis.flatMap((r) => r.keys.map((k) => `  ${k.key} (${k.type}, ${formatCount(k.entries)}): ${formatCount(k.bytes)} B`)),
    `  stream-node-max-bytes ${String(redis[0]?.streamNodeMaxBytes)}, stream-node-max-entries ${String(redis[0]?.streamNodeMaxEntries)}`,
    ...templatedRatio(redis),
  ];
}

/** A templated message's lane bytes against the same texts pre-rendered, as a ratio of the same run. */
function templatedRatio(redis: readonly RedisBytesResult[]): string[] {
  const templated = redis.find((r) => r.case === 'lanes-templated');
  const baseline = redis.find((r) => r.case === 'lanes-pre-rendered');
  if (templated === undefined || baseline === undefined) return [];
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  return [
    `  templated / pre-rendered: ${ratio(templated.keyBytesPerMessage, baseline.keyBytesPerMessage)} × in MEMORY USAGE, ` +
      `${ratio(templated.payloadBytes, baseline.payloadBytes)} × in payload (target ≤ 1.5)`,
  ];
}

runBenchmark(main);
