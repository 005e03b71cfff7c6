// One BullMQ worker process of the baseline: what a user would write instead of
// commstrat's dispatcher — a Worker whose processor sends each job to the SMS provider,
// one message per HTTP request (`POST /v1/sms/send` of the sandbox). With `mongoUrl`,
// it also records each job's outcome in that job's own MongoDB document before the job
// completes, as services built on BullMQ and MongoDB do (Novu: one document per job,
// updated per job): the conditional update the journal would make for one message,
// sent alone. Its settings come as one JSON argument from the bench, so it reads no
// environment.
import { allowedFrom, type StatusEvent } from '@commstrat/core';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';

interface WorkerSettings {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly sandboxUrl: string;
  readonly sandboxToken: string;
  /** Where each job's message document is (collection `messages`); absent: no journal. */
  readonly mongoUrl?: string;
}

interface SmsJob {
  /** The job's message document, when there is a journal. */
  readonly id?: string;
  readonly to: string;
  readonly text: string;
}

const settings = JSON.parse(process.argv[2] ?? '{}') as WorkerSettings;
// BullMQ requires maxRetriesPerRequest null on a worker's (blocking) connection.
const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
let completed = 0;
const mongo = settings.mongoUrl === undefined ? undefined : new MongoClient(settings.mongoUrl, { ignoreUndefined: true });
const messages = mongo?.db().collection<{ _id: string }>('messages');
const SENT_FROM = [...allowedFrom('sent')];

/** The job's document goes to `sent` with its provider id, `sending` and `sent` appended. */
async function recordSent(id: string, providerMessageId: string, startedAt: Date): Promise<void> {
  if (messages === undefined) return;
  const now = new Date();
  const sending: StatusEvent = { status: 'sending', at: startedAt, provider: 'sandbox', strategy: 'sms-default', strategy_version: 1, step: 0 };
  const sent: StatusEvent = { status: 'sent', at: now, provider: 'sandbox', provider_message_id: providerMessageId, step: 0 };
  const result = await messages.updateOne(
    { _id: id, status: { $in: SENT_FROM } },
    {
      $set: { status: 'sent', updated_at: now, provider: 'sandbox', provider_message_id: providerMessageId, strategy: 'sms-default', strategy_version: 1, step: 0, callback_due: true },
      $push: { timeline: { $each: [sending, sent] } },
    },
  );
  if (result.modifiedCount !== 1) throw new Error(`message ${id} was not updated`);
}

const worker = new Worker<SmsJob>(
  settings.queue,
  async (job) => {
    const startedAt = new Date();
    const response = await fetch(`${settings.sandboxUrl}/v1/sms/send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${settings.sandboxToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ client_ref: job.data.id ?? job.id, to: job.data.to, text: job.data.text }),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`provider answered ${response.status}: ${body}`);
    if (job.data.id !== undefined) await recordSent(job.data.id, (JSON.parse(body) as { message_id: string }).message_id, startedAt);
    completed += 1;
  },
  {
    connection,
    prefix: settings.prefix,
    concurrency: settings.concurrency,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 1000 },
  },
);
worker.on('error', (error) => process.stderr.write(`worker error: ${error.message}\n`));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void worker
      .close()
      .then(() => connection.quit())
      .then(() => mongo?.close())
      .finally(() => {
        process.stdout.write(`${JSON.stringify({ completed })}\n`);
        process.exit(0);
      });
  });
}
