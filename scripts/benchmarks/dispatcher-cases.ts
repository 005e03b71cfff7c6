// The two commstrat measurements of `scripts/bench dispatcher`:
// - throughput: N messages journaled and queued through a real ingest (POST
//   /v1/messages/batch), then 1 or 2 dispatcher replicas started, arrivals at the sandbox
//   counted; each case with its own Redis prefix and MongoDB database;
// - critical latency: a bulk lane of 1 000 000 entries written straight to Redis (queue
//   mechanics only: not journaled, so the dispatcher's status updates match no document,
//   but it claims, routes, batches, sends and acks them like any other), one replica,
//   and critical messages sent one by one through ingest at a steady pace, each timed
//   from POST to arrival at the sandbox.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { newId, type QueuedMessage } from '@commstrat/core';
import { LaneReader, LaneStatistics, QueueKeys, encodeEntry } from '@commstrat/queue';
import type { Redis } from 'ioredis';
import type { BenchRun } from './bench-run.ts';
import type { CpuReport } from './cpu-usage.ts';
import { watchArrivals, type Arrivals } from './dispatcher-arrivals.ts';
import {
  freePort,
  percentile,
  scrapeCounter,
  startChildService,
  type ChildService,
  type SandboxInspector,
} from './dispatcher-processes.ts';
import { startIngestProcess, type IngestProcess } from './ingest-process.ts';
import { startJournalProbe } from './journal-probe.ts';
import { batchEnvelope, smsMessage } from './payloads.ts';
import { formatCount, progress, sleep } from './progress.ts';
import { CpuMeter } from './cpu-usage.ts';
import { monotonicMicros, summariseProfile, type ProfileSummary } from './cpu-profile.ts';

export interface CaseContext {
  readonly run: BenchRun;
  readonly root: string;
  readonly outputDir: string;
  readonly sandbox: SandboxInspector;
  readonly sandboxPid: number;
  readonly stackPids: Readonly<Record<string, number | undefined>>;
  /** Set with --profile: the replicas run with --cpu-prof, writing here. */
  readonly profileDir?: string | undefined;
}

export interface ThroughputResult extends Arrivals {
  readonly system: 'commstrat' | 'bullmq' | 'bullmq+mongodb';
  readonly messages: number;
  readonly replicas: number;
  readonly fill: { readonly seconds: number; readonly perSecond: number; readonly how: string };
  /** Per replica / worker: what it reported as dispatched (commstrat) or completed. */
  readonly perReplica: readonly number[];
  /** With --profile: where each replica's time went over the measured window. */
  readonly profiles?: readonly { readonly file: string; readonly summary: ProfileSummary }[];
}

export interface LatencyResult {
  readonly system: 'commstrat' | 'bullmq';
  readonly backlog: number;
  readonly backlogFill: {
    readonly seconds: number;
    readonly perSecond: number;
    readonly how: string;
  };
  readonly sent: number;
  readonly arrived: number;
  readonly paceMs: number;
  /** From the request (POST / Queue.add) leaving the bench to arrival at the sandbox, ms. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** From the 202 answer (commstrat) to arrival; undefined for BullMQ (add resolves ≈ at once). */
  readonly afterAcceptMs?: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Backlog entries left when the first and the last critical message were sent. */
  readonly backlogDuring: readonly [number, number];
  /**
   * commstrat only: one critical message journaled by the bench itself at the same pace
   * meanwhile (journal-probe.ts), ms: what the journal allows.
   */
  readonly journalWriteMs?: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly cpu: CpuReport;
}

export function summarise(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** Environment of every commstrat process of one case. */
function caseEnv(
  ctx: CaseContext,
  prefix: string,
  mongoUrl: string,
): Record<string, string | undefined> {
  return {
    ...ctx.run.stack.env,
    COMMSTRAT_REDIS_PREFIX: prefix,
    COMMSTRAT_MONGO_URL: mongoUrl,
    COMMSTRAT_POSTGRES_URL: ctx.run.postgresUrl,
    COMMSTRAT_LOG_LEVEL: 'warn',
    INGEST_LANE_CAP: '1000000000',
    INGEST_TENANT_RATE_PER_SECOND: '100000000',
    INGEST_KAFKA_ENABLED: 'false',
    // The bench's sandbox listens on loopback, which the egress policy refuses unless allowed.
    COMMSTRAT_EGRESS_ALLOW: new URL(ctx.sandbox.url).host,
    // The dispatcher's settings given to the bench (DISPATCHER_CRITICAL_YIELD_MS=0 …) reach its replicas.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('DISPATCHER_'))),
  };
}

async function startReplicas(
  ctx: CaseContext,
  env: Record<string, string | undefined>,
  count: number,
  scope: string,
  profileDir?: string,
): Promise<ChildService[]> {
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const port = await freePort();
      const replica = await startChildService({
        name: `dispatcher-${i + 1}`,
        root: ctx.root,
        script: 'apps/dispatcher/src/main.ts',
        ...(profileDir === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }),
        env: {
          ...env,
          DISPATCHER_PORT: String(port),
          DISPATCHER_CONSUMER: `bench-${scope}-${i + 1}`,
        },
        logFile: join(ctx.outputDir, `dispatcher-${ctx.run.id}-${scope}-${i + 1}.log`),
        readyPath: '/health/ready',
        port,
      });
      ctx.run.defer(`dispatcher ${replica.pid}`, () => replica.stop(1000));
      return replica;
    }),
  );
}

async function post(
  url: string,
  apiKey: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json().catch(() => undefined) };
}

/** N messages through ingest's batch endpoint, 1 000 per request, 2 requests in flight. */
async function fillThroughIngest(
  ingest: IngestProcess,
  apiKey: string,
  messages: number,
): Promise<number> {
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < messages) {
      const offset = next;
      const size = Math.min(1000, messages - offset);
      next += size;
      const answer = await post(
        `${ingest.url}/v1/messages/batch`,
        apiKey,
        batchEnvelope(size, offset),
      );
      if (answer.status !== 202)
        throw new Error(
          `ingest answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 300)}`,
        );
    }
  };
  await Promise.all([worker(), worker()]);
  return (Date.now() - started) / 1000;
}

async function laneBacklog(lanes: LaneStatistics): Promise<number> {
  const depths = await lanes.depths();
  return Object.values(depths).reduce((sum, n) => sum + n, 0);
}

export async function dispatcherThroughput(
  ctx: CaseContext,
  messages: number,
  replicas: number,
  windowSeconds: number,
): Promise<ThroughputResult> {
  const scope = `n${messages}r${replicas}`;
  const prefix = ctx.run.redisPrefix(scope);
  const mongo = ctx.run.mongoDatabase(scope);
  const env = caseEnv(ctx, prefix, mongo.url);
  const lanes = new LaneStatistics(ctx.run.redis, { prefix });
  try {
    const ingest = await startIngestProcess({
      root: ctx.root,
      env,
      logFile: join(ctx.outputDir, `ingest-${ctx.run.id}-${scope}.log`),
    });
    let fillSeconds: number;
    try {
      fillSeconds = await fillThroughIngest(ingest, ctx.run.tenant.apiKey, messages);
    } finally {
      await ingest.stop();
    }
    const queued = await laneBacklog(lanes);
    if (queued !== messages)
      throw new Error(`${scope}: ${queued} lane entries after filling ${messages}`);
    progress(
      `${scope}: ${formatCount(messages)} journaled and queued through ingest in ${fillSeconds.toFixed(1)} s; starting ${replicas} replica(s)`,
    );
    await ctx.sandbox.clear();
    const profileDir = ctx.profileDir === undefined ? undefined : join(ctx.profileDir, scope);
    const started = await startReplicas(ctx, env, replicas, scope, profileDir);
    const pids = Object.fromEntries(started.map((r, i) => [`dispatcher${i + 1}`, r.pid]));
    const window = { from: monotonicMicros(), to: 0 };
    const arrivals = await watchArrivals({
      sandbox: ctx.sandbox,
      target: messages,
      windowSeconds,
      finished: async () => messages - (await laneBacklog(lanes)),
      pids: { ...pids, sandbox: ctx.sandboxPid, ...ctx.stackPids },
      label: scope,
    });
    const perReplica = await Promise.all(
      started.map((r) =>
        scrapeCounter(r.url, 'commstrat_messages_dispatched_total').catch(() => Number.NaN),
      ),
    );
    window.to = monotonicMicros();
    // A replica stopping finishes its batches in flight, which on a slow journal takes
    // long: the figures are taken, so it is not waited for (a profile is: Node writes it
    // on exit, so a profiled replica gets longer).
    await Promise.all(started.map((r) => r.stop(profileDir === undefined ? 2000 : 30_000)));
    const profiles =
      profileDir === undefined
        ? undefined
        : readdirSync(profileDir)
            .filter((f) => f.endsWith('.cpuprofile'))
            .map((f) => ({ file: join(profileDir, f), summary: summariseProfile(join(profileDir, f), window) }));
    return {
      system: 'commstrat',
      messages,
      replicas,
      fill: {
        seconds: fillSeconds,
        perSecond: messages / fillSeconds,
        how: 'POST /v1/messages/batch × 1 000, 2 in flight, one ingest process',
      },
      perReplica,
      ...(profiles === undefined ? {} : { profiles }),
      ...arrivals,
    };
  } finally {
    // Free the servers for the next case now; the run's cleanup repeats it harmlessly.
    await ctx.run.deleteRedisKeys(prefix);
    await ctx.run.dropMongo(mongo.url).catch(() => undefined);
  }
}

function bulkMessage(n: number, now: string): QueuedMessage {
  const body = smsMessage(n);
  return {
    id: newId(),
    tenant_id: 'bench',
    channel: 'sms',
    strategy: undefined,
    priority: 'bulk',
    recipient: body.recipient,
    content: body.content,
    expires_at: undefined,
    created_at: now,
  };
}

/** Pipelined XADDs of encoded entries (the queue's codec), 10 000 per round trip, no batch guard. */
async function fillBulkLane(redis: Redis, prefix: string, backlog: number): Promise<number> {
  const started = Date.now();
  const now = new Date().toISOString();
  const key = new QueueKeys(prefix).lane('bulk');
  for (let offset = 0; offset < backlog; offset += 10_000) {
    const size = Math.min(10_000, backlog - offset);
    const pipeline = redis.pipeline();
    for (let i = 0; i < size; i += 1) pipeline.xadd(key, '*', 'm', encodeEntry(bulkMessage(offset + i, now)));
    await pipeline.exec();
  }
  return (Date.now() - started) / 1000;
}

export async function dispatcherCriticalLatency(
  ctx: CaseContext,
  backlog: number,
  critical: number,
  paceMs: number,
): Promise<LatencyResult> {
  const scope = 'critical';
  const prefix = ctx.run.redisPrefix(scope);
  const mongo = ctx.run.mongoDatabase(scope);
  const env = caseEnv(ctx, prefix, mongo.url);
  const lanes = new LaneStatistics(ctx.run.redis, { prefix });
  try {
    await new LaneReader(ctx.run.redis, { prefix }).ensureGroup();
    const fillSeconds = await fillBulkLane(ctx.run.redis, prefix, backlog);
    progress(
      `critical: ${formatCount(backlog)} bulk entries in the lane in ${fillSeconds.toFixed(1)} s`,
    );
    const ingest = await startIngestProcess({
      root: ctx.root,
      env,
      logFile: join(ctx.outputDir, `ingest-${ctx.run.id}-${scope}.log`),
    });
    ctx.run.defer(`ingest ${ingest.pid}`, () => ingest.stop());
    await ctx.sandbox.clear();
    const [replica] = await startReplicas(ctx, env, 1, scope);
    if (replica === undefined) throw new Error('no replica');
    // One normal message first, as a running service has had: ingest's first request
    // reads the tenant's key and routing from PostgreSQL and opens its connections (over
    // 100 ms here). It is not critical, so the dispatcher does not yield for it.
    const warmUp = await post(`${ingest.url}/v1/messages`, ctx.run.tenant.apiKey, smsMessage(4_999_999));
    if (warmUp.status !== 202) throw new Error(`ingest answered ${warmUp.status}: ${JSON.stringify(warmUp.json)}`);
    await sleep(2000); // the replica is deep in the bulk lane before the first critical message
    const meter = new CpuMeter({
      dispatcher: replica.pid,
      ingest: ingest.pid,
      sandbox: ctx.sandboxPid,
      ...ctx.stackPids,
    });
    const backlogAtStart = (await lanes.depths()).bulk;
    const probe = await startJournalProbe(ctx.run, paceMs);
    const sends: Promise<{ id: string; sentAt: number; acceptedAt: number }>[] = [];
    for (let i = 0; i < critical; i++) {
      const sentAt = Date.now();
      sends.push(
        post(`${ingest.url}/v1/messages`, ctx.run.tenant.apiKey, {
          ...smsMessage(5_000_000 + i),
          priority: 'critical',
        }).then(({ status, json }) => {
          if (status !== 202) throw new Error(`ingest answered ${status}: ${JSON.stringify(json)}`);
          return { id: (json as { id: string }).id, sentAt, acceptedAt: Date.now() };
        }),
      );
      // A steady pace, whatever ingest's answer time: the next one leaves on schedule.
      await sleep(Math.max(0, sentAt + paceMs - Date.now()));
    }
    const backlogAtEnd = (await lanes.depths()).bulk;
    const probed = await probe.stop();
    const accepted = await Promise.all(sends);
    const arrivedAt = new Map<string, number>();
    const deadline = Date.now() + 60_000;
    while (arrivedAt.size < accepted.length && Date.now() < deadline) {
      for (const { id } of accepted) {
        if (arrivedAt.has(id)) continue;
        const { messages } = await ctx.sandbox.received(id);
        const at = messages[0]?.received_at;
        if (at !== undefined) arrivedAt.set(id, at);
      }
      if (arrivedAt.size < accepted.length) await sleep(250);
    }
    const cpu = meter.read();
    await replica.stop(2000);
    await ingest.stop();
    const arrived = accepted.filter(({ id }) => arrivedAt.has(id));
    return {
      system: 'commstrat',
      backlog,
      backlogFill: {
        seconds: fillSeconds,
        perSecond: backlog / fillSeconds,
        how: 'pipelined XADD of encoded entries, 10 000 per round trip, not journaled',
      },
      sent: critical,
      arrived: arrived.length,
      paceMs,
      latencyMs: summarise(arrived.map(({ id, sentAt }) => (arrivedAt.get(id) ?? 0) - sentAt)),
      afterAcceptMs: summarise(
        arrived.map(({ id, acceptedAt }) => (arrivedAt.get(id) ?? 0) - acceptedAt),
      ),
      backlogDuring: [backlogAtStart, backlogAtEnd],
      journalWriteMs: summarise(probed),
      cpu,
    };
  } finally {
    await ctx.run.deleteRedisKeys(prefix);
    await ctx.run.dropMongo(mongo.url).catch(() => undefined);
  }
}
