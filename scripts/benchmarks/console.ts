// `scripts/bench console`: the operator console's JSON API with N messages journaled.
// Fills a MongoDB database of the run as `scripts/bench journal` does (journal-fill.ts),
// adds what the other pages read (provider exchanges, strategy versions, dead letters),
// starts a real ingest on it, logs in to /console/api as the tenant's admin key and
// measures each page's API answer, from one client and from a few, against the same
// reads made through the stores' own clients alone (the baseline), in the same run.
// Prints a table and writes every figure to .stack/bench/console-<run>.json.
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureTenantWithKey, findStrategy, generateApiKey, listStrategies, listStrategyVersions, listTenantProviders, saveStrategy } from '@commstrat/config';
import { firstIdAt, jsonDiff, newId, type QueuedMessage } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import { DeadLetterStream, LaneReader, LaneStatistics, QueueInspector, ReplicaHeartbeats } from '@commstrat/queue';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import postgres from 'postgres';
import { BenchRun } from './bench-run.ts';
import { CpuMeter, formatCpu } from './cpu-usage.ts';
import { summarise } from './dispatcher-cases.ts';
import { startIngestProcess } from './ingest-process.ts';
import { BENCH_TENANT, CAMPAIGNS, fillJournal, JOURNAL_DAYS } from './journal-fill.ts';
import { listFilter } from './journal-reads.ts';
import { formatCount, positiveIntegers, progress, runBenchmark } from './progress.ts';
import { writeJson } from './report.ts';
import { servicePid, stackEnvFrom } from './stack.ts';

const USAGE = `usage: scripts/bench console [options]
  --messages N        messages journaled before the reads (default 1000000)
  --in-flight N       requests of 1 000 messages written at once while filling (default 4)
  --calls N           calls per page and mode: API 1 client, API N clients, baseline 1, baseline N (default 300)
  --clients N         concurrent clients of the concurrent modes (default 4)
  --budget S          most seconds per page and mode; a page answered slowly stops early, its row says how many calls it made (default 20)
  --dead-letters N    dead-letter entries in the stream, a fifth of them the tenant's (default 10000)`;

const TARGET_MS = 200;
/** Calls of a broad listing (see Case.broad). */
const BROAD_CALLS = 10;
const PAGE = 50;

interface Latency {
  readonly calls: number;
  /** Calls that failed (an error answer, a timeout): counted here, not in the percentiles. */
  readonly errors: number;
  readonly firstError?: string;
  readonly budgetHit: boolean;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** One page's API answer and the reads behind it done without ingest. */
interface Case {
  readonly name: string;
  readonly what: string;
  /** The console API path of one call (a new random pick each time). */
  readonly path: () => string;
  /** The same reads through the stores' clients alone. */
  readonly baseline: () => Promise<unknown>;
  /**
   * A listing whose filter matches most of the tenant: SecantusDB reads the whole index
   * prefix per page (seconds at 1 000 000), so it is measured from one client, a few
   * calls: from four at once it only queues the shared server for minutes.
   */
  readonly broad?: boolean;
}

interface CaseResult {
  readonly name: string;
  readonly what: string;
  readonly api: { readonly sequential: Latency; readonly concurrent: Latency | null };
  readonly baseline: { readonly sequential: Latency; readonly concurrent: Latency | null };
}

function pick<T>(values: readonly T[]): T {
  const value = values[Math.floor(Math.random() * values.length)];
  if (value === undefined) throw new Error('nothing to pick from');
  return value;
}

function httpCall(agent: Agent, base: URL, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ ms: number; status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: base.hostname, port: base.port, path, method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `calls` calls shared by `clients` closed-loop clients, or fewer when the budget runs out first. */
async function drive(calls: number, clients: number, budgetSeconds: number, call: () => Promise<number>): Promise<Latency> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let started = 0;
  const began = performance.now();
  const deadline = began + budgetSeconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (started < calls && performance.now() < deadline) {
        started += 1;
        try {
          latencies.push(await call());
        } catch (error) {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    }),
  );
  return {
    calls: latencies.length,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    budgetHit: latencies.length + errors < calls,
    seconds: (performance.now() - began) / 1000,
    ...summarise(latencies),
  };
}

const ms = (value: number) => (value < 10 ? value.toFixed(1) : formatCount(value));
const triple = (l: Latency | null) =>
  l === null
    ? '(one client only)'
    : `${ms(l.p50)} / ${ms(l.p99)} / ${ms(l.max)}${l.budgetHit ? ` [${String(l.calls)}]` : ''}${l.errors > 0 ? ` (${String(l.errors)} failed)` : ''}`;

function formatColumns(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '1000000' },
      'in-flight': { type: 'string', default: '4' },
      calls: { type: 'string', default: '300' },
      clients: { type: 'string', default: '4' },
      budget: { type: 'string', default: '20' },
      'dead-letters': { type: 'string', default: '10000' },
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
    calls: count('calls'),
    clients: count('clients'),
    budgetSeconds: count('budget'),
    deadLetters: count('dead-letters'),
  };

  const root = join(import.meta.dirname, '..', '..');
  const stack = stackEnvFrom(process.env);
  const outputDir = join(stack.stackDir, 'bench');
  const startedAt = new Date();
  const run = await BenchRun.open(stack, startedAt);
  progress(`run ${run.id}: ${formatCount(settings.messages)} messages journaled, then the console's pages`);
  run.closeOnSignal();

  try {
    const stackPids = { mongodb: servicePid(stack, 'mongodb'), redis: servicePid(stack, 'redis') };
    const database = run.mongoDatabase('console');
    const client = new MongoClient(database.url, { maxPoolSize: settings.inFlight + 2 });
    await client.connect();
    run.defer('MongoDB client', () => client.close());
    // The baseline's reads give up as ingest's do (COMMSTRAT_MONGO_SOCKET_TIMEOUT_MS, 30 s), not after minutes.
    const readClient = new MongoClient(database.url, { maxPoolSize: settings.clients + 2, socketTimeoutMS: 30_000 });
    await readClient.connect();
    run.defer('MongoDB client of the baseline', () => readClient.close());
    const db = client.db();
    const journal = new Journal(db);
    await journal.ensureIndexes();
    const fill = await fillJournal(journal, { messages: settings.messages, messagesPerRequest: 1000, requestsInFlight: settings.inFlight, pids: stackPids });
    progress(`fill: ${formatCount(fill.result.messagesPerSecond)} msg/s over ${fill.result.seconds.toFixed(1)} s; ${formatCpu(fill.result.cpu)}`);
    const ids = fill.ids.benchIds;

    // What the message page reads besides the message: one exchange per sampled message.
    const exchanges = db.collection('provider_exchanges');
    for (let i = 0; i < ids.length; i += 1000) {
      await exchanges.insertMany(
        ids.slice(i, i + 1000).map((id) => ({
          _id: newId() as never,
          provider: `${BENCH_TENANT}/sandbox-sms`,
          message_ids: [id],
          request: JSON.stringify({ messages: [{ client_ref: id, to: '+79161234567', text: 'Your code is 1234' }] }),
          response: JSON.stringify({ results: [{ client_ref: id, status: 'accepted', message_id: `sbx_${id}` }] }),
          http_status: 200,
          outcome: 'accepted',
          started_at: new Date(),
          duration_ms: 12,
        })),
      );
    }
    // The journal stores a message's batch id as `request_id` (journal.ts maps it to batch_id).
    const batches = (await db.collection('messages').find({ _id: { $in: ids.slice(0, 200) as never[] } }, { projection: { request_id: 1 } }).toArray()).map((d) => String(d['request_id']));

    // Keys and versions in the run's PostgreSQL database.
    const sql = postgres(run.postgresUrl, { max: settings.clients + 2, onnotice: () => {} });
    run.defer('PostgreSQL client', () => sql.end({ timeout: 5 }));
    const adminKey = generateApiKey();
    await ensureTenantWithKey(sql, { id: BENCH_TENANT, name: 'Benchmark' }, adminKey, 'bench console', ['admin']);
    for (let v = 0; v < 8; v++) {
      await saveStrategy(sql, BENCH_TENANT, { name: 'otp', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, ttl_seconds: 300 + v * 60 }] }, { actor: 'bench' });
    }

    // Dead letters: a fifth the bench tenant's, the rest another tenant's, so the tenant filter matters.
    const prefix = run.redisPrefix('console-ingest');
    const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 2 });
    run.defer('Redis client', () => redis.quit());
    // Appended as a dispatcher's settle appends them.
    const reader = new LaneReader(redis, { prefix });
    for (let i = 0; i < settings.deadLetters; i += 500) {
      await reader.settle({
        deadLetters: Array.from({ length: Math.min(500, settings.deadLetters - i) }, (_, j) => {
          const tenant = (i + j) % 5 === 0 ? BENCH_TENANT : 'other';
          const message: QueuedMessage = { id: newId(), tenant_id: tenant, channel: 'sms', strategy: undefined, priority: 'high', recipient: { phone: '+79161234567' }, content: { text: 'x' }, expires_at: undefined };
          return { message, reason: 'gave up after 3 attempts: sandbox answered 503', code: 'provider_unavailable', provider: `${tenant}/sandbox-sms` };
        }),
      });
    }

    const ingest = await startIngestProcess({
      root,
      logFile: join(outputDir, `ingest-${run.id}-console.log`),
      env: {
        ...run.stack.env,
        COMMSTRAT_REDIS_PREFIX: prefix,
        COMMSTRAT_MONGO_URL: database.url,
        COMMSTRAT_POSTGRES_URL: run.postgresUrl,
        COMMSTRAT_LOG_LEVEL: 'warn',
        INGEST_KAFKA_ENABLED: 'false',
        // Logins and pages are not what the tenant rate limit is for.
        INGEST_TENANT_RATE_PER_SECOND: '100000',
      },
    });
    run.defer('ingest', () => ingest.stop());
    const base = new URL(ingest.url);
    const agent = new Agent({ keepAlive: true, maxSockets: settings.clients });
    run.defer('HTTP agent', () => Promise.resolve(agent.destroy()));
    const login = await httpCall(agent, base, 'POST', '/console/api/login', { 'content-type': 'application/json' }, JSON.stringify({ api_key: adminKey }));
    if (login.status !== 200) throw new Error(`console login answered ${String(login.status)}: ${login.body}`);
    const cookie = String((login.headers['set-cookie'] as string[] | undefined)?.[0] ?? '').split(';')[0] ?? '';

    const readDb = readClient.db();
    const messages = readDb.collection('messages');
    const callbacks = readDb.collection('callbacks');
    const exchangesRead = readDb.collection('provider_exchanges');
    const stream = new DeadLetterStream(redis, { prefix });
    const inspector = new QueueInspector(redis, new LaneStatistics(redis, { prefix }));
    const heartbeats = new ReplicaHeartbeats(redis, { prefix });
    const day = (n: number) => new Date(new Date(fill.result.from).getTime() + n * 86_400_000);
    const campaign = `campaign-${String(Math.floor(CAMPAIGNS / 3)).padStart(2, '0')}`;
    const list = (name: string, what: string, query: { status?: string; tag?: string; from?: Date; to?: Date }, broad = false): Case => ({
      name,
      what,
      broad,
      path: () => {
        const params = new URLSearchParams({ limit: String(PAGE), ...(query.status === undefined ? {} : { status: query.status }), ...(query.tag === undefined ? {} : { tag: query.tag }) });
        if (query.from !== undefined) params.set('from', query.from.toISOString());
        if (query.to !== undefined) params.set('to', query.to.toISOString());
        return `/console/api/messages?${params.toString()}`;
      },
      baseline: () => messages.find(listFilter(BENCH_TENANT, query, undefined, firstIdAt)).sort({ _id: -1 }).limit(PAGE + 1).toArray(),
    });
    const cases: Case[] = [
      { name: 'session', what: 'GET /session: the check every page makes (Redis GETEX, key cache)', path: () => '/console/api/session', baseline: () => redis.getex(`${prefix}console:none`, 'EX', 60) },
      {
        name: 'message',
        what: 'GET /messages/{id}: the message, its exchanges and callbacks (random ids of the tenant)',
        path: () => `/console/api/messages/${pick(ids)}`,
        baseline: () => {
          const id = pick(ids);
          return Promise.all([messages.findOne({ _id: id as never, tenant_id: BENCH_TENANT }), exchangesRead.find({ message_ids: id }).toArray(), callbacks.find({ message_id: id }).sort({ seq: 1 }).toArray()]);
        },
      },
      {
        name: 'search-batch',
        what: 'GET /messages?batch_id=…: one batch of 1 000, first page',
        path: () => `/console/api/messages?limit=${PAGE}&batch_id=${pick(batches)}`,
        baseline: () => messages.find({ tenant_id: BENCH_TENANT, request_id: pick(batches) }).sort({ _id: -1 }).limit(PAGE + 1).toArray(),
      },
      list('search-failed', '?status=failed, first page (4 % of the tenant)', { status: 'failed' }),
      list('search-tag', `?tag=${campaign}, first page (1 in ${String(CAMPAIGNS)})`, { tag: campaign }),
      { name: 'strategies', what: 'GET /strategies: newest version of each', path: () => '/console/api/strategies', baseline: () => listStrategies(sql, BENCH_TENANT) },
      { name: 'versions', what: 'GET /strategies/otp/versions (8 versions)', path: () => '/console/api/strategies/otp/versions', baseline: () => listStrategyVersions(sql, BENCH_TENANT, 'otp') },
      {
        name: 'diff',
        what: 'GET /strategies/otp/diff?from=1&to=8',
        path: () => '/console/api/strategies/otp/diff?from=1&to=8',
        baseline: async () => {
          const [a, b] = await Promise.all([findStrategy(sql, BENCH_TENANT, 'otp', 1), findStrategy(sql, BENCH_TENANT, 'otp', 8)]);
          return jsonDiff(a?.strategy, b?.strategy);
        },
      },
      {
        name: 'providers',
        what: 'GET /providers: providers, circuits (heartbeats), token buckets',
        path: () => '/console/api/providers',
        baseline: async () => {
          const providers = await listTenantProviders(sql, BENCH_TENANT);
          return Promise.all([heartbeats.list(), inspector.tokenBucketsOf(providers.map((p) => `${BENCH_TENANT}/${p.id}`))]);
        },
      },
      {
        name: 'dead-letters',
        what: `GET /dead-letters?limit=100: the tenant's first 100 of ${formatCount(settings.deadLetters)} entries`,
        path: () => '/console/api/dead-letters?limit=100',
        baseline: () => stream.page({ after: null }, 500),
      },
      { name: 'lanes', what: 'GET /lanes: depth, lag, pending, delayed buckets', path: () => '/console/api/lanes', baseline: () => Promise.all([inspector.laneReports(), inspector.delayed(Date.now(), 1000)]) },
      // Last: they load the shared server for minutes.
      list('search-sent', '?status=sent, first page (88 % of the tenant)', { status: 'sent' }, true),
      list('search-day', `?from=…&to=…, one day ${String(JOURNAL_DAYS - 10)} days back`, { from: day(10), to: day(11) }, true),
      list('search-newest', 'no filter: the newest of the tenant', {}, true),
    ];

    const processes = { ingest: ingest.pid, ...stackPids };
    const meter = new CpuMeter(processes);
    const results: CaseResult[] = [];
    const apiCall = (c: Case) => async () => {
      const path = c.path();
      const answer = await httpCall(agent, base, 'GET', path, { cookie });
      if (answer.status !== 200) throw new Error(`GET ${path} answered ${String(answer.status)}: ${answer.body.slice(0, 300)}`);
      return answer.ms;
    };
    const baselineCall = (c: Case) => async () => {
      const started = performance.now();
      await c.baseline();
      return performance.now() - started;
    };
    for (const c of cases) {
      // A short warm-up of each path, not counted.
      await drive(c.broad === true ? 1 : Math.min(20, settings.calls), 1, 3, apiCall(c));
      await drive(c.broad === true ? 1 : Math.min(20, settings.calls), 1, 3, baselineCall(c));
      const calls = c.broad === true ? Math.min(BROAD_CALLS, settings.calls) : settings.calls;
      const concurrent = async (call: () => Promise<number>) => (c.broad === true ? null : drive(calls, settings.clients, settings.budgetSeconds, call));
      const result: CaseResult = {
        name: c.name,
        what: c.what,
        api: { sequential: await drive(calls, 1, settings.budgetSeconds, apiCall(c)), concurrent: await concurrent(apiCall(c)) },
        baseline: { sequential: await drive(calls, 1, settings.budgetSeconds, baselineCall(c)), concurrent: await concurrent(baselineCall(c)) },
      };
      const p99 = (l: Latency | null) => (l === null ? '–' : ms(l.p99));
      progress(`${c.name}: api p99 ${p99(result.api.sequential)} / ${p99(result.api.concurrent)} ms, baseline p99 ${p99(result.baseline.sequential)} / ${p99(result.baseline.concurrent)} ms`);
      results.push(result);
    }
    const cpu = meter.read();

    const c = String(settings.clients);
    const lines = [
      `fill: ${formatCount(fill.result.messages)} messages: ${formatCount(fill.result.messagesPerSecond)} msg/s (${fill.result.seconds.toFixed(1)} s); by tenant ${JSON.stringify(fill.result.byTenant)}`,
      '',
      formatColumns(
        ['page (ms: p50 / p99 / max)', 'API 1 client', `API ${c} clients`, 'baseline 1 client', `baseline ${c} clients`, 'API p99 / baseline p99 (1 client)', `target p99`, 'met'],
        results.map((r) => [
          r.name,
          triple(r.api.sequential),
          triple(r.api.concurrent),
          triple(r.baseline.sequential),
          triple(r.baseline.concurrent),
          (r.api.sequential.p99 / Math.max(0.01, r.baseline.sequential.p99)).toFixed(1),
          `≤ ${String(TARGET_MS)}`,
          Math.max(r.api.sequential.p99, r.api.concurrent?.p99 ?? 0) <= TARGET_MS && r.api.sequential.errors + (r.api.concurrent?.errors ?? 0) === 0 ? 'yes' : 'no',
        ]),
      ),
      '',
      ...results.map((r) => `${r.name}: ${r.what}`),
      `[n]: the mode's time budget (${String(settings.budgetSeconds)} s) ran out after n calls; (n failed): calls answered with an error, left out of the percentiles`,
      ...results.flatMap((r) =>
        [r.api.sequential, r.api.concurrent, r.baseline.sequential, r.baseline.concurrent].flatMap((l) => (l?.firstError === undefined ? [] : [`${r.name}: first failure: ${l.firstError.slice(0, 200)}`])).slice(0, 1),
      ),
      `cpu during the pages: ${formatCpu(cpu)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const file = join(outputDir, `console-${run.id}.json`);
    writeJson(file, {
      benchmark: 'console',
      run: run.id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `scripts/bench console ${process.argv.slice(2).join(' ')}`.trim(),
      settings,
      fill: fill.result,
      targetMs: TARGET_MS,
      results,
      cpu,
    });
    progress(`results written to ${file}`);
  } finally {
    if (!run.interrupted) await run.close();
  }
}

runBenchmark(main);

