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
  /** Set when looked up by API key: the tenant has a default callback URL (its messages are called back). */
  readonly callbacks?: boolean;
}

/**
 * send: submit and cancel messages; read: look them up; admin: the tenant's
 * configuration; operator: create and list tenants (/v1/admin/tenants), and every
 * tenant in the operator console; pii: recipients' phone numbers and e-mail addresses
 * unmasked in the operator console (masked for any other key there). A key gets
 * `operator` only from the operator's command line or SQL, never through the API.
 */
export const API_KEY_SCOPES = ['send', 'read', 'admin', 'operator', 'pii'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * The scopes a tenant's admin may give a key through the API. `pii` is among them: the
 * tenant's own recipients are the tenant's to show (a `read` key sees them over the API
 * anyway); an operator key gets it, like `operator`, only from the command line.
 */
export const GRANTABLE_SCOPES = ['send', 'read', 'admin', 'pii'] as const satisfies readonly ApiKeyScope[];

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
  const rows = await sql<(Tenant & { callbacks: boolean })[]>`
    SELECT t.id, t.name, k.scopes, k.id AS "keyId", t.callback_url IS NOT NULL AS callbacks FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
    WHERE k.key_sha256 = ${digest} AND k.revoked_at IS NULL`;
  const row = rows[0];
  if (row === undefined) return null;
  // `callbacks` only where the tenant has a default callback URL: the tenant reads as before otherwise.
  const { callbacks, ...tenant } = row;
  return callbacks ? { ...tenant, callbacks } : tenant;
}
