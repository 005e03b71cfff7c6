// One BullMQ worker process of the baseline: what a user would write instead of
// commstrat's dispatcher — a Worker whose processor sends each job to the SMS provider,
// one message per HTTP request (`POST /v1/sms/send` of the sandbox). Its settings come
// as one JSON argument from the bench, so it reads no environment.
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

interface WorkerSettings {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly queue: string;
  readonly concurrency: number;
  readonly sandboxUrl: string;
  readonly sandboxToken: string;
}

interface SmsJob {
  readonly to: string;
  readonly text: string;
}

const settings = JSON.parse(process.argv[2] ?? '{}') as WorkerSettings;
// BullMQ requires maxRetriesPerRequest null on a worker's (blocking) connection.
const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: null });
let completed = 0;

const worker = new Worker<SmsJob>(
  settings.queue,
  async (job) => {
    const response = await fetch(`${settings.sandboxUrl}/v1/sms/send`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${settings.sandboxToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ client_ref: job.id, to: job.data.to, text: job.data.text }),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`provider answered ${response.status}: ${body}`);
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
      .finally(() => {
        process.stdout.write(`${JSON.stringify({ completed })}\n`);
        process.exit(0);
      });
  });
}
