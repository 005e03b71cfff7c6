import { createHash, randomBytes } from 'node:crypto';
import { newId } from '@commstrat/core';
import type { Sql } from 'postgres';

export interface Tenant {
  readonly id: string;
  readonly name: string;
  /** Set when looked up by API key: what that key may do. */
  readonly scopes?: readonly ApiKeyScope[];
  /** Set when looked up by API key: the key's id, for the audit log (never the key). */
  readonly keyId?: string;
}

/**
 * send: submit and cancel messages; read: look them up; admin: the tenant's
 * configuration; operator: create and list tenants (/v1/admin/tenants). A key gets
 * `operator` only from the operator's command line or SQL, never through the API.
 */
export const API_KEY_SCOPES = ['send', 'read', 'admin', 'operator'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** The scopes a tenant's admin may give a key through the API. */
export const GRANTABLE_SCOPES = ['send', 'read', 'admin'] as const satisfies readonly ApiKeyScope[];

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** A new random API key, shown to the operator once and stored only as its digest. */
export function generateApiKey(): string {
  return `cs_${randomBytes(24).toString('base64url')}`;
}

/** Creates the tenant if missing and registers `apiKey` for it; safe to repeat. */
export async function ensureTenantWithKey(
  sql: Sql,
  tenant: Tenant,
  apiKey: string,
  label = 'default',
  scopes: readonly ApiKeyScope[] = ['send', 'read'],
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`INSERT INTO tenants (id, name) VALUES (${tenant.id}, ${tenant.name})
             ON CONFLICT (id) DO NOTHING`;
    await tx`INSERT INTO api_keys (id, tenant_id, key_sha256, label, scopes)
             VALUES (${newId()}, ${tenant.id}, ${hashApiKey(apiKey)}, ${label}, ${tx.array([...scopes])})
             ON CONFLICT (key_sha256) DO NOTHING`;
    await tx`INSERT INTO audit (tenant_id, actor, action, details)
             VALUES (${tenant.id}, 'system', 'tenant.ensure', ${tx.json({ label, scopes: [...scopes] })})`;
  });
}

/** Looks up the tenant of an active API key; null for an unknown or revoked key. */
export async function findTenantByApiKey(sql: Sql, apiKey: string): Promise<Tenant | null> {
  return findTenantByKeyDigest(sql, hashApiKey(apiKey));
}

/** Looks up the tenant of an active API key by its digest (hashApiKey). */
export async function findTenantByKeyDigest(sql: Sql, digest: Buffer): Promise<Tenant | null> {
  const rows = await sql<Tenant[]>`
    SELECT t.id, t.name, k.scopes, k.id AS "keyId" FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
    WHERE k.key_sha256 = ${digest} AND k.revoked_at IS NULL`;
  return rows[0] ?? null;
}
