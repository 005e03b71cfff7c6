// Baseline (a) of `scripts/bench dispatcher`: the journal's own ceiling. The same
// conditional status writes the dispatcher's journal makes for sent batches — the
// `updateMany` per batch of `statusChangeOperations` (filter on the states `sent` may
// be reached from, the pipeline that appends `sending` and `sent` and picks each
// message's own provider id from its exchange) — against the same indexes
// (`Journal.ensureIndexes`), written by the driver alone, with no dispatcher, Redis or
// provider in the way. Swept over batches per bulk write and writes in flight, with short
// points; the fastest point's settings are then run again over as many messages as a
// dispatch case sends (`sustainedMessages`): that sustained run is the ceiling (a). A
// point of the sweep lasts about a second, so the fastest of them is the luckiest of
// several noisy samples (checkpoints, other users of the machine) and overstates what
// the server keeps up over the dispatch case's half minute: in run
// 20261207t145716_232d the sweep's points ranged 3 500–6 900 msg/s. Then the same
// settings again with the provider exchanges inserted beside each write, as the
// journal's group commit writes them: the whole of what a dispatcher's outcome write
// costs the server.
import { newId, type StatusEvent } from '@commstrat/core';
import { Journal, statusChangeOperations, type ProviderExchange, type StatusChange } from '@commstrat/journal';
import { MongoClient, type Db } from 'mongodb';
import type { CaseContext } from './dispatcher-cases.ts';
import { CpuMeter, type CpuReport } from './cpu-usage.ts';
import { fillQueuedJournal } from './queued-journal.ts';
import { formatCount, progress } from './progress.ts';

export interface CeilingPoint {
  /** Provider batches (one `updateMany` each) per bulk write. */
  readonly batchesPerWrite: number;
  /** Bulk writes in flight at once. */
  readonly inFlight: number;
  /** With the batch's provider exchange inserted beside each write. */
  readonly withExchanges: boolean;
  readonly messages: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** MongoDB server CPU per updated message, µs. */
  readonly mongoUsPerMessage: number;
  readonly cpu: CpuReport;
}

export interface CeilingResult {
  readonly journaled: number;
  readonly fillSeconds: number;
  /** Messages per provider batch, as the bench's routing sends them. */
  readonly batchSize: number;
  readonly points: readonly CeilingPoint[];
  /** The fastest point of the sweep (short, without exchanges): whose settings the sustained runs use. */
  readonly best: CeilingPoint;
  /** The best point's settings over `sustainedMessages`, without exchanges: baseline (a). */
  readonly sustained: CeilingPoint;
  /** The same, with exchanges. */
  readonly sustainedWithExchanges: CeilingPoint;
}

export interface CeilingSettings {
  /** Messages updated per sweep point. */
  readonly messagesPerPoint: number;
  /** Messages updated by each sustained run at the best point's settings (a dispatch case's size). */
  readonly sustainedMessages: number;
  readonly batchesPerWrite: readonly number[];
  readonly inFlight: readonly number[];
  readonly batchSize: number;
}

/** A sent batch as the dispatcher records it (batch-recorder.ts): one exchange, shared `sending` and `sent` events. */
function sentBatch(ids: readonly string[], now: Date): { exchange: ProviderExchange; changes: StatusChange[] } {
  const exchangeId = newId();
  const sending: StatusEvent = {
    status: 'sending',
    at: now,
    provider: 'sandbox',
    exchange_id: exchangeId,
    strategy: 'sms-default',
    strategy_version: 1,
    step: 0,
  };
  const sent: StatusEvent = { status: 'sent', at: now, provider: 'sandbox', exchange_id: exchangeId, step: 0 };
  const providerIds = ids.map((id) => `sbx-${id.slice(-12).toLowerCase()}`);
  // Bodies of the sandbox's batch API, about the size the HTTP SMS adapter journals.
  const request = JSON.stringify({
    messages: ids.map((id) => ({ client_ref: id, to: '+79161234567', text: 'Your code is 1234. Do not share it with anyone.', sender: 'commstrat' })),
  });
  const response = JSON.stringify({
    results: ids.map((id, i) => ({ client_ref: id, status: 'accepted', message_id: providerIds[i] })),
  });
  return {
    exchange: {
      _id: exchangeId,
      provider: 'bench/sandbox',
      message_ids: ids.slice(),
      request,
      response,
      http_status: 200,
      outcome: 'accepted',
      started_at: now,
      duration_ms: 3,
      provider_message_ids: providerIds,
    },
    changes: ids.flatMap((messageId) => [
      { messageId, event: sending },
      { messageId, event: sent },
    ]),
  };
}

/** Updates `ids` (all queued) to sent as the sweep point says; every one must change. */
async function runPoint(
  db: Db,
  ids: readonly string[],
  point: Pick<CeilingPoint, 'batchesPerWrite' | 'inFlight' | 'withExchanges'>,
  batchSize: number,
  mongoPid: number | undefined,
): Promise<CeilingPoint> {
  const messages = db.collection('messages');
  const exchanges = db.collection<ProviderExchange>('provider_exchanges');
  const perWrite = point.batchesPerWrite * batchSize;
  let next = 0;
  let modified = 0;
  const meter = new CpuMeter({ mongodb: mongoPid });
  const started = performance.now();
  const writer = async () => {
    while (next < ids.length) {
      const slice = ids.slice(next, next + perWrite);
      next += slice.length;
      const now = new Date();
      const batches = [];
      for (let i = 0; i < slice.length; i += batchSize) batches.push(sentBatch(slice.slice(i, i + batchSize), now));
      const records = batches.map((b) => b.exchange);
      const operations = statusChangeOperations(batches.flatMap((b) => b.changes), records, now);
      const [result] = await Promise.all([
        messages.bulkWrite(operations, { ordered: false }),
        point.withExchanges ? exchanges.insertMany(records, { ordered: false }) : undefined,
      ]);
      modified += result.modifiedCount;
    }
  };
  await Promise.all(Array.from({ length: point.inFlight }, writer));
  const seconds = (performance.now() - started) / 1000;
  const cpu = meter.read();
  if (modified !== ids.length) throw new Error(`journal ceiling: ${modified} of ${ids.length} messages changed`);
  return {
    ...point,
    messages: ids.length,
    seconds,
    perSecond: ids.length / seconds,
    mongoUsPerMessage: ((cpu.processes['mongodb'] ?? Number.NaN) * seconds * 1e6) / ids.length,
    cpu,
  };
}

export function formatPoint(p: CeilingPoint): string {
  return (
    `${p.batchesPerWrite} batch(es) per write, ${p.inFlight} in flight${p.withExchanges ? ', with exchanges' : ''}: ` +
    `${formatCount(p.perSecond)} msg/s (${formatCount(p.messages)} in ${p.seconds.toFixed(1)} s), MongoDB ${formatCount(p.mongoUsPerMessage)} µs per message`
  );
}

export async function journalCeiling(ctx: CaseContext, settings: CeilingSettings): Promise<CeilingResult> {
  const grid = settings.batchesPerWrite.flatMap((batchesPerWrite) =>
    settings.inFlight.map((inFlight) => ({ batchesPerWrite, inFlight })),
  );
  // Each point updates messages of its own; the best point's settings are run again over
  // `sustainedMessages`, without and with exchanges.
  const total = settings.messagesPerPoint * grid.length + 2 * settings.sustainedMessages;
  const mongo = ctx.run.mongoDatabase('ceiling');
  const client = new MongoClient(mongo.url, { ignoreUndefined: true });
  try {
    await client.connect();
    const db = client.db();
    const journal = new Journal(db);
    await journal.ensureIndexes();
    const filled = await fillQueuedJournal(journal, total, { tenantId: ctx.run.tenant.id, label: 'journal ceiling' });
    progress(`journal ceiling: ${formatCount(total)} queued messages journaled in ${filled.seconds.toFixed(1)} s; sweeping ${grid.length} points`);
    const points: CeilingPoint[] = [];
    let offset = 0;
    const slice = (count: number) => {
      const ids = filled.ids.slice(offset, offset + count);
      offset += count;
      return ids;
    };
    for (const point of grid) {
      const result = await runPoint(db, slice(settings.messagesPerPoint), { ...point, withExchanges: false }, settings.batchSize, ctx.stackPids['mongodb']);
      progress(`journal ceiling: ${formatPoint(result)}`);
      points.push(result);
    }
    const best = points.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
    const sustainedRun = async (withExchanges: boolean) => {
      progress(`journal ceiling: the best point's settings over ${formatCount(settings.sustainedMessages)} messages${withExchanges ? ', with exchanges' : ''}`);
      const result = await runPoint(db, slice(settings.sustainedMessages), { batchesPerWrite: best.batchesPerWrite, inFlight: best.inFlight, withExchanges }, settings.batchSize, ctx.stackPids['mongodb']);
      progress(`journal ceiling: sustained ${formatPoint(result)}`);
      return result;
    };
    const sustained = await sustainedRun(false);
    const sustainedWithExchanges = await sustainedRun(true);
    return { journaled: total, fillSeconds: filled.seconds, batchSize: settings.batchSize, points, best, sustained, sustainedWithExchanges };
  } finally {
    await client.close();
    await ctx.run.dropMongo(mongo.url).catch(() => undefined);
  }
}
