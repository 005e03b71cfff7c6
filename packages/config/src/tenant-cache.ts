import type { Sql } from 'postgres';
import { findTenantByKeyDigest, hashApiKey, type Tenant } from './tenants.ts';

export interface TenantCacheOptions {
  /** How long a looked-up key (found or not) is trusted, in ms. Default 30 000. */
  readonly ttlMs?: number;
  /** Most keys kept. Default 10 000. */
  readonly maxEntries?: number;
}

/**
 * Authenticates API keys without a PostgreSQL round trip per request. A revoked key
 * stops working within `ttlMs`; hot reload by LISTEN/NOTIFY comes with the admin API.
 * Entries are keyed by the key's SHA-256 digest, as the database is: no key is kept in
 * memory, and every comparison (map lookup, index lookup) is of digests, which a caller
 * cannot steer byte by byte, so how long a comparison takes tells nothing about a key.
 */
export class TenantCache {
  private readonly entries = new Map<string, { tenant: Tenant | null; until: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  private readonly sql: Sql;

  constructor(sql: Sql, options: TenantCacheOptions = {}) {
    this.sql = sql;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  async tenantForKey(apiKey: string, now: number = Date.now()): Promise<Tenant | null> {
    const digest = hashApiKey(apiKey);
    const entry = digest.toString('base64');
    const cached = this.entries.get(entry);
    if (cached !== undefined && cached.until > now) return cached.tenant;
    const tenant = await findTenantByKeyDigest(this.sql, digest);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(entry, { tenant, until: now + this.ttlMs });
    return tenant;
  }
}
