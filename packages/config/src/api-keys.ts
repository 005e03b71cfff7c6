import { ConflictError, NotFoundError, newId } from '@commstrat/core';
import type { Sql, TransactionSql } from 'postgres';
import { writeAudit } from './audit.ts';
import { generateApiKey, hashApiKey, type ApiKeyScope } from './tenants.ts';

/** An API key as the admin API shows it: never the key, never its digest. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly label: string;
  readonly scopes: readonly ApiKeyScope[];
  readonly createdAt: Date;
  /** When it was revoked; null while it works. */
  readonly revokedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  label: string;
  scopes: ApiKeyScope[];
  created_at: Date;
  revoked_at: Date | null;
}

/** What the audit log keeps of a key: everything the admin API shows of it. */
const audited = (key: ApiKeyRecord) => ({
  id: key.id,
  label: key.label,
  scopes: [...key.scopes],
  revoked_at: key.revokedAt?.toISOString() ?? null,
});

/**
 * Creates a key for the tenant and returns it with its plain text, which is stored
 * nowhere: only its SHA-256 digest is. Audited as `api_key.create`. The scopes are the
 * caller's to check (the admin API never grants `operator`).
 */
export async function createApiKey(
  sql: Sql,
  tenantId: string,
  input: { readonly label: string; readonly scopes: readonly ApiKeyScope[]; readonly actor: string },
): Promise<{ record: ApiKeyRecord; key: string }> {
  return sql.begin((tx) => createApiKeyIn(tx, tenantId, input));
}

/** createApiKey inside the caller's transaction (a new tenant and its first key). */
export async function createApiKeyIn(
  tx: TransactionSql,
  tenantId: string,
  input: { readonly label: string; readonly scopes: readonly ApiKeyScope[]; readonly actor: string },
): Promise<{ record: ApiKeyRecord; key: string }> {
  const key = generateApiKey();
  const [row] = await tx<ApiKeyRow[]>`
    INSERT INTO api_keys (id, tenant_id, key_sha256, label, scopes)
    VALUES (${newId()}, ${tenantId}, ${hashApiKey(key)}, ${input.label}, ${tx.array([...input.scopes])})
    RETURNING id, tenant_id, label, scopes, created_at, revoked_at`;
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row');
  const record = toRecord(row);
  await writeAudit(tx, { tenantId, actor: input.actor, action: 'api_key.create', before: null, after: audited(record) });
  return { record, key };
}

/** The tenant's keys, revoked ones included, oldest first. */
export async function listApiKeys(sql: Sql, tenantId: string): Promise<ApiKeyRecord[]> {
  const rows = await sql<ApiKeyRow[]>`
    SELECT id, tenant_id, label, scopes, created_at, revoked_at FROM api_keys
    WHERE tenant_id = ${tenantId} ORDER BY created_at, id`;
  return rows.map(toRecord);
}

/**
 * Revokes one of the tenant's keys (audited as `api_key.revoke`); every replica refuses
 * it as soon as the commit's NOTIFY reaches it. Revoking a revoked key changes nothing.
 * Throws NotFoundError for a key of another tenant or none, and ConflictError when it
 * is the tenant's last working admin key: a tenant left without one could only be
 * repaired by an operator, so the API refuses; create another admin key first.
 */
export async function revokeApiKey(sql: Sql, tenantId: string, keyId: string, actor: string): Promise<ApiKeyRecord> {
  return sql.begin(async (tx) => {
    // Revocations of one tenant take turns, so two admins revoking each other's keys at
    // once cannot both pass the last-admin check.
    await tx`SELECT id FROM tenants WHERE id = ${tenantId} FOR NO KEY UPDATE`;
    const [row] = await tx<ApiKeyRow[]>`
      SELECT id, tenant_id, label, scopes, created_at, revoked_at FROM api_keys
      WHERE tenant_id = ${tenantId} AND id = ${keyId}`;
    if (row === undefined) throw new NotFoundError(`API key ${keyId}`);
    const before = toRecord(row);
    if (before.revokedAt !== null) return before;
    if (before.scopes.includes('admin')) {
      const [others] = await tx<{ n: number }[]>`
        SELECT count(*)::int AS n FROM api_keys
        WHERE tenant_id = ${tenantId} AND id <> ${keyId} AND revoked_at IS NULL AND 'admin' = ANY (scopes)`;
      if ((others?.n ?? 0) === 0) {
        throw new ConflictError(`API key ${keyId} is the tenant's last admin key; create another admin key before revoking it`);
      }
    }
    const [revoked] = await tx<ApiKeyRow[]>`
      UPDATE api_keys SET revoked_at = now() WHERE tenant_id = ${tenantId} AND id = ${keyId}
      RETURNING id, tenant_id, label, scopes, created_at, revoked_at`;
    if (revoked === undefined) throw new Error('UPDATE … RETURNING returned no row');
    const after = toRecord(revoked);
    await writeAudit(tx, { tenantId, actor, action: 'api_key.revoke', before: audited(before), after: audited(after) });
    return after;
  });
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    label: row.label,
    scopes: row.scopes,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}
