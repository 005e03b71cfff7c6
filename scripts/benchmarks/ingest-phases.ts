// The intake phases one at a time, in this process, through the same package functions
// ingest calls: the CPU work per message (parse, validate, accept, queue payload), the
// journal alone (MongoDB) and the lane enqueue alone (Redis Lua). Each figure is a
// ceiling for that phase on this machine; the slowest one bounds the whole intake,
// and their sum of CPU per message bounds it on a 2-core machine.
import { Journal, type BatchRecord } from '@commstrat/journal';
import {
  acceptMessage,
  newId,
  toQueuedMessage,
  validateMessageRequest,
  type Message,
} from '@commstrat/core';
import { LaneWriter } from '@commstrat/queue';
import { MongoClient, type Db } from 'mongodb';
import type { BenchRun } from './bench-run.ts';
import { CpuMeter, formatCpu, type CpuReport } from './cpu-usage.ts';
import { batchEnvelope, smsMessage } from './payloads.ts';
import { formatCount, progress } from './progress.ts';

export interface PhaseResult {
  readonly phase: string;
  readonly messagesPerSecond: number;
  /** CPU of this process per message, µs (for the CPU phases: the whole cost). */
  readonly microsPerMessage: number;
  readonly detail: string;
  readonly cpu?: CpuReport;
}

/** Runs `work` for `ms` of wall time on one thread; returns messages per second and µs each. */
function cpuPhase(
  phase: string,
  ms: number,
  perRound: number,
  work: (round: number) => void,
): PhaseResult {
  let rounds = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  while (performance.now() - started < ms) work(rounds++);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const messages = rounds * perRound;
  return {
    phase,
    messagesPerSecond: messages / seconds,
    microsPerMessage: (cpu.user + cpu.system) / messages,
    detail: `${formatCount(messages)} messages on one thread`,
  };
}

/** Keeps `concurrency` operations in flight for `ms`; each resolves to the messages it handled. */
async function closedLoop(
  ms: number,
  concurrency: number,
  pids: Readonly<Record<string, number | undefined>>,
  operation: (n: number) => Promise<number>,
  perOperation: number,
): Promise<{
  messagesPerSecond: number;
  microsPerMessage: number;
  cpu: CpuReport;
  operations: number;
  perOperation: number;
}> {
  let messages = 0;
  let n = 0;
  const meter = new CpuMeter(pids);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        // Not `messages += await …`: that reads `messages` before the await and loses
        // the other loops' counts.
        const handled = await operation(n++);
        messages += handled;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    messagesPerSecond: messages / seconds,
    microsPerMessage: (cpu.user + cpu.system) / messages,
    cpu: meter.read(),
    operations: n,
    perOperation,
  };
}

function acceptedMessages(size: number, tenantId: string, requestId: string, now: Date): Message[] {
  return batchEnvelope(size).messages.map((body) =>
    acceptMessage(validateMessageRequest(body, now), { id: newId(), tenantId, batchId: requestId, now }),
  );
}

export async function measurePhases(
  run: BenchRun,
  pids: Readonly<Record<string, number | undefined>>,
  seconds: number,
): Promise<PhaseResult[]> {
  const ms = seconds * 1000;
  const results: PhaseResult[] = [];
  const now = new Date();

  progress('phases: CPU per message (parse, validate, accept, queue payload)');
  const body1000 = JSON.stringify(batchEnvelope(1000));
  results.push(
    cpuPhase(
      'JSON.parse of a 1 000-message batch body',
      ms / 2,
      1000,
      () => void (JSON.parse(body1000) as unknown),
    ),
  );
  const bodies = batchEnvelope(1000).messages;
  results.push(
    cpuPhase('validateMessageRequest (ajv + libphonenumber)', ms / 2, 1000, () => {
      for (const body of bodies) validateMessageRequest(body, now);
    }),
  );
  const validated = bodies.map((body) => validateMessageRequest(body, now));
  results.push(
    cpuPhase('acceptMessage + newId', ms / 2, 1000, () => {
      for (const request of validated)
        acceptMessage(request, { id: newId(), tenantId: 'bench', batchId: 'r', now });
    }),
  );
  const accepted = acceptedMessages(1000, 'bench', 'r', now);
  results.push(
    cpuPhase('toQueuedMessage + JSON.stringify (lane payload)', ms / 2, 1000, () => {
      for (const message of accepted) JSON.stringify(toQueuedMessage(message));
    }),
  );
  const single = JSON.stringify(smsMessage(1));
  results.push(
    cpuPhase('whole CPU path of one message (parse, validate, accept, payload)', ms / 2, 1, (i) => {
      const request = validateMessageRequest(JSON.parse(single), now);
      JSON.stringify(
        toQueuedMessage(
          acceptMessage(request, { id: newId(), tenantId: 'bench', batchId: String(i), now }),
        ),
      );
    }),
  );

  const database = run.mongoDatabase('phases');
  const mongo = new MongoClient(database.url, {
    ignoreUndefined: true,
    serverSelectionTimeoutMS: 5000,
  });
  await mongo.connect();
  try {
    const journal = new Journal(mongo.db());
    await journal.ensureIndexes();
    const lanes = new LaneWriter(run.redis, { prefix: run.redisPrefix('phases') });
    const push = (
      phase: string,
      concurrency: number,
      result: Awaited<ReturnType<typeof closedLoop>>,
      note = '',
    ) => {
      const msPerOp = (concurrency * 1000 * result.perOperation) / result.messagesPerSecond;
      results.push({
        phase,
        ...result,
        detail: `${concurrency} in flight, ${formatCount(result.operations)} operations, ${msPerOp.toFixed(1)} ms each${note}; ${formatCpu(result.cpu)}`,
      });
    };
    for (const [size, concurrency] of [
      [1, 32],
      [100, 8],
      [1000, 4],
    ] as const) {
      const templates = Array.from({ length: 16 }, () => ({
        body: batchEnvelope(size),
        messages: acceptedMessages(size, run.tenant.id, 'r', now),
      }));
      const record = (n: number): { record: BatchRecord; messages: Message[] } => {
        const template = templates[n % templates.length] ?? { body: {}, messages: [] };
        const requestId = newId();
        const messages = template.messages.map((m) => ({
          ...m,
          id: newId(),
          batch_id: requestId,
        }));
        return {
          messages,
          record: {
            _id: requestId,
            tenant_id: run.tenant.id,
            source: 'rest',
            received_at: now,
            body: template.body,
            message_ids: messages.map((m) => m.id),
            accepted_indexes: messages.map((_, i) => i),
            enqueued: false,
            rejected: [],
          },
        };
      };

      progress(
        `phases: journal.recordAccepted alone, ${size} message(s) per request, ${concurrency} in flight`,
      );
      const written: string[] = [];
      push(
        `journal.recordAccepted (insertOne request + insertMany messages), batch ${size}`,
        concurrency,
        await closedLoop(
          ms,
          concurrency,
          pids,
          async (n) => {
            const { record: request, messages } = record(n);
            await journal.recordAccepted(request, messages);
            written.push(request._id);
            return messages.length;
          },
          size,
        ),
      );

      progress(`phases: journal.markEnqueued alone (updateOne of those request documents)`);
      push(
        `journal.markEnqueued (updateOne of the request document), batch ${size}`,
        concurrency,
        await closedLoop(
          ms,
          concurrency,
          pids,
          async (n) => {
            await journal.markEnqueued([written[n % written.length] ?? '']);
            return size;
          },
          size,
        ),
        ` (request documents embed the raw body of ${size} message(s))`,
      );

      progress(
        `phases: lanes.enqueueRequest alone, ${size} message(s) per request, ${concurrency} in flight`,
      );
      push(
        `lanes.enqueueRequest (Lua: guard + XADD each), batch ${size}`,
        concurrency,
        await closedLoop(
          ms,
          concurrency,
          pids,
          async (n) => {
            const template = templates[n % templates.length];
            await lanes.enqueueBatch(
              newId(),
              (template?.messages ?? []).map((message) => ({ message: toQueuedMessage(message) })),
            );
            return size;
          },
          size,
        ),
      );
      await run.deleteRedisKeys(lanes.keys.prefix);
    }

    const growth = run.mongoDatabase('growth');
    results.push(
      ...(await markEnqueuedVersusJournalSize(mongo.db(growth.name), run.tenant.id, now)),
    );
    await run.dropMongo(growth.url);

    const template = acceptedMessages(1000, run.tenant.id, 'r', now);
    progress('phases: messages insertMany alone, no indexes, no request document');
    const messagesOnly = mongo.db().collection<{ _id: string }>('messages_only');
    push(
      'messages insertMany only (no indexes, no request document), batch 1000',
      4,
      await closedLoop(
        ms,
        4,
        pids,
        async () => {
          await messagesOnly.insertMany(
            template.map(({ id: _id, ...rest }) => ({ ...rest, _id: newId() })),
            { ordered: false },
          );
          return template.length;
        },
        1000,
      ),
    );
    // The same request document with and without the raw body it embeds today.
    type RequestShape = { _id: string; body?: unknown; message_ids: string[]; enqueued: boolean };
    const body1000Parsed = batchEnvelope(1000);
    progress('phases: request insertOne with the raw body');
    const withBody = mongo.db().collection<RequestShape>('requests_with_body');
    push(
      'request insertOne with the raw body (as journaled today), batch 1000',
      4,
      await closedLoop(
        ms,
        4,
        pids,
        async () => {
          await withBody.insertOne({
            _id: newId(),
            body: body1000Parsed,
            message_ids: template.map(() => newId()),
            enqueued: false,
          });
          return template.length;
        },
        1000,
      ),
    );
    progress('phases: request insertOne without the raw body');
    const bodiless = mongo.db().collection<RequestShape>('requests_without_body');
    push(
      'request insertOne without the raw body (ids only), batch 1000',
      4,
      await closedLoop(
        ms,
        4,
        pids,
        async () => {
          await bodiless.insertOne({
            _id: newId(),
            message_ids: template.map(() => newId()),
            enqueued: false,
          });
          return template.length;
        },
        1000,
      ),
    );
  } finally {
    await mongo.close();
  }
  await run.dropMongo(database.url);
  return results;
}

/**
 * How one `markEnqueued` (updateOne by _id) costs as the journal grows: the intake pays
 * it once per request. Fills a fresh database with single-message request documents
 * and times the update of the newest one, and records the server's query plan for it.
 */
async function markEnqueuedVersusJournalSize(
  db: Db,
  tenantId: string,
  now: Date,
): Promise<PhaseResult[]> {
  const journal = new Journal(db);
  await journal.ensureIndexes();
  const requests = db.collection<BatchRecord>('requests');
  const results: PhaseResult[] = [];
  let size = 0;
  let newest = '';
  for (const target of [1000, 5000, 20_000]) {
    progress(`phases: journal.markEnqueued with ${formatCount(target)} requests journaled`);
    while (size < target) {
      const batch = Array.from({ length: 1000 }, (): BatchRecord => {
        const id = newId();
        return {
          _id: id,
          tenant_id: tenantId,
          source: 'rest',
          received_at: now,
          body: smsMessage(size),
          message_ids: [newId()],
          accepted_indexes: [0],
          enqueued: false,
          rejected: [],
        };
      });
      await requests.insertMany(batch);
      size += batch.length;
      newest = batch.at(-1)?._id ?? newest;
    }
    const started = performance.now();
    const rounds = 5;
    for (let i = 0; i < rounds; i += 1) await journal.markEnqueued([newest]);
    const ms = (performance.now() - started) / rounds;
    const explain = (await db
      .command({
        explain: {
          update: 'requests',
          updates: [{ q: { _id: newest }, u: { $set: { enqueued: true } } }],
        },
      })
      .catch(() => ({}))) as { queryPlanner?: { Plan?: string[] } };
    results.push({
      phase: `journal.markEnqueued with ${formatCount(target)} requests journaled`,
      messagesPerSecond: 1000 / ms,
      microsPerMessage: Number.NaN,
      detail: `${ms.toFixed(1)} ms per update, one at a time; server plan: ${explain.queryPlanner?.Plan?.join(' | ') ?? 'n/a'}`,
    });
  }
  return results;
}
