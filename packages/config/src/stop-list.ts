import { NotFoundError, stopListKey, type ContactAddress } from '@commstrat/core';
import type { Sql } from 'postgres';

/** One address on a tenant's stop list. */
export interface StopListEntry extends ContactAddress {
  readonly reason: string;
  readonly createdBy: string;
  readonly createdAt: Date;
}

interface StopListRow {
  kind: 'phone' | 'email';
  address: string;
  reason: string;
  created_by: string;
  created_at: Date;
}

/**
 * Puts an address on the tenant's stop list (the address already normalised, see
 * parseStopListAddress). Adding one that is listed changes nothing and writes no audit
 * record; `created` says which it was. Throws NotFoundError for an unknown tenant.
 */
export async function addToStopList(
  sql: Sql,
  tenantId: string,
  address: ContactAddress,
  options: { readonly reason?: string; readonly actor: string },
): Promise<{ entry: StopListEntry; created: boolean }> {
  return sql.begin(async (tx) => {
    const tenant = await tx`SELECT id FROM tenants WHERE id = ${tenantId}`;
    if (tenant.length === 0) throw new NotFoundError(`tenant ${tenantId}`);
    const inserted = await tx<StopListRow[]>`
      INSERT INTO stop_list (tenant_id, kind, address, reason, created_by)
      VALUES (${tenantId}, ${address.kind}, ${address.address}, ${options.reason ?? ''}, ${options.actor})
      ON CONFLICT (tenant_id, kind, address) DO NOTHING
      RETURNING kind, address, reason, created_by, created_at`;
    if (inserted[0] !== undefined) {
      await tx`INSERT INTO audit (tenant_id, actor, action, details)
               VALUES (${tenantId}, ${options.actor}, 'stop_list.add',
                       ${tx.json({ before: null, after: { kind: address.kind, address: address.address, reason: options.reason ?? '' } })})`;
      return { entry: toEntry(inserted[0]), created: true };
    }
    const [existing] = await tx<StopListRow[]>`
      SELECT kind, address, reason, created_by, created_at FROM stop_list
      WHERE tenant_id = ${tenantId} AND kind = ${address.kind} AND address = ${address.address}`;
    if (existing === undefined) throw new Error('stop-list row neither inserted nor found');
    return { entry: toEntry(existing), created: false };
  });
}

/** Takes an address off the stop list, audited; false when it was not on it. */
export async function removeFromStopList(sql: Sql, tenantId: string, address: ContactAddress, actor: string): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [removed] = await tx<StopListRow[]>`
      DELETE FROM stop_list WHERE tenant_id = ${tenantId} AND kind = ${address.kind} AND address = ${address.address}
      RETURNING kind, address, reason, created_by, created_at`;
    if (removed === undefined) return false;
    await tx`INSERT INTO audit (tenant_id, actor, action, details)
             VALUES (${tenantId}, ${actor}, 'stop_list.remove',
                     ${tx.json({ before: { kind: removed.kind, address: removed.address, reason: removed.reason }, after: null })})`;
    return true;
  });
}

/**
 * One page of the tenant's stop list in (kind, address) order; `after` is the last
 * entry of the previous page. `nextAfter` is null on the last page.
 */
export async function listStopList(
  sql: Sql,
  tenantId: string,
  page: { readonly limit: number; readonly after?: ContactAddress },
): Promise<{ entries: StopListEntry[]; nextAfter: ContactAddress | null }> {
  const { after } = page;
  const rows = await sql<StopListRow[]>`
    SELECT kind, address, reason, created_by, created_at FROM stop_list
    WHERE tenant_id = ${tenantId} ${after === undefined ? sql`` : sql`AND (kind, address) > (${after.kind}, ${after.address})`}
    ORDER BY kind, address LIMIT ${page.limit + 1}`;
  const entries = rows.slice(0, page.limit).map(toEntry);
  const last = entries.at(-1);
  return { entries, nextAfter: rows.length > page.limit && last !== undefined ? { kind: last.kind, address: last.address } : null };
}

/** Every stopped address of these tenants, as stopListKey strings: what the routing snapshot holds. */
export async function loadStopLists(sql: Sql, tenantIds: readonly string[]): Promise<Map<string, Set<string>>> {
  const lists = new Map<string, Set<string>>(tenantIds.map((id) => [id, new Set()]));
  if (tenantIds.length === 0) return lists;
  const rows = await sql<{ tenant_id: string; kind: 'phone' | 'email'; address: string }[]>`
    SELECT tenant_id, kind, address FROM stop_list WHERE tenant_id IN ${sql(tenantIds)}`;
  for (const row of rows) lists.get(row.tenant_id)?.add(stopListKey({ kind: row.kind, address: row.address }));
  return lists;
}

function toEntry(row: StopListRow): StopListEntry {
  return { kind: row.kind, address: row.address, reason: row.reason, createdBy: row.created_by, createdAt: row.created_at };
}
