// The ledger: reconciles, for one run, what producers were told was accepted, what the
// journal holds, what each provider received and where every message ended, and names
// the messages that were lost, duplicated or stuck. Used by `scripts/ledger`, by the
// fault tests (tests/integration/src/faults-*.test.ts) and by `scripts/bench soak`.
import { appendFileSync, readFileSync } from 'node:fs';
import { PRIORITIES, type Priority } from '@commstrat/core';
import { QueueKeys, decodeStreamEntry, entryMessageId } from '@commstrat/queue';
import type { Redis } from 'ioredis';
import type { Db } from 'mongodb';

/** Where a message ends for the ledger: a terminal state, or `sent` (no receipts yet). */
export const FINISHED_STATES: ReadonlySet<string> = new Set(['delivered', 'failed', 'expired', 'cancelled', 'rejected', 'sent']);

/**
 * What producers were told was accepted. REST: the ids of `202` answers. Kafka: the batch
 * ids (`kafka:<topic>:<partition>:<offset>`) of records the broker acknowledged to the
 * producer; the journal's request of each names its messages.
 */
export interface Accepted {
  readonly rest: readonly string[];
  readonly kafkaBatchIds: readonly string[];
}

/** One line of an accepted-ids file: `{"rest":"<id>"}` or `{"kafka":"<batch id>"}`. */
type AcceptedLine = { readonly rest: string } | { readonly kafka: string };

/** Appends what producers were told to a file, one JSON object a line (the load generator's log). */
export class AcceptedLog {
  private readonly path: string;
  constructor(path: string) {
    this.path = path;
  }
  rest(ids: readonly string[]): void {
    if (ids.length > 0) appendFileSync(this.path, ids.map((id) => `${JSON.stringify({ rest: id })}\n`).join(''));
  }
  kafka(batchIds: readonly string[]): void {
    if (batchIds.length > 0) appendFileSync(this.path, batchIds.map((id) => `${JSON.stringify({ kafka: id })}\n`).join(''));
  }
}

export function readAcceptedLog(path: string): Accepted {
  const rest: string[] = [];
  const kafka: string[] = [];
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new Error(`cannot read the accepted-ids file ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const entry = JSON.parse(line) as AcceptedLine;
    if ('rest' in entry && typeof entry.rest === 'string') rest.push(entry.rest);
    else if ('kafka' in entry && typeof entry.kafka === 'string') kafka.push(entry.kafka);
    else throw new Error(`${path}:${index + 1}: expected {"rest": id} or {"kafka": batch id}, got ${line}`);
  }
  return { rest, kafkaBatchIds: kafka };
}

/** What a provider received: the message id it was sent as (`client_ref`), once per arrival. */
export interface Arrival {
  readonly client_ref: string | undefined;
  /** When the request carrying it arrived (ms) and which request it was, where the provider tells. */
  readonly received_at?: number;
  readonly request_seq?: number;
}

/** Every arrival a sandbox provider kept, oldest first, paged over `GET /_sandbox/received`. */
export async function fetchSandboxArrivals(baseUrl: string): Promise<Arrival[]> {
  const arrivals: Arrival[] = [];
  for (let offset = 0; ; ) {
    const response = await fetch(`${baseUrl}/_sandbox/received?offset=${offset}&limit=10000`);
    if (!response.ok) throw new Error(`${baseUrl}/_sandbox/received answered ${response.status}: ${await response.text()}`);
    const page = (await response.json()) as { messages: Arrival[] };
    arrivals.push(...page.messages);
    if (page.messages.length < 10000) return arrivals;
    offset += page.messages.length;
  }
}

export interface LedgerSources {
  /** The journal's database. */
  readonly db: Db;
  /** The deployment's Redis and key prefix: where an unfinished message may still wait. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly accepted: Accepted;
  /** Everything the providers received (all of them, together). */
  readonly arrivals: () => Promise<readonly Arrival[]>;
  /**
   * Extra arrivals allowed beyond one per message: the at-least-once bound. A crash
   * between send and ack resends at most the batches that replica had in flight, so a
   * run with k dispatcher crashes allows k × (concurrency + 1) × max_batch_size. Default 0.
   */
  readonly duplicateBound?: number;
}

export interface LedgerReport {
  readonly accepted: number;
  readonly journaled: number;
  /** Accepted messages by their current status in the journal. */
  readonly byStatus: Readonly<Record<string, number>>;
  /** Accepted but not journaled, or journaled, unfinished and nowhere in Redis. */
  readonly lost: readonly { id: string; reason: string }[];
  /** Unfinished, in Redis, and not waiting for a future time (send_at, window, retry). */
  readonly stuck: readonly { id: string; status: string }[];
  /** Unfinished and waiting in the delayed set for a time still ahead. */
  readonly waiting: number;
  /** Messages a provider received more than once, and how often. */
  readonly duplicates: readonly { id: string; count: number }[];
  /** Arrivals beyond one per message, against the bound. */
  readonly duplicateArrivals: number;
  readonly duplicateBound: number;
  /** Journaled `sent` but no provider received it: the journal would be lying. */
  readonly sentNotReceived: readonly string[];
  /** True when lost = 0, stuck = 0 and duplicates are within the bound. */
  readonly ok: boolean;
}

/** Runs the reconciliation once, as things stand at `now` (ms). */
export async function reconcile(sources: LedgerSources, now = Date.now()): Promise<LedgerReport> {
  const lost: { id: string; reason: string }[] = [];
  const ids = new Set(sources.accepted.rest);
  for (const chunk of chunks(unique(sources.accepted.kafkaBatchIds), 5000)) {
    const requests = await sources.db
      .collection<{ _id: string; message_ids: string[] }>('requests')
      .find({ _id: { $in: chunk } }, { projection: { message_ids: 1 } })
      .toArray();
    const found = new Set(requests.map((request) => request._id));
    for (const batchId of chunk) if (!found.has(batchId)) lost.push({ id: batchId, reason: 'Kafka record acknowledged to its producer, no request journaled' });
    for (const request of requests) for (const id of request.message_ids) ids.add(id);
  }

  const status = new Map<string, string>();
  for (const chunk of chunks([...ids], 5000)) {
    const documents = await sources.db
      .collection<{ _id: string; status: string }>('messages')
      .find({ _id: { $in: chunk } }, { projection: { status: 1 } })
      .toArray();
    for (const document of documents) status.set(document._id, document.status);
  }
  const unfinished = [...ids].filter((id) => status.has(id) && !FINISHED_STATES.has(status.get(id) ?? ''));
  const inRedis = unfinished.length === 0 ? { lanes: new Set<string>(), due: new Map<string, number>() } : await redisHoldings(sources.redis, sources.prefix);

  const stuck: { id: string; status: string }[] = [];
  let waiting = 0;
  const byStatus: Record<string, number> = {};
  for (const id of ids) {
    const current = status.get(id);
    if (current === undefined) {
      lost.push({ id, reason: 'accepted, not in the journal' });
      continue;
    }
    byStatus[current] = (byStatus[current] ?? 0) + 1;
    if (FINISHED_STATES.has(current)) continue;
    const due = inRedis.due.get(id);
    if (due !== undefined && due > now) waiting += 1;
    else if (due !== undefined || inRedis.lanes.has(id)) stuck.push({ id, status: current });
    else lost.push({ id, reason: `journaled ${current}, neither finished nor in Redis` });
  }

  const counts = new Map<string, number>();
  for (const arrival of await sources.arrivals()) {
    if (arrival.client_ref !== undefined) counts.set(arrival.client_ref, (counts.get(arrival.client_ref) ?? 0) + 1);
  }
  const duplicates = [...counts].filter(([id, count]) => count > 1 && ids.has(id)).map(([id, count]) => ({ id, count }));
  const duplicateArrivals = duplicates.reduce((sum, { count }) => sum + count - 1, 0);
  const duplicateBound = sources.duplicateBound ?? 0;
  const sentNotReceived = [...ids].filter((id) => status.get(id) === 'sent' && !counts.has(id));
  for (const id of sentNotReceived) lost.push({ id, reason: 'journaled sent, no provider received it' });
  return {
    accepted: ids.size,
    journaled: status.size,
    byStatus,
    lost,
    stuck,
    waiting,
    duplicates,
    duplicateArrivals,
    duplicateBound,
    sentNotReceived,
    ok: lost.length === 0 && stuck.length === 0 && duplicateArrivals <= duplicateBound,
  };
}

/**
 * Reconciles until every message finished, or `timeoutMs` passed: what is then still
 * unfinished is stuck, unless it waits in the delayed set for a time still ahead (its
 * send_at, window or retry). A message lost stays lost however long one waits, but one
 * whose journal write is a moment behind its Redis move is not: so "lost" is only final
 * once the run has settled too.
 */
export async function settle(sources: LedgerSources, timeoutMs: number, intervalMs = 250): Promise<LedgerReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await reconcile(sources);
    if ((report.stuck.length === 0 && report.lost.length === 0 && report.waiting === 0) || Date.now() >= deadline) return report;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The report as a few lines for a person, naming at most `limit` ids per finding. */
export function formatReport(report: LedgerReport, limit = 20): string {
  const ids = (list: readonly string[]) => (list.length === 0 ? '' : `: ${list.slice(0, limit).join(', ')}${list.length > limit ? ', …' : ''}`);
  const statuses = Object.entries(report.byStatus).sort().map(([name, count]) => `${name} ${count}`).join(', ');
  return [
    `ledger: accepted ${report.accepted}, journaled ${report.journaled} (${statuses || 'none'}), waiting ${report.waiting}`,
    `  lost ${report.lost.length}${ids(report.lost.map(({ id, reason }) => `${id} (${reason})`))}`,
    `  stuck ${report.stuck.length}${ids(report.stuck.map(({ id, status }) => `${id} (${status})`))}`,
    `  duplicated ${report.duplicates.length} messages, ${report.duplicateArrivals} extra arrivals (bound ${report.duplicateBound})` +
      ids(report.duplicates.map(({ id, count }) => `${id} ×${count}`)),
    `  ${report.ok ? 'OK' : 'NOT OK'}`,
  ].join('\n');
}

/**
 * Message ids in the lanes (pending or not yet delivered) and the delayed set's due times,
 * read with the queue's own keys and codec (both formats of entry-codec.ts, both layouts
 * of the delayed set).
 */
async function redisHoldings(redis: Redis, prefix: string): Promise<{ lanes: Set<string>; due: Map<string, number> }> {
  const keys = new QueueKeys(prefix);
  const lanes = new Set<string>();
  for (const lane of PRIORITIES) {
    // Acknowledged entries stay until the next trim; they are finished messages and
    // only make the set larger, never change a verdict (finished ones are not looked up).
    for (let start = '-'; ; ) {
      const entries = await redis.xrange(keys.lane(lane), start, '+', 'COUNT', 5000);
      for (const [, fields] of entries) lanes.add(decodeStreamEntry(fields).id);
      if (entries.length < 5000) break;
      start = `(${entries.at(-1)?.[0] ?? ''}`;
    }
  }
  const due = new Map<string, number>();
  for (const [key, idOf] of [
    [keys.delayed, entryMessageId],
    [keys.legacyDelayed, (id: string) => id],
  ] as const) {
    const flat = await redis.zrange(key, 0, -1, 'WITHSCORES');
    for (let i = 0; i + 1 < flat.length; i += 2) due.set(idOf(flat[i] ?? ''), Number(flat[i + 1]));
  }
  return { lanes, due };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}

/**
 * Everything that can tell why one message did not finish: its journal document (status
 * and timeline), its request (the recovery pass's `enqueued` flag), its lane entries with
 * their consumer-group state (pending on which consumer, idle for how long, delivered how
 * often; or not yet delivered), the group's last delivered id, the request's enqueue
 * guard, the sending and cancel markers and the delayed set. What the ledger prints for
 * each lost or stuck message it names, so a failed fault test carries its own evidence.
 */
export interface MessageEvidence {
  readonly id: string;
  readonly journal: { status: string; timeline: readonly unknown[]; batch_id: unknown } | null;
  readonly request: { enqueued: unknown; received_at: unknown } | null;
  readonly guard: boolean | undefined;
  readonly lanes: readonly {
    lane: string;
    entryId: string;
    pending: { consumer: string; idleMs: number; deliveries: number } | null;
    lastDeliveredId: string | null;
  }[];
  readonly sendingMarker: string | null;
  readonly cancelMarker: string | null;
  readonly delayedDueAt: number | null;
}

export async function explain(
  sources: Pick<LedgerSources, 'db' | 'redis' | 'prefix'>,
  ids: readonly string[],
  group = 'dispatchers',
): Promise<MessageEvidence[]> {
  if (ids.length === 0) return [];
  const { db, redis, prefix } = sources;
  const keys = new QueueKeys(prefix);
  const wanted = new Set(ids);
  const found = new Map<string, { lane: Priority; entryId: string }[]>();
  const lastDelivered = new Map<string, string | null>();
  for (const lane of PRIORITIES) {
    const key = keys.lane(lane);
    for (let start = '-'; ; ) {
      const entries = await redis.xrange(key, start, '+', 'COUNT', 5000);
      for (const [entryId, fields] of entries) {
        const id = decodeStreamEntry(fields).id;
        if (wanted.has(id)) found.set(id, [...(found.get(id) ?? []), { lane, entryId }]);
      }
      if (entries.length < 5000) break;
      start = `(${entries.at(-1)?.[0] ?? ''}`;
    }
    const groups = (await redis.xinfo('GROUPS', key).catch(() => [])) as unknown[][];
    for (const fields of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
      if (info.get('name') === group) lastDelivered.set(lane, String(info.get('last-delivered-id')));
    }
  }
  // Due times in the delayed set, found by the id in each entry (read once: evidence is for a few ids).
  const delayed = new Map<string, number>();
  const flat = await redis.zrange(keys.delayed, 0, -1, 'WITHSCORES');
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const id = entryMessageId(flat[i] ?? '');
    if (wanted.has(id)) delayed.set(id, Number(flat[i + 1]));
  }
  const evidence: MessageEvidence[] = [];
  for (const id of ids) {
    const message = await db.collection<{ _id: string } & Record<string, unknown>>('messages').findOne({ _id: id });
    // The batch id is stored as `request_id` (its 0.1 name; packages/journal MessageDocument).
    const batchId = message?.['request_id'];
    const request = typeof batchId === 'string' ? await db.collection<{ _id: string } & Record<string, unknown>>('requests').findOne({ _id: batchId }) : null;
    const lanes = [];
    for (const { lane, entryId } of found.get(id) ?? []) {
      const pending = (await redis.xpending(keys.lane(lane), group, entryId, entryId, 1)) as [string, string, number, number][];
      const [, consumer, idleMs, deliveries] = pending[0] ?? [];
      lanes.push({
        lane,
        entryId,
        pending: consumer === undefined ? null : { consumer, idleMs: Number(idleMs), deliveries: Number(deliveries) },
        lastDeliveredId: lastDelivered.get(lane) ?? null,
      });
    }
    const legacyDue = await redis.zscore(keys.legacyDelayed, id);
    const due = delayed.get(id) ?? (legacyDue === null ? null : Number(legacyDue));
    evidence.push({
      id,
      journal: message === null ? null : { status: String(message['status']), timeline: (message['timeline'] as unknown[] | undefined) ?? [], batch_id: batchId },
      request: request === null ? null : { enqueued: request['enqueued'], received_at: request['received_at'] },
      guard: typeof batchId === 'string' ? (await redis.exists(keys.enqueueGuard(batchId))) === 1 : undefined,
      lanes,
      sendingMarker: await redis.hget(keys.sending, id),
      cancelMarker: await redis.hget(keys.cancelled, id),
      delayedDueAt: due,
    });
  }
  return evidence;
}

/** The evidence of at most `limit` lost or stuck messages of a report, one JSON line each. */
export async function explainReport(sources: Pick<LedgerSources, 'db' | 'redis' | 'prefix'>, report: LedgerReport, limit = 10): Promise<string> {
  const ids = [...report.stuck.map(({ id }) => id), ...report.lost.map(({ id }) => id)].slice(0, limit);
  const evidence = await explain(sources, ids);
  return evidence.map((item) => `  evidence ${JSON.stringify(item)}`).join('\n');
}

/**
 * Where each extra arrival of the most duplicated messages came from: every arrival
 * (which provider request, when) against the provider exchanges the journal recorded
 * for the message (an arrival with no exchange was sent by a replica that died before
 * journaling it), and the lane it travelled in. One JSON line each, at most `limit`.
 */
export async function explainDuplicates(
  db: Db,
  report: LedgerReport,
  arrivals: readonly Arrival[],
  limit = 10,
): Promise<string> {
  const worst = [...report.duplicates].sort((a, b) => b.count - a.count).slice(0, limit);
  const lines: string[] = [];
  for (const { id, count } of worst) {
    const message = await db.collection<{ _id: string } & Record<string, unknown>>('messages').findOne({ _id: id }, { projection: { priority: 1, status: 1 } });
    const exchanges = await db
      .collection<{ _id: string } & Record<string, unknown>>('provider_exchanges')
      .find({ message_ids: id }, { projection: { started_at: 1, duration_ms: 1, outcome: 1 } })
      .toArray();
    lines.push(
      `  duplicate ${JSON.stringify({
        id,
        count,
        lane: message?.['priority'],
        status: message?.['status'],
        arrivals: arrivals.filter((a) => a.client_ref === id).map((a) => ({ at: a.received_at, request: a.request_seq })),
        journaled_exchanges: exchanges.map((e) => ({ at: e['started_at'], ms: e['duration_ms'], outcome: e['outcome'] })),
      })}`,
    );
  }
  return lines.join('\n');
}
