import type { Channel, Strategy } from '@commstrat/core';
import type { Sql } from 'postgres';
import { loadStopLists } from './stop-list.ts';
import { toProvider, type Provider, type ProviderRow } from './strategies.ts';
import type { StrategyMoves } from './strategy-moves.ts';
import { loadTemplateVersions } from './templates.ts';

/** The channel PostgreSQL notifies on when a tenant's configuration changes; the payload is the tenant id. */
export const CONFIG_CHANNEL = 'commstrat_config';

/** What a message is sent by: its strategy (newest version), the tenant's providers and zone. */
export interface Routing {
  readonly strategy: Strategy;
  /** The strategy version this routing is of, for the journal. */
  readonly version: number;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly tenantTimeZone: string;
  /**
   * The tenant's stop list, as stopListKey strings (the same set in every Routing of the
   * tenant). Held whole per replica, about 100 bytes an address.
   */
  readonly stopList: ReadonlySet<string>;
}

/** One tenant's whole routing configuration, read at one moment. */
export interface TenantSnapshot {
  /** When it was read, ms since the epoch (the cache's clock). */
  readonly loadedAt: number;
  /** The newest version of each strategy, by name. */
  readonly byName: ReadonlyMap<string, Routing>;
  /** The channel defaults. */
  readonly byChannel: ReadonlyMap<Channel, Routing>;
  /**
   * The operator's moves of pinned versions, by strategy name (migration 011): read with
   * the snapshot, so a move reaches a replica by the same NOTIFY as any other change.
   */
  readonly moves: ReadonlyMap<string, StrategyMoves>;
  /** What intake renders templates by: read with the snapshot, so a new version arrives by the same NOTIFY. */
  readonly templates: TenantTemplates;
}

/** A tenant's templates as the routing snapshot holds them. */
export interface TenantTemplates {
  /** The newest version of each template, by name (migration 013). */
  readonly versions: ReadonlyMap<string, number>;
  /** The locale of a message whose recipient names none; absent: each template's default. */
  readonly defaultLocale: string | undefined;
}

interface SnapshotStrategyRow {
  tenant_id: string;
  version: number;
  definition: Strategy;
  is_default_for_channel: boolean;
}

/**
 * Reads the routing configuration of several tenants in six queries, whatever their
 * number: the periodic refresh of every tenant a replica serves costs the same as one.
 * A tenant a strategy is asked of is small (tens of strategies), so reading all its
 * newest versions at once is cheaper than a query per name, and lets a replica keep
 * routing from the last snapshot when PostgreSQL is down.
 */
export async function loadSnapshots(
  sql: Sql,
  tenantIds: readonly string[],
  loadedAt: number,
): Promise<Map<string, TenantSnapshot>> {
  const ids = [...new Set(tenantIds)];
  if (ids.length === 0) return new Map();
  const [tenants, providers, strategies, moves, stopLists, templateVersions] = await Promise.all([
    sql<{ id: string; time_zone: string; default_locale: string | null }[]>`
      SELECT id, time_zone, default_locale FROM tenants WHERE id IN ${sql(ids)}`,
    // A provider pinned to a stored definition brings that version along (migration 009),
    // so a re-pin reaches the dispatcher with the same NOTIFY as any other provider change.
    sql<(ProviderRow & { tenant_id: string })[]>`
      SELECT p.tenant_id, p.id, p.kind, p.endpoint, p.credentials, p.rate_per_second, p.concurrency,
             p.max_batch_size, p.linger_ms, p.timeout_ms, p.enabled, p.prices, p.definition_version, d.definition
      FROM providers p
      LEFT JOIN provider_definitions d
        ON d.tenant_id = p.tenant_id AND d.name = p.kind AND d.version = p.definition_version
      WHERE p.tenant_id IN ${sql(ids)} ORDER BY p.tenant_id, p.id`,
    // DISTINCT ON keeps the first row per (tenant, name) in the ORDER BY: the newest version.
    sql<SnapshotStrategyRow[]>`
      SELECT DISTINCT ON (tenant_id, name) tenant_id, version, definition, is_default_for_channel
      FROM strategies WHERE tenant_id IN ${sql(ids)} ORDER BY tenant_id, name, version DESC`,
    // A handful of rows at most: only versions an operator moved.
    sql<{ tenant_id: string; name: string; version: number; moved_to_version: number }[]>`
      SELECT tenant_id, name, version, moved_to_version FROM strategies
      WHERE tenant_id IN ${sql(ids)} AND moved_to_version IS NOT NULL`,
    loadStopLists(sql, ids),
    loadTemplateVersions(sql, ids),
  ]);
  const zones = new Map(tenants.map((row) => [row.id, row.time_zone]));
  const locales = new Map(tenants.map((row) => [row.id, row.default_locale ?? undefined]));
  const providersOf = new Map<string, Map<string, Provider>>(ids.map((id) => [id, new Map()]));
  for (const row of providers) providersOf.get(row.tenant_id)?.set(row.id, toProvider(row));
  const snapshots = new Map<string, TenantSnapshot>();
  for (const id of ids) {
    snapshots.set(id, {
      loadedAt,
      byName: new Map(),
      byChannel: new Map(),
      moves: new Map(),
      templates: { versions: templateVersions.get(id) ?? new Map(), defaultLocale: locales.get(id) },
    });
  }
  for (const row of moves) {
    const byName = snapshots.get(row.tenant_id)?.moves as Map<string, Map<number, number>> | undefined;
    if (byName === undefined) continue;
    const ofName = byName.get(row.name) ?? new Map<number, number>();
    ofName.set(row.version, row.moved_to_version);
    byName.set(row.name, ofName);
  }
  for (const row of strategies) {
    const snapshot = snapshots.get(row.tenant_id);
    if (snapshot === undefined) continue;
    const routing: Routing = {
      strategy: row.definition,
      version: row.version,
      providers: providersOf.get(row.tenant_id) ?? new Map(),
      tenantTimeZone: zones.get(row.tenant_id) ?? 'UTC',
      stopList: stopLists.get(row.tenant_id) ?? new Set(),
    };
    (snapshot.byName as Map<string, Routing>).set(row.definition.name, routing);
    if (row.is_default_for_channel) (snapshot.byChannel as Map<Channel, Routing>).set(row.definition.channel, routing);
  }
  return snapshots;
}
