// One benchmark run's own resources on the shared stack — a PostgreSQL database with a
// bench tenant, MongoDB databases, a Redis key prefix, Kafka topics and groups — each
// registered for removal the moment it is made, and removed last-in first-out by
// `close`, also after a failure or Ctrl-C. Other people's data on the stack is never
// touched: every name carries the run id.
import { randomBytes } from 'node:crypto';
import {
  ensureSandboxRouting,
  ensureTenantWithKey,
  generateApiKey,
  migrate,
} from '@commstrat/config';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { MongoClient } from 'mongodb';
import postgres from 'postgres';
import { progress } from './progress.ts';
import { withDatabase, type StackEnv } from './stack.ts';

export interface BenchTenant {
  readonly id: string;
  readonly apiKey: string;
}

export class BenchRun {
  /** e.g. `20261127t101502_3fa1`: sortable, and unique among concurrent runs. */
  readonly id: string;
  readonly stack: StackEnv;
  /** PostgreSQL database of this run, migrated, holding the bench tenant. */
  readonly postgresUrl: string;
  readonly tenant: BenchTenant;
  readonly redis: Redis;
  readonly kafka: Kafka;
  private readonly disposers: { what: string; dispose: () => Promise<unknown> }[] = [];

  private constructor(
    id: string,
    stack: StackEnv,
    postgresUrl: string,
    tenant: BenchTenant,
    redis: Redis,
  ) {
    this.id = id;
    this.stack = stack;
    this.postgresUrl = postgresUrl;
    this.tenant = tenant;
    this.redis = redis;
    this.kafka = new Kafka({
      clientId: `bench-${id}`,
      brokers: [...stack.kafkaBrokers],
      logLevel: logLevel.ERROR,
    });
  }

  static async open(stack: StackEnv, startedAt: Date): Promise<BenchRun> {
    const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace('T', 't').slice(0, 15);
    const id = `${stamp}_${randomBytes(2).toString('hex')}`;
    const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 2 });
    const admin = postgres(stack.postgresUrl, { max: 1, onnotice: () => {} });
    const database = `bench_${id}`;
    const disposers: BenchRun['disposers'] = [];
    try {
      await admin.unsafe(`CREATE DATABASE ${database}`);
      disposers.push({
        what: `PostgreSQL database ${database}`,
        dispose: async () => {
          await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ${database}`;
          await admin.unsafe(`DROP DATABASE IF EXISTS ${database}`);
          await admin.end({ timeout: 5 });
        },
      });
      const postgresUrl = withDatabase(stack.postgresUrl, database);
      const sql = postgres(postgresUrl, { max: 1, onnotice: () => {} });
      const tenant = { id: 'bench', apiKey: generateApiKey() };
      try {
        await migrate(sql);
        await ensureTenantWithKey(sql, { id: tenant.id, name: 'Benchmark' }, tenant.apiKey);
        // Ingest refuses a channel without a default strategy. No dispatcher runs in the
        // ingest bench, so the provider's address is never called.
        await ensureSandboxRouting(sql, tenant.id, {
          endpoint: 'http://127.0.0.1:9',
          token: 'bench',
        });
      } finally {
        await sql.end({ timeout: 5 });
      }
      const run = new BenchRun(id, stack, postgresUrl, tenant, redis);
      run.disposers.push({ what: 'Redis connection', dispose: () => redis.quit() }, ...disposers);
      return run;
    } catch (error) {
      for (const { dispose } of disposers.reverse()) await dispose().catch(() => undefined);
      await admin.end({ timeout: 1 }).catch(() => undefined);
      redis.disconnect();
      throw error;
    }
  }

  /** Registers a removal, run by `close` before those registered earlier. */
  defer(what: string, dispose: () => Promise<unknown>): void {
    this.disposers.push({ what, dispose });
  }

  /** A Redis key prefix of this run; its keys are deleted by `close`. */
  redisPrefix(scope: string): string {
    const prefix = `bench:${this.id}:${scope}:`;
    this.defer(`Redis keys ${prefix}*`, () => this.deleteRedisKeys(prefix));
    return prefix;
  }

  /** Deletes every key under `prefix` now; returns how many. UNLINK frees big streams off the main thread. */
  async deleteRedisKeys(prefix: string): Promise<number> {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await this.redis.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  }

  /** A MongoDB database of this run on the stack's server; dropped by `close` (or earlier by `dropMongo`). */
  mongoDatabase(scope: string): { name: string; url: string } {
    const name = `bench_${this.id}_${scope.replace(/\W/g, '_')}`;
    const url = withDatabase(this.stack.mongoUrl, name);
    this.defer(`MongoDB database ${name}`, () => this.dropMongo(url));
    return { name, url };
  }

  async dropMongo(url: string): Promise<void> {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
    try {
      await client.connect();
      await client.db().dropDatabase();
    } finally {
      await client.close();
    }
  }

  /** A Kafka topic (and consumer group) name of this run; deleted by `close`. */
  kafkaNames(scope: string): { topic: string; rejectedTopic: string; group: string } {
    const base = `bench.${this.id}.${scope}`;
    const names = {
      topic: base,
      rejectedTopic: `${base}.rejected`,
      group: `bench-${this.id}-${scope}`,
    };
    this.defer(`Kafka topics ${base}*, group ${names.group}`, async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const topics = [names.topic, names.rejectedTopic].filter((t) => existing.has(t));
        await admin.deleteGroups([names.group]).catch(() => undefined);
        if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
      } finally {
        await admin.disconnect();
      }
    });
    return names;
  }

  /** Removes everything this run made, newest first; a failing step is reported, not fatal. */
  /** Set once Ctrl-C or SIGTERM started the clean-up: the caller must not close again. */
  interrupted = false;

  /** On Ctrl-C or SIGTERM: removes everything the run made, then exits with 130. */
  closeOnSignal(): void {
    const onSignal = () => {
      if (this.interrupted) return;
      this.interrupted = true;
      progress('interrupted: cleaning up');
      void this.close().finally(() => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  async close(): Promise<void> {
    for (const { what, dispose } of this.disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (error) {
        progress(
          `cleanup: could not remove ${what}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
}
