// Running the `commstrat` CLI as its own process against a test's Redis prefix and
// MongoDB database, and journaling finished messages for it to act on.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import { acceptMessage, firstIdAt, newId, type Message, type MessageStatus } from '@commstrat/core';
import { Journal } from '@commstrat/journal';
import type { Db } from 'mongodb';
import { stackEnv, testMongo, testRedis } from './harness.ts';

const ROOT = new URL('../../../', import.meta.url);

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON (for `--json` runs). */
  readonly json: any;
}

/** Where a CLI run finds its servers: this test's own prefix and database. */
export type CliEnv = Record<string, string>;

export async function cliWorld() {
  const [{ redis, prefix }, mongo] = await Promise.all([testRedis(), testMongo()]);
  const journal = new Journal(mongo.db);
  await journal.ensureIndexes();
  const env: CliEnv = { COMMSTRAT_REDIS_URL: stackEnv().redisUrl, COMMSTRAT_REDIS_PREFIX: prefix, COMMSTRAT_MONGO_URL: mongo.url };
  return { redis, prefix, db: mongo.db, journal, env };
}

/** Starts `node apps/cli/src/main.ts ...args`; killed if still running when the test ends. */
export function spawnCli(args: readonly string[], env: CliEnv): { child: ChildProcess; result: Promise<CliResult> } {
  const child = spawn(process.execPath, ['apps/cli/src/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const result = once(child, 'close').then(([code]) => {
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
    return { code: code as number | null, stdout, stderr, json };
  });
  return { child, result };
}

export async function runCli(args: readonly string[], env: CliEnv): Promise<CliResult> {
  return spawnCli(args, env).result;
}

/**
 * Journals a message the way intake does, then moves it to `status` the way the
 * dispatcher does (conditional status changes): `sending` at `provider`, then the end.
 */
export async function journalFinished(
  journal: Journal,
  options: { tenant: string; status: MessageStatus; provider?: string; reason?: string; createdAt?: Date; expiresAt?: Date },
): Promise<Message> {
  const now = options.createdAt ?? new Date();
  // newId is monotonic (never before the last id made): a past time takes its own prefix.
  const id = options.createdAt === undefined ? newId() : firstIdAt(now).slice(0, 10) + newId().slice(10);
  const message = acceptMessage(
    {
      channel: 'sms',
      recipient: { phone: '+79161234567' },
      content: { text: `code for ${id}` },
      priority: 'high',
      tags: ['otp'],
      ...(options.expiresAt === undefined ? {} : { expires_at: options.expiresAt.toISOString() }),
    } as never,
    { id, tenantId: options.tenant, batchId: id, now },
  );
  await journal.recordAccepted(
    { _id: id, tenant_id: options.tenant, source: 'rest', received_at: now, body: {}, message_ids: [id], enqueued: true },
    [message],
  );
  const at = new Date(now.getTime() + 10);
  const provider = options.provider ?? 'sandbox';
  await journal.recordStatusChanges([
    { messageId: id, event: { status: 'sending', at, provider } },
    { messageId: id, event: { status: options.status, at, reason: options.reason ?? `provider ${provider} rejected it: invalid_number` } },
  ]);
  const [stored] = await journal.findMessages([id]);
  if (stored?.status !== options.status) throw new Error(`seeded message ${id} is ${stored?.status}, not ${options.status}`);
  return stored;
}

/** Messages that re-send `originalId` (redrive_of), read straight from the collection. */
export async function redrivesOf(db: Db, originalId: string): Promise<Message[]> {
  const documents = await db.collection('messages').find({ redrive_of: originalId }).toArray();
  return documents.map(({ _id, ...rest }) => ({ id: String(_id), ...rest }) as unknown as Message);
}
