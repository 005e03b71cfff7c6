import { randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import { writeAudit } from './audit.ts';

/** Where a tenant's callbacks go by default and what they are signed with. */
export interface CallbackTarget {
  /** The tenant's default callback URL; null: only messages with their own URL are called back. */
  readonly url: string | null;
  /**
   * The tenant's signing secret, `whsec_<base64>`. Standard Webhooks signatures are keyed
   * with the bytes it encodes; the deprecated X-Commstrat-Signature with the text itself.
   * Never log it.
   */
  readonly secret: string;
}

/**
 * A new signing secret: 32 random bytes, `whsec_` and standard base64, the form Standard
 * Webhooks libraries take as it is. (Secrets made before were base64url; they still sign,
 * and the API shows their standard form as `webhook_secret`.)
 */
export function generateCallbackSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The tenant's callback settings, with its signing secret created on first use: a
 * conditional write, so two replicas creating it at once end up with the one that won.
 */
export async function callbackTargetOf(sql: Sql, tenantId: string): Promise<CallbackTarget | null> {
  const rows = await sql<{ url: string | null; secret: string | null }[]>`
    UPDATE tenants SET callback_secret = COALESCE(callback_secret, ${generateCallbackSecret()})
    WHERE id = ${tenantId} RETURNING callback_url AS url, callback_secret AS secret`;
  const row = rows[0];
  return row === undefined || row.secret === null ? null : { url: row.url, secret: row.secret };
}

/** Sets (or, with null, removes) the tenant's default callback URL; returns its settings. */
export async function setTenantCallbackUrl(sql: Sql, tenantId: string, url: string | null, actor: string): Promise<CallbackTarget | null> {
  return sql.begin(async (tx) => {
    const [before] = await tx<{ url: string | null }[]>`
      SELECT callback_url AS url FROM tenants WHERE id = ${tenantId} FOR UPDATE`;
    await tx`UPDATE tenants SET callback_url = ${url} WHERE id = ${tenantId}`;
    await writeAudit(tx, { tenantId, actor, action: 'tenant.callback_url', before: { callback_url: before?.url ?? null }, after: { callback_url: url } });
    return callbackTargetOf(tx as unknown as Sql, tenantId);
  });
}

/** Replaces the tenant's signing secret; callbacks signed from now on use the new one. */
export async function rotateCallbackSecret(sql: Sql, tenantId: string, actor: string): Promise<CallbackTarget | null> {
  return sql.begin(async (tx) => {
    await tx`UPDATE tenants SET callback_secret = ${generateCallbackSecret()} WHERE id = ${tenantId}`;
    // The secret itself is never audited: before and after say only that one was set.
    await writeAudit(tx, { tenantId, actor, action: 'tenant.callback_secret_rotated', before: { signing_secret: 'set' }, after: { signing_secret: 'rotated' } });
    return callbackTargetOf(tx as unknown as Sql, tenantId);
  });
}

export interface CallbackTargetsOptions {
  /** How long a looked-up target is trusted, in ms. Default 30 000. */
  readonly ttlMs?: number;
}

/**
 * Callback targets by tenant, without a PostgreSQL round trip per callback. A changed URL
 * or a rotated secret takes effect within `ttlMs`; a failed lookup is not cached.
 */
export class CallbackTargets {
  private readonly entries = new Map<string, { target: CallbackTarget | null; until: number }>();
  private readonly sql: Sql;
  private readonly ttlMs: number;

  constructor(sql: Sql, options: CallbackTargetsOptions = {}) {
    this.sql = sql;
    this.ttlMs = options.ttlMs ?? 30_000;
  }

  async targetOf(tenantId: string, now: number = Date.now()): Promise<CallbackTarget | null> {
    const cached = this.entries.get(tenantId);
    if (cached !== undefined && cached.until > now) return cached.target;
    const target = await callbackTargetOf(this.sql, tenantId);
    if (this.entries.size >= 10_000) this.entries.clear();
    this.entries.set(tenantId, { target, until: now + this.ttlMs });
    return target;
  }
}
