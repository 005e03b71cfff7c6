import { ConflictError, NotFoundError } from '@commstrat/core';
import type { Sql } from 'postgres';
import { createApiKeyIn, type ApiKeyRecord } from './api-keys.ts';
import { writeAudit } from './audit.ts';

/** A tenant as the admin API shows it. */
export interface TenantRecord {
  readonly id: string;
  readonly name: string;
  /** The IANA zone send windows are read in when neither recipient nor window names one. */
  readonly timeZone: string;
  /** The locale of a message whose recipient names none (BCP 47); null: each template's default. */
  readonly defaultLocale: string | null;
  readonly createdAt: Date;
}

/** What a tenant's admin may change of it. */
export interface TenantPatch {
  readonly name?: string;
  readonly timeZone?: string;
  /** null: none (each template's default_locale). */
  readonly defaultLocale?: string | null;
}

interface TenantRow {
  id: string;
  name: string;
  time_zone: string;
  default_locale: string | null;
  created_at: Date;
}

const audited = (tenant: TenantRecord) => ({ id: tenant.id, name: tenant.name, time_zone: tenant.timeZone, default_locale: tenant.defaultLocale });

/** The tenant, or null. */
export async function findTenant(sql: Sql, tenantId: string): Promise<TenantRecord | null> {
  const [row] = await sql<TenantRow[]>`SELECT id, name, time_zone, default_locale, created_at FROM tenants WHERE id = ${tenantId}`;
  return row === undefined ? null : toRecord(row);
}

/**
 * Changes the tenant's name, zone and default locale (already validated by the caller), audited as
 * `tenant.update` with both before and after; a patch that changes nothing writes
 * nothing. Replicas reload the tenant's routing on the commit's NOTIFY.
 */
export async function updateTenant(sql: Sql, tenantId: string, patch: TenantPatch, actor: string): Promise<TenantRecord> {
  return sql.begin(async (tx) => {
    const [row] = await tx<TenantRow[]>`
      SELECT id, name, time_zone, default_locale, created_at FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    if (row === undefined) throw new NotFoundError(`tenant ${tenantId}`);
    const before = toRecord(row);
    const name = patch.name ?? before.name;
    const timeZone = patch.timeZone ?? before.timeZone;
    const defaultLocale = patch.defaultLocale === undefined ? before.defaultLocale : patch.defaultLocale;
    if (name === before.name && timeZone === before.timeZone && defaultLocale === before.defaultLocale) return before;
    const [updated] = await tx<TenantRow[]>`
      UPDATE tenants SET name = ${name}, time_zone = ${timeZone}, default_locale = ${defaultLocale} WHERE id = ${tenantId}
      RETURNING id, name, time_zone, default_locale, created_at`;
    if (updated === undefined) throw new Error('UPDATE … RETURNING returned no row');
    const after = toRecord(updated);
    await writeAudit(tx, { tenantId, actor, action: 'tenant.update', before: audited(before), after: audited(after) });
    return after;
  });
}

/**
 * Creates a tenant with its first admin key (scope `admin` only), in one transaction,
 * audited in the new tenant's log as `tenant.create` and `api_key.create`. Throws
 * ConflictError when the id is taken.
 */
export async function createTenant(
  sql: Sql,
  input: { readonly id: string; readonly name: string; readonly timeZone: string },
  actor: string,
): Promise<{ tenant: TenantRecord; adminKey: { record: ApiKeyRecord; key: string } }> {
  return sql.begin(async (tx) => {
    const [row] = await tx<TenantRow[]>`
      INSERT INTO tenants (id, name, time_zone) VALUES (${input.id}, ${input.name}, ${input.timeZone})
      ON CONFLICT (id) DO NOTHING
      RETURNING id, name, time_zone, default_locale, created_at`;
    if (row === undefined) throw new ConflictError(`tenant ${input.id} exists already`);
    const tenant = toRecord(row);
    await writeAudit(tx, { tenantId: tenant.id, actor, action: 'tenant.create', before: null, after: audited(tenant) });
    const adminKey = await createApiKeyIn(tx, tenant.id, { label: 'first admin key', scopes: ['admin'], actor });
    return { tenant, adminKey };
  });
}

/** One page of all tenants by id; `after` is the last id of the previous page. */
export async function listTenants(
  sql: Sql,
  page: { readonly limit: number; readonly after?: string },
): Promise<{ tenants: TenantRecord[]; nextAfter: string | null }> {
  const rows = await sql<TenantRow[]>`
    SELECT id, name, time_zone, default_locale, created_at FROM tenants
    ${page.after === undefined ? sql`` : sql`WHERE id > ${page.after}`}
    ORDER BY id LIMIT ${page.limit + 1}`;
  const tenants = rows.slice(0, page.limit).map(toRecord);
  const last = tenants.at(-1);
  return { tenants, nextAfter: rows.length > page.limit && last !== undefined ? last.id : null };
}

function toRecord(row: TenantRow): TenantRecord {
  return { id: row.id, name: row.name, timeZone: row.time_zone, defaultLocale: row.default_locale, createdAt: row.created_at };
}
