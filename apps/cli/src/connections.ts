import { DependencyUnavailableError } from '@commstrat/core';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';

/**
 * Connections of one CLI run, opened on first use and closed by `close()`. A server
 * that does not answer is a DependencyUnavailableError naming it and what to check,
 * within seconds: an operator at a terminal must not wait on retries.
 */
export class Connections {
  private redisClient: Redis | undefined;
  private mongoClient: MongoClient | undefined;
  private readonly urls: { readonly redis: () => string; readonly mongo: () => string };

  constructor(urls: { readonly redis: () => string; readonly mongo: () => string }) {
    this.urls = urls;
  }

  async redis(): Promise<Redis> {
    if (this.redisClient !== undefined) return this.redisClient;
    const url = this.urls.redis();
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null });
    // The socket's own error (ECONNREFUSED, ...) says more than the "Connection is closed"
    // that connect() rejects with; without a listener ioredis would print it too.
    let socketError: unknown;
    redis.on('error', (error) => (socketError = error));
    try {
      await redis.connect();
      await redis.ping();
    } catch (cause) {
      redis.disconnect();
      throw unavailable('Redis', url, 'is COMMSTRAT_REDIS_URL right, and is Redis up (`scripts/stack status`)?', socketError ?? cause);
    }
    this.redisClient = redis;
    return redis;
  }

  async mongo(): Promise<Db> {
    if (this.mongoClient !== undefined) return this.mongoClient.db();
    const url = this.urls.mongo();
    const client = new MongoClient(url, { ignoreUndefined: true, serverSelectionTimeoutMS: 3000 });
    try {
      await client.connect();
      await client.db().command({ ping: 1 });
    } catch (cause) {
      await client.close().catch(() => {});
      throw unavailable('MongoDB', url, 'is COMMSTRAT_MONGO_URL right, and is MongoDB up (`scripts/stack status`)?', cause);
    }
    this.mongoClient = client;
    return client.db();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.redisClient?.quit(), this.mongoClient?.close()]);
  }
}

function unavailable(what: string, url: string, hint: string, cause: unknown): DependencyUnavailableError {
  const error = new DependencyUnavailableError(`${what} at ${redact(url)}`, cause);
  const reason = cause instanceof Error ? cause.message : String(cause);
  error.message = `${error.message} (${reason}): ${hint}`;
  return error;
}

/** A URL without its password, fit for an error message. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparsable URL>';
  }
}
