import type { Sql } from 'postgres';
import { CONFIG_CHANNEL } from './config-snapshot.ts';
import { findTenantByKeyDigest, hashApiKey, type Tenant } from './tenants.ts';

export interface TenantCacheOptions {
  /**
   * How long a looked-up key (found or not) is trusted, in ms. Default 30 000. With
   * listen() running, a revoked key is evicted on its NOTIFY at once; this bounds only
   * how long a replica whose listener is down keeps accepting it.
   */
  readonly ttlMs?: number;
  /** Most keys kept. Default 10 000. */
  readonly maxEntries?: number;
  /** Told of each failed attempt to listen, for the log; the cache keeps serving by ttlMs. */
  readonly onListenError?: (error: unknown) => void;
}

interface Entry {
  readonly tenant: Tenant | null;
  readonly until: number;
}

/**
 * Authenticates API keys without a PostgreSQL round trip per request. A key change
 * (created, revoked, by the admin API or by SQL) notifies commstrat_config with its
 * tenant id (migration 008); listen() evicts that tenant's keys, so a revoked key is
 * refused by every replica within the NOTIFY's delivery, not the ttl.
 *
 * Entries are keyed by the key's SHA-256 digest, as the database is: no key is kept in
 * memory, and no secret is ever compared byte by byte. The map and the unique index
 * compare digests, which a caller cannot steer prefix by prefix (changing one byte of a
 * key changes its whole digest), so the time a comparison takes tells nothing about a key.
 */
export class TenantCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly onListenError: (error: unknown) => void;
  private readonly sql: Sql;
  /**
   * Bumped by every eviction. A lookup that was in flight while one happened may have
   * read the row before the change committed, so its answer is returned but not kept.
   */
  private generation = 0;
  private unlisten: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(sql: Sql, options: TenantCacheOptions = {}) {
    this.sql = sql;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.onListenError = options.onListenError ?? (() => {});
  }

  async tenantForKey(apiKey: string, now: number = Date.now()): Promise<Tenant | null> {
    return this.tenantForKeyDigest(hashApiKey(apiKey), now);
  }

  /**
   * The tenant of the key with this SHA-256 digest (hashApiKey), through the same cache:
   * what a console session holds instead of the key, so a revoked key ends its sessions
   * as soon as it stops working on the API.
   */
  async tenantForKeyDigest(digest: Buffer, now: number = Date.now()): Promise<Tenant | null> {
    const entry = digest.toString('base64');
    const cached = this.entries.get(entry);
    if (cached !== undefined && cached.until > now) return cached.tenant;
    const generation = this.generation;
    const tenant = await findTenantByKeyDigest(this.sql, digest);
    if (generation === this.generation) {
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(entry, { tenant, until: now + this.ttlMs });
    }
    return tenant;
  }

  /**
   * Forgets the keys of a tenant, and every unknown key (a key just created may have
   * been tried, and remembered as unknown, a moment before).
   */
  evictTenant(tenantId: string): void {
    this.generation++;
    for (const [digest, { tenant }] of this.entries) {
      if (tenant === null || tenant.id === tenantId) this.entries.delete(digest);
    }
  }

  /** Forgets every key. */
  evictAll(): void {
    this.generation++;
    this.entries.clear();
  }

  /**
   * Evicts a tenant's keys on every NOTIFY of a change to its configuration, and every
   * key whenever the listener (re)connects, since a notification sent while it was away
   * is lost. Resolves once listening; postgres.js reconnects the listener by itself
   * after that. A first attempt that fails is retried every second until close.
   */
  async listen(): Promise<void> {
    while (!this.closed) {
      try {
        const listener = await this.sql.listen(
          CONFIG_CHANNEL,
          (tenantId) => this.evictTenant(tenantId),
          () => this.evictAll(),
        );
        this.unlisten = () => listener.unlisten();
        return;
      } catch (error) {
        this.onListenError(error);
        await new Promise((resolve) => setTimeout(resolve, 1_000).unref());
      }
    }
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    await this.unlisten?.().catch(() => {});
  }
}
