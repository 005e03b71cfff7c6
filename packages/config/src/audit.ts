import type { JSONValue, Sql, TransactionSql } from 'postgres';

/** One row of the audit log: who changed what, with the state before and after. */
export interface AuditRecord {
  readonly id: number;
  readonly tenantId: string | null;
  /** `api-key:<key id>` for the admin API, `system` for seeding and migrations. */
  readonly actor: string;
  /** What was done, e.g. `api_key.revoke`, `strategy.rollback`. */
  readonly action: string;
  /** At least `before` and `after` (null when there was none) for every admin change. */
  readonly details: Readonly<Record<string, unknown>>;
  readonly at: Date;
}

export interface AuditEntry {
  readonly tenantId: string;
  readonly actor: string;
  readonly action: string;
  readonly before: unknown;
  readonly after: unknown;
  /** More to say beside before and after, e.g. the strategy name and version. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * Writes an audit row inside the caller's transaction, so a change and its row are
 * committed together or not at all.
 */
export async function writeAudit(tx: TransactionSql, entry: AuditEntry): Promise<void> {
  const details = { ...entry.extra, before: entry.before ?? null, after: entry.after ?? null } as JSONValue;
  await tx`INSERT INTO audit (tenant_id, actor, action, details)
           VALUES (${entry.tenantId}, ${entry.actor}, ${entry.action}, ${tx.json(details)})`;
}

/**
 * writeAudit under the name the provider store (branch provstore) calls it by, with
 * `details` for `extra`: both branches added an audit writer at the same time; one
 * should go when they reach main.
 */
export async function recordAudit(
  sql: Sql | TransactionSql,
  entry: Omit<AuditEntry, 'extra'> & { readonly details?: Readonly<Record<string, unknown>> },
): Promise<void> {
  const details = { ...entry.details, before: entry.before ?? null, after: entry.after ?? null } as JSONValue;
  await sql`INSERT INTO audit (tenant_id, actor, action, details)
            VALUES (${entry.tenantId}, ${entry.actor}, ${entry.action}, ${sql.json(details)})`;
}

interface AuditRow {
  id: string;
  tenant_id: string | null;
  actor: string;
  action: string;
  details: Record<string, unknown>;
  at: Date;
}

/**
 * One page of a tenant's audit rows, newest first; `beforeId` is the last id of the
 * previous page. `nextBeforeId` is null on the last page.
 */
export async function listAudit(
  sql: Sql,
  tenantId: string,
  page: { readonly limit: number; readonly beforeId?: number },
): Promise<{ records: AuditRecord[]; nextBeforeId: number | null }> {
  const rows = await sql<AuditRow[]>`
    SELECT id, tenant_id, actor, action, details, at FROM audit
    WHERE tenant_id = ${tenantId} ${page.beforeId === undefined ? sql`` : sql`AND id < ${page.beforeId}`}
    ORDER BY id DESC LIMIT ${page.limit + 1}`;
  const records = rows.slice(0, page.limit).map((row) => ({
    id: Number(row.id),
    tenantId: row.tenant_id,
    actor: row.actor,
    action: row.action,
    details: row.details,
    at: row.at,
  }));
  const last = records.at(-1);
  return { records, nextBeforeId: rows.length > page.limit && last !== undefined ? last.id : null };
}
