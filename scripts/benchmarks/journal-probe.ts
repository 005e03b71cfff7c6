// What the journal allows a critical message in the critical-latency case: while the
// critical messages go through ingest, the bench journals one critical message of its
// own at the same pace, through the driver as ingest does (`Journal.recordAccepted`, a
// client of its own, a database of its own on the same server), and times each write.
// A critical message from the POST waits for at least one such write (ingest journals
// it before its 202; the dispatcher's record of the critical batch before it no longer
// holds it up, apps/dispatcher/src/sender.ts), so this write's p99 is about the least
// the journal lets its p99 be.
import { acceptMessage, newId, validateMessageRequest } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import { MongoClient } from 'mongodb';
import type { BenchRun } from './bench-run.ts';
import { smsMessage } from './payloads.ts';
import { sleep } from './progress.ts';

export interface JournalProbe {
  /** Stops probing; resolves with each write's latency, ms. */
  stop(): Promise<number[]>;
}

export async function startJournalProbe(run: BenchRun, paceMs: number): Promise<JournalProbe> {
  const mongo = run.mongoDatabase('probe');
  const client = new MongoClient(mongo.url, { ignoreUndefined: true, maxPoolSize: 4 });
  await client.connect();
  const journal = new Journal(client.db());
  await journal.ensureIndexes();
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i += 1) {
      const started = Date.now();
      const now = new Date();
      const requestId = newId();
      const message = acceptMessage(validateMessageRequest({ ...smsMessage(9_000_000 + i), priority: 'critical' }, now), {
        id: newId(),
        tenantId: run.tenant.id,
        batchId: requestId,
        now,
      });
      await journal.recordAccepted(
        { _id: requestId, tenant_id: run.tenant.id, source: 'rest', received_at: now, body: {}, message_ids: [message.id], enqueued: true },
        [message],
      );
      latencies.push(Date.now() - started);
      await sleep(Math.max(0, started + paceMs - Date.now()));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.close();
      await run.dropMongo(mongo.url).catch(() => undefined);
      return latencies;
    },
  };
}
