import type { Sql } from 'postgres';
import { findTenantByApiKey, type Tenant } from './tenants.ts';

export interface TenantCacheOptions {
  /** How long a looked-up key (found or not) is trusted, in ms. Default 30 000. */
  readonly ttlMs?: number;
  /** Most keys kept. Default 10 000. */
  readonly maxEntries?: number;
}

/**
 * Authenticates API keys without a PostgreSQL round trip per request. A revoked key
 * stops working within `ttlMs`; hot reload by LISTEN/NOTIFY comes with the admin API.
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
    const cached = this.entries.get(apiKey);
    if (cached !== undefined && cached.until > now) return cached.tenant;
    const tenant = await findTenantByApiKey(this.sql, apiKey);
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(apiKey, { tenant, until: now + this.ttlMs });
    return tenant;
  }
}
