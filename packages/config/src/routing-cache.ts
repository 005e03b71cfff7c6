import {
  CommstratError,
  DependencyUnavailableError,
  ValidationError,
  type Channel,
  type Strategy,
} from '@commstrat/core';
import type { Sql } from 'postgres';
import { findDefaultStrategy, findStrategy, listProviders, type Provider } from './strategies.ts';

export interface RoutingCacheOptions {
  /** How long a tenant's strategies and providers are trusted before re-reading, ms. Default 10 000. */
  readonly ttlMs?: number;
}

/** What a message is sent by: its strategy (newest version), the tenant's providers and zone. */
export interface Routing {
  readonly strategy: Strategy;
  readonly version: number;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly tenantTimeZone: string;
}

interface TenantEntry {
  readonly until: number;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly timeZone: string;
  /** The routing per strategy name or channel default, built once per load; null: none. */
  readonly strategies: Map<string, Promise<Routing | null>>;
}

/**
 * Strategies and providers of each tenant, read from PostgreSQL and cached for `ttlMs`,
 * so neither ingest (which checks that a strategy exists) nor the dispatcher (which
 * routes by it) queries PostgreSQL per message. A changed strategy takes effect within
 * `ttlMs`; reload on NOTIFY comes with the admin API.
 */
export class RoutingCache {
  private readonly sql: Sql;
  private readonly ttlMs: number;
  private readonly tenants = new Map<string, Promise<TenantEntry>>();

  constructor(sql: Sql, options: RoutingCacheOptions = {}) {
    this.sql = sql;
    this.ttlMs = options.ttlMs ?? 10_000;
  }

  /**
   * The routing of a message that names `strategy`, or else only `channel` (then the
   * tenant's default strategy for it). Throws ValidationError naming `/strategy` or
   * `/channel` when there is none.
   */
  async resolve(
    tenantId: string,
    message: { readonly strategy?: string | undefined; readonly channel?: Channel | undefined },
    now: number = Date.now(),
  ): Promise<Routing> {
    try {
      return await this.resolveFromStore(tenantId, message, now);
    } catch (error) {
      // What is not one of ours came from the store: a connection lost or refused,
      // which a later attempt may get past (the dispatcher waits and tries again).
      if (error instanceof CommstratError) throw error;
      throw new DependencyUnavailableError('configuration (PostgreSQL)', error);
    }
  }

  private async resolveFromStore(
    tenantId: string,
    message: { readonly strategy?: string | undefined; readonly channel?: Channel | undefined },
    now: number,
  ): Promise<Routing> {
    const tenant = await this.tenant(tenantId, now);
    const key = message.strategy !== undefined ? `name:${message.strategy}` : `default:${message.channel ?? ''}`;
    let found = tenant.strategies.get(key);
    if (found === undefined) {
      found = this.loadStrategy(tenant, tenantId, message);
      tenant.strategies.set(key, found);
    }
    const stored = await found;
    if (stored === null) {
      // Cached like a hit, for the tenant entry's lifetime: a strategy created now is
      // seen within the TTL, as an edited one is, and a batch of 10 000 messages naming
      // a missing strategy costs one query, not 10 000.
      throw message.strategy !== undefined
        ? new ValidationError([{ path: '/strategy', message: `no strategy named "${message.strategy}"` }])
        : new ValidationError([{ path: '/channel', message: `no default strategy for channel "${String(message.channel)}"` }]);
    }
    if (message.channel !== undefined && stored.strategy.channel !== message.channel) {
      throw new ValidationError([
        { path: '/channel', message: `strategy "${stored.strategy.name}" sends on ${stored.strategy.channel}` },
      ]);
    }
    return stored;
  }

  private async loadStrategy(
    tenant: TenantEntry,
    tenantId: string,
    message: { readonly strategy?: string | undefined; readonly channel?: Channel | undefined },
  ): Promise<Routing | null> {
    const stored =
      message.strategy !== undefined
        ? await findStrategy(this.sql, tenantId, message.strategy)
        : message.channel !== undefined
          ? await findDefaultStrategy(this.sql, tenantId, message.channel)
          : null;
    return stored === null
      ? null
      : { strategy: stored.strategy, version: stored.version, providers: tenant.providers, tenantTimeZone: tenant.timeZone };
  }

  private async tenant(tenantId: string, now: number): Promise<TenantEntry> {
    const cached = this.tenants.get(tenantId);
    if (cached !== undefined) {
      const entry = await cached.catch(() => undefined);
      if (entry !== undefined && entry.until > now) return entry;
    }
    const loading = this.loadTenant(tenantId, now);
    this.tenants.set(tenantId, loading);
    loading.catch(() => this.tenants.delete(tenantId));
    return loading;
  }

  private async loadTenant(tenantId: string, now: number): Promise<TenantEntry> {
    const [providers, zone] = await Promise.all([
      listProviders(this.sql, tenantId),
      this.sql<{ time_zone: string }[]>`SELECT time_zone FROM tenants WHERE id = ${tenantId}`,
    ]);
    return {
      until: now + this.ttlMs,
      providers: new Map(providers.map((provider) => [provider.id, provider])),
      timeZone: zone[0]?.time_zone ?? 'UTC',
      strategies: new Map(),
    };
  }
}
