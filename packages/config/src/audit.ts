import type { JSONValue, Sql, TransactionSql } from 'postgres';

/** One audited change of a tenant's configuration. */
export interface AuditEntry {
  readonly tenantId: string;
  /** Who made it: `api-key:<key id>`, `cli:<user>`, `system`. */
  readonly actor: string;
  /** What was done, `<thing>.<verb>`, e.g. `provider.upsert`. */
  readonly action: string;
  /** The thing before the change; null when it is new. Never a secret in full. */
  readonly before: unknown;
  /** The thing after the change; null when it was removed. Never a secret in full. */
  readonly after: unknown;
  /** More to record beside before and after, e.g. `{ id, version }`. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * Writes an audit row. Pass the transaction that makes the change, so the change and its
 * record are committed together or not at all.
 */
export async function recordAudit(sql: Sql | TransactionSql, entry: AuditEntry): Promise<void> {
  const details = { ...entry.details, before: entry.before ?? null, after: entry.after ?? null };
  await sql`INSERT INTO audit (tenant_id, actor, action, details)
            VALUES (${entry.tenantId}, ${entry.actor}, ${entry.action}, ${sql.json(details as JSONValue)})`;
}
