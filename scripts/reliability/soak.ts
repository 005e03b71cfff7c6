// `scripts/bench soak`: sustained mixed traffic — REST single and batch, Kafka, all four
// lanes, some scheduled, some for a tenant whose provider always fails — for --minutes N,
// with one dispatcher kill -9 and one restart of the soak's own Redis (AOF on) in the
// middle. Prints throughput and every process's memory (RSS) every 30 s, then the
// ledger; exits 1 when the ledger is not OK. Never stops a server of the stack.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureSandboxRouting, ensureTenantWithKey, generateApiKey, migrate, saveStrategy } from '@commstrat/config';
import { Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { MongoClient } from 'mongodb';
import postgres from 'postgres';
import { freePort, startChildService, type ChildService } from '../benchmarks/dispatcher-processes.ts';
import { stackEnvFrom } from '../benchmarks/stack.ts';
import { AcceptedLog, explainReport, fetchSandboxArrivals, formatReport, readAcceptedLog, settle } from './ledger.ts';
import { DEFAULT_REDIS_PREFIX } from '@commstrat/core';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '40' } } });
const minutes = Number(values.minutes);
const restPerSecond = Number(values.rate);
if (!(minutes > 0) || !(restPerSecond > 0)) throw new Error('--minutes and --rate must be positive numbers');
const stack = stackEnvFrom(process.env);
const root = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = `soak_${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'commstrat-soak-'));
const acceptedFile = join(dir, 'accepted.jsonl');
const accepted = new AcceptedLog(acceptedFile);
console.log(`soak ${run}: ${minutes} min, ${restPerSecond} REST requests/s + Kafka; logs and accepted ids in ${dir}`);

// The soak's own Redis, which it restarts; the stack's is shared and never touched.
const redisPort = await freePort();
let redisChild: ChildProcess | undefined;
async function startRedis(): Promise<void> {
  redisChild = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''], { stdio: 'ignore' });
  for (;;) {
    const probe = new Redis(redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    const up = await probe.connect().then(() => probe.ping(), () => undefined).catch(() => undefined);
    probe.disconnect();
    if (up === 'PONG') return;
    await sleep(100);
  }
}
async function killRedis(): Promise<void> {
  const child = redisChild;
  if (child === undefined || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
await startRedis();
const redisUrl = `redis://127.0.0.1:${redisPort}`;

// Databases and topic of this run.
const admin = postgres(stack.postgresUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`CREATE DATABASE ${run}`);
const pgUrl = new URL(stack.postgresUrl);
pgUrl.pathname = `/${run}`;
const sql = postgres(pgUrl.toString(), { max: 2, onnotice: () => {} });
await migrate(sql);
const mongoUrl = new URL(stack.mongoUrl);
mongoUrl.pathname = `/${run}`;
const kafka = new Kafka({ clientId: run, brokers: [...stack.kafkaBrokers], logLevel: logLevel.NOTHING });
const kafkaAdmin = kafka.admin();
await kafkaAdmin.connect();
const topic = `${run}.messages`;
await kafkaAdmin.createTopics({ topics: [{ topic, numPartitions: 3 }, { topic: `${topic}.rejected`, numPartitions: 1 }], waitForLeaders: true });

const services: ChildService[] = [];
const child = async (name: string, script: string, env: Record<string, string>, readyPath: string) => {
  const port = await freePort();
  const portVariable = { sandbox: 'SANDBOX_PORT', ingest: 'INGEST_PORT', dispatcher: 'DISPATCHER_PORT' }[name.split('-')[0] ?? ''] ?? 'PORT';
  const service = await startChildService({
    name,
    root,
    script,
    env: { ...process.env, ...env, [portVariable]: String(port), COMMSTRAT_GELF_HOST: '' },
    logFile: join(dir, `${name}.log`),
    readyPath,
    port,
  });
  services.push(service);
  return service;
};
const good = await child('sandbox-good', 'apps/sandbox/src/main.ts', { SANDBOX_TOKEN: 'soak' }, '/health/live');
const failing = await child('sandbox-failing', 'apps/sandbox/src/main.ts', { SANDBOX_TOKEN: 'soak' }, '/health/live');
await fetch(`${failing.url}/_sandbox/behaviour`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error_rate: 1 }) });
const key = generateApiKey();
const failingKey = generateApiKey();
await ensureTenantWithKey(sql, { id: 'soak', name: 'Soak' }, key);
await ensureTenantWithKey(sql, { id: 'soak-failing', name: 'Soak failing' }, failingKey);
await ensureSandboxRouting(sql, 'soak', { endpoint: good.url, token: 'soak' });
await ensureSandboxRouting(sql, 'soak-failing', { endpoint: failing.url, token: 'soak' });
await saveStrategy(
  sql,
  'soak-failing',
  { name: 'sms-default', channel: 'sms', steps: [{ route: { mode: 'failover', providers: ['sandbox-sms'] }, retry: { max_attempts: 3, base_delay_ms: 500, max_delay_ms: 2000 } }] },
  { defaultForChannel: true },
);
const env = {
  COMMSTRAT_REDIS_URL: redisUrl,
  COMMSTRAT_REDIS_PREFIX: DEFAULT_REDIS_PREFIX,
  COMMSTRAT_MONGO_URL: mongoUrl.toString(),
  COMMSTRAT_POSTGRES_URL: pgUrl.toString(),
  INGEST_KAFKA_TOPIC: topic,
  INGEST_KAFKA_REJECTED_TOPIC: `${topic}.rejected`,
  INGEST_KAFKA_GROUP: run,
  COMMSTRAT_LOG_LEVEL: 'warn',
  // The two sandboxes listen on loopback, which the egress policy refuses unless allowed.
  COMMSTRAT_EGRESS_ALLOW: [good.url, failing.url].map((url) => new URL(url).host).join(','),
};
const ingest = await child('ingest', 'apps/ingest/src/main.ts', env, '/health/ready');
let dispatcher = await child('dispatcher-1', 'apps/dispatcher/src/main.ts', env, '/health/ready');

// Traffic: REST requests at the rate asked, a Kafka record for every second REST request.
const priorities = ['critical', 'high', 'normal', 'bulk'] as const;
let n = 0;
const counts = { rest: 0, kafka: 0, refused: 0 };
const item = (i: number) => ({
  channel: 'sms',
  recipient: { phone: '+79161234567' },
  content: { text: `soak ${i}` },
  priority: priorities[i % 4],
  // Every tenth is scheduled 30 s ahead.
  ...(i % 10 === 7 ? { send_at: new Date(Date.now() + 30_000).toISOString() } : {}),
});
async function restRequest(request: number, i: number): Promise<void> {
  const batch = request % 2 === 0; // half single messages, half batches of 10
  const apiKey = request % 10 === 3 ? failingKey : key; // a tenth go to the failing provider
  try {
    const response = await fetch(`${ingest.url}/v1/messages${batch ? '/batch' : ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch ? { messages: Array.from({ length: 10 }, (_, k) => item(i + k)) } : item(i)),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await response.json()) as { id?: string; accepted?: { id: string }[] };
    if (response.status !== 202) counts.refused += 1;
    const ids = batch ? (body.accepted ?? []).map((entry) => entry.id) : body.id === undefined ? [] : [body.id];
    accepted.rest(ids);
    counts.rest += ids.length;
  } catch {
    counts.refused += 1;
  }
}
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
await producer.connect();
async function kafkaRecord(i: number): Promise<void> {
  try {
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: String(i), value: JSON.stringify(item(i)), headers: { 'x-api-key': key } }] });
    if (meta !== undefined) {
      accepted.kafka([`kafka:${topic}:${meta.partition}:${meta.baseOffset ?? ''}`]);
      counts.kafka += 1;
    }
  } catch {
    counts.refused += 1;
  }
}
let running = true;
const inFlight = new Set<Promise<void>>();
let request = 0;
const traffic = (async () => {
  while (running) {
    request += 1;
    // Message numbers (for lanes and scheduling) advance by the most a request carries.
    n += 10;
    const requests = [restRequest(request, n), ...(request % 2 === 0 ? [kafkaRecord(n + 1)] : [])];
    for (const request of requests) {
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await sleep(1000 / restPerSecond);
  }
})();

// Samples every 30 s; the faults in the middle.
const rss = (pid: number | undefined): number => {
  if (pid === undefined) return 0;
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
};
const receivedCount = async () => ((await (await fetch(`${good.url}/_sandbox/received?offset=0&limit=1`)).json()) as { count: number }).count;
const samples: Record<string, number | string>[] = [];
const started = Date.now();
let last = { at: started, rest: 0, kafka: 0, received: 0 };
const durationMs = minutes * 60_000;
let killedDispatcher = false;
let restartedRedis = false;
console.log('  t(s)  accepted/s (REST+Kafka)  sent/s  refused  RSS MB: ingest dispatcher sandbox redis  event');
while (Date.now() - started < durationMs) {
  await sleep(Math.min(30_000, durationMs - (Date.now() - started)));
  let event = '';
  const elapsed = Date.now() - started;
  if (!killedDispatcher && elapsed >= durationMs / 2) {
    process.kill(dispatcher.pid, 'SIGKILL');
    await sleep(500);
    dispatcher = await child('dispatcher-2', 'apps/dispatcher/src/main.ts', env, '/health/ready');
    killedDispatcher = true;
    event = 'dispatcher kill -9, replaced';
  } else if (killedDispatcher && !restartedRedis && elapsed >= durationMs / 2 + Math.min(60_000, durationMs / 4)) {
    await killRedis();
    await sleep(1000);
    await startRedis();
    restartedRedis = true;
    event = 'Redis kill -9, restarted (AOF)';
  }
  const now = Date.now();
  const received = await receivedCount();
  const seconds = (now - last.at) / 1000;
  const sample = {
    t: Math.round((now - started) / 1000),
    accepted_per_s: Math.round((counts.rest + counts.kafka - last.rest - last.kafka) / seconds),
    sent_per_s: Math.round((received - last.received) / seconds),
    refused: counts.refused,
    rss_ingest_mb: Math.round(rss(ingest.pid)),
    rss_dispatcher_mb: Math.round(rss(dispatcher.pid)),
    rss_sandbox_mb: Math.round(rss(good.pid)),
    rss_redis_mb: Math.round(rss(redisChild?.pid)),
    event,
  };
  samples.push(sample);
  last = { at: now, rest: counts.rest, kafka: counts.kafka, received };
  console.log(
    `  ${String(sample.t).padStart(4)}  ${String(sample.accepted_per_s).padStart(23)}  ${String(sample.sent_per_s).padStart(6)}  ${String(sample.refused).padStart(7)}  ` +
      `${String(sample.rss_ingest_mb).padStart(14)} ${String(sample.rss_dispatcher_mb).padStart(10)} ${String(sample.rss_sandbox_mb).padStart(7)} ${String(sample.rss_redis_mb).padStart(5)}  ${event}`,
  );
}
running = false;
await traffic;
await Promise.all([...inFlight]);
console.log(`traffic stopped: ${counts.rest} REST and ${counts.kafka} Kafka messages accepted, ${counts.refused} requests refused or unanswered`);

// The ledger, once the scheduled messages are due and the failing ones gave up.
const mongo = await new MongoClient(mongoUrl.toString()).connect();
const ledgerRedis = new Redis(redisUrl);
const report = await settle(
  {
    db: mongo.db(),
    redis: ledgerRedis,
    prefix: DEFAULT_REDIS_PREFIX,
    accepted: readAcceptedLog(acceptedFile),
    arrivals: async () => (await Promise.all([good.url, failing.url].map(fetchSandboxArrivals))).flat(),
    // One dispatcher kill: what it had at the provider unjournaled, 2 × (concurrency 4 +
    // 1 critical slot) requests of at most 25 messages (docs/reliability.md); and one
    // Redis restart: acknowledgements of the last ~2 s that AOF lost, so entries sent
    // then come again (about 200 messages a second here: 500).
    duplicateBound: 2 * (4 + 1) * 25 + 500,
  },
  180_000,
  2000,
);
console.log(formatReport(report));
if (!report.ok) console.log(await explainReport({ db: mongo.db(), redis: ledgerRedis, prefix: DEFAULT_REDIS_PREFIX }, report));
writeFileSync(join(dir, 'soak.json'), JSON.stringify({ minutes, restPerSecond, counts, samples, report: { ...report, duplicates: report.duplicates.length } }, null, 2));
console.log(`figures in ${join(dir, 'soak.json')}, accepted ids in ${acceptedFile}`);

// Clean up: processes, the soak's Redis, databases, topics.
await producer.disconnect();
for (const service of services.reverse()) await service.stop(10_000);
await killRedis();
ledgerRedis.disconnect();
await mongo.db().dropDatabase();
await mongo.close();
await sql.end({ timeout: 5 });
await admin.unsafe(`DROP DATABASE IF EXISTS ${run}`);
await admin.end({ timeout: 5 });
await kafkaAdmin.deleteTopics({ topics: [topic, `${topic}.rejected`] }).catch(() => {});
await kafkaAdmin.deleteGroups([run]).catch(() => {});
await kafkaAdmin.disconnect();
process.exit(report.ok ? 0 : 1);
