// The journal's reads as a tenant makes them — `GET /v1/messages/{id}` and the paged
// listings — over HTTP with keep-alive against a real ingest, sequentially and from a few
// concurrent clients, and the same queries through the driver alone, so the API's own
// share of each latency is visible. Each query's `explain` is kept: an index scan is the
// point of the journal's layout.
import { Agent, request } from 'node:http';
import type { Collection, Document } from 'mongodb';
import { summarise } from './dispatcher-cases.ts';
import { formatCount, progress } from './progress.ts';

/** One read the bench repeats; `after` set means a page deeper in, reached by the cursor. */
export interface ListQuery {
  readonly status?: string;
  readonly tag?: string;
  readonly from?: Date;
  readonly to?: Date;
}

export interface ReadCase {
  readonly name: string;
  /** The journal index this query is meant to be served by: explains are hinted to it. */
  readonly index: string;
  readonly what: string;
  /** Target p99 of the issue, ms. */
  readonly targetMs: number;
  readonly calls: number;
  readonly read: { readonly kind: 'get' } | { readonly kind: 'list'; readonly query: ListQuery; readonly deep: boolean };
}

export interface Latency {
  readonly calls: number;
  /** True when the mode's time budget ran out before `calls` were made. */
  readonly budgetHit: boolean;
  readonly seconds: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export interface ReadResult {
  readonly name: string;
  readonly what: string;
  readonly targetMs: number;
  /** Calls asked per mode. */
  readonly calls: number;
  readonly api: { readonly sequential: Latency; readonly concurrent: Latency };
  readonly driver: { readonly sequential: Latency; readonly concurrent: Latency };
  /** Messages per answer, mean (100 for a full page). */
  readonly meanPageSize: number;
}

export interface ReadContext {
  readonly url: string;
  readonly apiKey: string;
  readonly tenantId: string;
  readonly messages: Collection<Document>;
  /** Bench-tenant ids to pick from, uniformly. */
  readonly ids: readonly string[];
  readonly clients: number;
  /** Most seconds per mode: a listing the server answers in seconds stops early, with fewer calls. */
  readonly budgetSeconds: number;
}

/** One call of a client: resolves to its latency (ms) and the page's size and cursor. */
type Call = () => Promise<{ ms: number; size: number; nextAfter: string | null }>;

const PAGE = 100;
/** A deep chain follows the cursor this many pages from a random starting point, then starts anew. */
const CHAIN_PAGES = 10;

function pickId(ids: readonly string[]): string {
  const id = ids[Math.floor(Math.random() * ids.length)];
  if (id === undefined) throw new Error('no message ids to read');
  return id;
}

/** GET with a kept-alive connection; the latency covers the whole answer, not its parsing. */
function httpGet(agent: Agent, base: URL, path: string, apiKey: string): Promise<{ ms: number; body: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      { host: base.hostname, port: base.port, path, agent, headers: { authorization: `Bearer ${apiKey}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const ms = performance.now() - started;
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`GET ${path} answered ${String(res.statusCode)}: ${body.slice(0, 300)}`));
          else resolve({ ms, body });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function listPath(query: ListQuery, after: string | undefined): string {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (query.status !== undefined) params.set('status', query.status);
  if (query.tag !== undefined) params.set('tag', query.tag);
  if (query.from !== undefined) params.set('from', query.from.toISOString());
  if (query.to !== undefined) params.set('to', query.to.toISOString());
  if (after !== undefined) params.set('after', after);
  return `/v1/messages?${params.toString()}`;
}

/** The filter Journal.listMessages sends for this query, so the driver baseline reads the same documents. */
export function listFilter(tenantId: string, query: ListQuery, after: string | undefined, firstIdAt: (at: Date) => string): Document {
  const filter: Document = { tenant_id: tenantId };
  if (query.status !== undefined) filter['status'] = query.status;
  if (query.tag !== undefined) filter['tags'] = query.tag;
  const ids: Record<string, string> = {};
  if (query.from !== undefined) ids['$gte'] = firstIdAt(query.from);
  if (query.to !== undefined) ids['$lt'] = firstIdAt(query.to);
  if (after !== undefined && (ids['$lt'] === undefined || after < ids['$lt'])) ids['$lt'] = after;
  if (Object.keys(ids).length > 0) filter['_id'] = ids;
  return filter;
}

/**
 * A client's next call. A deep listing walks its own cursor chain: CHAIN_PAGES pages from
 * a random message of the tenant, each `after` the previous page's `next_after`.
 */
function makeCall(
  readCase: ReadCase,
  ctx: ReadContext,
  via: 'api' | 'driver',
  agent: Agent,
  firstIdAt: (at: Date) => string,
): Call {
  const base = new URL(ctx.url);
  const { read } = readCase;
  if (read.kind === 'get') {
    if (via === 'api') {
      return async () => {
        const id = pickId(ctx.ids);
        const { ms, body } = await httpGet(agent, base, `/v1/messages/${id}`, ctx.apiKey);
        if ((JSON.parse(body) as { id?: string }).id !== id) throw new Error(`GET /v1/messages/${id} answered another message`);
        return { ms, size: 1, nextAfter: null };
      };
    }
    return async () => {
      const id = pickId(ctx.ids);
      const started = performance.now();
      const document = await ctx.messages.findOne({ _id: id as never, tenant_id: ctx.tenantId });
      const ms = performance.now() - started;
      if (document === null) throw new Error(`message ${id} is not in the journal`);
      return { ms, size: 1, nextAfter: null };
    };
  }
  let after: string | undefined;
  let pagesLeft = 0;
  const cursor = (): string | undefined => {
    if (!read.deep) return undefined;
    if (pagesLeft === 0 || after === undefined) {
      after = pickId(ctx.ids);
      pagesLeft = CHAIN_PAGES;
    }
    pagesLeft -= 1;
    return after;
  };
  const advance = (nextAfter: string | null) => {
    after = nextAfter ?? undefined;
  };
  if (via === 'api') {
    return async () => {
      const { ms, body } = await httpGet(agent, base, listPath(read.query, cursor()), ctx.apiKey);
      const page = JSON.parse(body) as { messages: unknown[]; next_after: string | null };
      advance(page.next_after);
      return { ms, size: page.messages.length, nextAfter: page.next_after };
    };
  }
  return async () => {
    const filter = listFilter(ctx.tenantId, read.query, cursor(), firstIdAt);
    const started = performance.now();
    const documents = await ctx.messages.find(filter).sort({ _id: -1 }).limit(PAGE + 1).toArray();
    const ms = performance.now() - started;
    const nextAfter = documents.length > PAGE ? String(documents[PAGE - 1]?.['_id']) : null;
    advance(nextAfter);
    return { ms, size: Math.min(PAGE, documents.length), nextAfter };
  };
}

/**
 * `calls` calls shared by `clients` closed-loop clients, or fewer when `budgetSeconds`
 * run out first (no call starts after that); latencies and mean page size.
 */
async function drive(
  calls: number,
  clients: number,
  budgetSeconds: number,
  newCall: () => Call,
): Promise<{ latency: Latency; meanSize: number }> {
  const latencies: number[] = [];
  let started = 0;
  let sizes = 0;
  const began = performance.now();
  const deadline = began + budgetSeconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const call = newCall();
      while (started < calls && performance.now() < deadline) {
        started += 1;
        const { ms, size } = await call();
        latencies.push(ms);
        sizes += size;
      }
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  const latency = { calls: latencies.length, budgetHit: latencies.length < calls, seconds, ...summarise(latencies) };
  return { latency, meanSize: sizes / Math.max(1, latencies.length) };
}

export async function measureRead(readCase: ReadCase, ctx: ReadContext, firstIdAt: (at: Date) => string): Promise<ReadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: ctx.clients });
  try {
    const run = (via: 'api' | 'driver', clients: number) =>
      drive(readCase.calls, clients, ctx.budgetSeconds, () => makeCall(readCase, ctx, via, agent, firstIdAt));
    // A short warm-up of each path (connections, JIT), not counted.
    for (const via of ['api', 'driver'] as const) {
      await drive(Math.min(50, readCase.calls), 1, 3, () => makeCall(readCase, ctx, via, agent, firstIdAt));
    }
    const apiSequential = await run('api', 1);
    const apiConcurrent = await run('api', ctx.clients);
    const driverSequential = await run('driver', 1);
    const driverConcurrent = await run('driver', ctx.clients);
    const p = (l: Latency) => `p50 ${l.p50.toFixed(1)} / p99 ${l.p99.toFixed(1)} ms${l.budgetHit ? ` (${String(l.calls)} calls)` : ''}`;
    progress(
      `${readCase.name}: api ${p(apiSequential.latency)} (1 client), ${p(apiConcurrent.latency)} (${String(ctx.clients)}); ` +
        `driver ${p(driverSequential.latency)}, ${p(driverConcurrent.latency)}; ${formatCount(apiSequential.meanSize, 1)} per answer`,
    );
    return {
      name: readCase.name,
      what: readCase.what,
      targetMs: readCase.targetMs,
      calls: readCase.calls,
      api: { sequential: apiSequential.latency, concurrent: apiConcurrent.latency },
      driver: { sequential: driverSequential.latency, concurrent: driverConcurrent.latency },
      meanPageSize: apiSequential.meanSize,
    };
  } finally {
    agent.destroy();
  }
}

export interface ExplainSummary {
  readonly name: string;
  readonly verbosity: 'queryPlanner' | 'executionStats';
  readonly filter: Document;
  /** How long the server took to answer the explain, ms. */
  readonly ms: number;
  /** Stages of the winning plan, outermost first, with the index each scan used. */
  readonly stages: string[];
  readonly keysExamined: number | undefined;
  readonly docsExamined: number | undefined;
  readonly returned: number | undefined;
  readonly indexScan: boolean;
  /** The server's answer as it came, for what the summary leaves out. */
  readonly raw: Document;
}

function planStages(plan: unknown): string[] {
  if (typeof plan !== 'object' || plan === null) return [];
  const node = plan as Document;
  const stage = typeof node['stage'] === 'string' ? node['stage'] : undefined;
  const own = stage === undefined ? [] : [typeof node['indexName'] === 'string' ? `${stage}(${node['indexName']})` : stage];
  const children = [node['inputStage'], ...(Array.isArray(node['inputStages']) ? (node['inputStages'] as unknown[]) : [])];
  return [...own, ...children.flatMap(planStages)];
}

/**
 * `explain` of one query of a case, as the driver sends it, hinted to the index it is
 * meant to use. Unhinted, SecantusDB 0.5.3 evaluates every candidate plan — at any
 * verbosity, and past `maxTimeMS` — including a SORT of the whole tenant in memory: at
 * 1 000 000 messages that ran for minutes and grew the shared server by 10 GB. Unhinted
 * explains of the same queries on small journals chose these same indexes (docs/benchmarks.md).
 * `executionStats` runs the query itself, so it is asked after the reads.
 */
export async function explainRead(
  readCase: ReadCase,
  ctx: ReadContext,
  firstIdAt: (at: Date) => string,
  verbosity: 'queryPlanner' | 'executionStats',
  maxTimeMS: number,
): Promise<ExplainSummary> {
  const { read } = readCase;
  const filter =
    read.kind === 'get'
      ? { _id: pickId(ctx.ids), tenant_id: ctx.tenantId }
      : listFilter(ctx.tenantId, read.query, read.deep ? pickId(ctx.ids) : undefined, firstIdAt);
  const find = ctx.messages.find(filter, { maxTimeMS, hint: readCase.index });
  const cursor = read.kind === 'get' ? find.limit(1) : find.sort({ _id: -1 }).limit(PAGE + 1);
  const started = performance.now();
  let raw: Document;
  try {
    raw = await cursor.explain(verbosity);
  } catch (error) {
    raw = { failed: error instanceof Error ? error.message : String(error), afterMs: Math.round(performance.now() - started) };
  }
  const planner = raw['queryPlanner'] as Document | undefined;
  const stats = raw['executionStats'] as Document | undefined;
  const stages = planStages(planner?.['winningPlan'] ?? planner ?? raw);
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return {
    name: readCase.name,
    verbosity,
    filter,
    ms: performance.now() - started,
    stages,
    keysExamined: number(stats?.['totalKeysExamined']),
    docsExamined: number(stats?.['totalDocsExamined']),
    returned: number(stats?.['nReturned']),
    indexScan: stages.some((s) => s.startsWith('IXSCAN') || s.startsWith('IDHACK') || s.startsWith('EXPRESS')),
    raw,
  };
}
