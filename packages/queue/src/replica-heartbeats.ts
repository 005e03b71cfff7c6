import type { Redis } from 'ioredis';
import { execOrThrow } from './exec-pipeline.ts';
import { QueueKeys } from './keys.ts';

/** A provider's circuit as one dispatcher replica sees it (circuits are per replica). */
export interface ReplicaCircuit {
  /** `<tenant>/<provider>`. */
  readonly provider: string;
  readonly state: 'closed' | 'half-open' | 'open';
}

/** What a dispatcher replica publishes about itself: state that lives only in its memory. */
export interface ReplicaState {
  readonly consumer: string;
  /** The configuration this replica runs: the `config_version` its `/info` answers. */
  readonly configVersion: string;
  readonly startedAt: Date;
  readonly circuits: readonly ReplicaCircuit[];
}

/** A replica's last heartbeat, as `commstrat inspect` reads it. */
export interface ReplicaReport extends ReplicaState {
  readonly heartbeatAt: Date;
}

/**
 * One Redis hash per dispatcher replica (`<prefix>replica:<consumer>`) that the replica
 * rewrites every few seconds with a TTL a few times that interval: a replica that died
 * or was scaled away disappears by itself, no clean-up needed. A hash per replica rather
 * than one shared hash because Redis 7.0 has no per-field expiry. Owns no connection.
 */
export class ReplicaHeartbeats {
  private readonly redis: Redis;
  private readonly keys: QueueKeys;

  constructor(redis: Redis, options: { readonly prefix?: string } = {}) {
    this.redis = redis;
    this.keys = new QueueKeys(options.prefix);
  }

  private key(consumer: string): string {
    return this.keys.replica(consumer);
  }

  /** Replaces the replica's hash and renews its lifetime, in one MULTI. */
  async publish(state: ReplicaState, ttlSeconds: number, now: Date = new Date()): Promise<void> {
    const key = this.key(state.consumer);
    const multi = this.redis.multi();
    multi.del(key);
    multi.hset(key, {
      consumer: state.consumer,
      config_version: state.configVersion,
      started_at: state.startedAt.toISOString(),
      heartbeat_at: now.toISOString(),
      circuits: JSON.stringify(state.circuits),
    });
    multi.expire(key, ttlSeconds);
    await execOrThrow(multi);
  }

  /** Removes the replica's hash (a clean shutdown), so inspect stops listing it at once. */
  async withdraw(consumer: string): Promise<void> {
    await this.redis.del(this.key(consumer));
  }

  /** Every replica whose heartbeat has not expired, by consumer name. SCAN, then one pipeline. */
  async list(): Promise<ReplicaReport[]> {
    const keys = await scanKeys(this.redis, `${escapeGlob(this.keys.replicas)}*`);
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const hashes = (await execOrThrow(pipeline)) as Record<string, string>[];
    return hashes
      .filter((hash) => hash['consumer'] !== undefined)
      .map((hash) => ({
        consumer: hash['consumer'] ?? '',
        configVersion: hash['config_version'] ?? '',
        startedAt: new Date(hash['started_at'] ?? 0),
        heartbeatAt: new Date(hash['heartbeat_at'] ?? 0),
        circuits: parseCircuits(hash['circuits']),
      }))
      .sort((a, b) => a.consumer.localeCompare(b.consumer));
  }
}

function parseCircuits(raw: string | undefined): ReplicaCircuit[] {
  try {
    const parsed: unknown = JSON.parse(raw ?? '[]');
    return Array.isArray(parsed) ? (parsed as ReplicaCircuit[]) : [];
  } catch {
    return [];
  }
}

/** Every key matching `pattern`, by SCAN (never KEYS: it would block a busy Redis). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** A key prefix as a literal in a SCAN pattern. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
