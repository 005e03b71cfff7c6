import { NotFoundError, effectiveConsent, type ConsentSettings } from '@commstrat/core';
import type { JSONValue, Sql } from 'postgres';
import { writeAudit } from './audit.ts';

/**
 * A tenant's consent settings as stored (null: the defaults) and as they apply. Throws
 * NotFoundError for an unknown tenant.
 */
export async function readConsentSettings(sql: Sql, tenantId: string): Promise<{ stored: Partial<ConsentSettings> | null; effective: ConsentSettings }> {
  const [row] = await sql<{ consent: Partial<ConsentSettings> | null }[]>`SELECT consent FROM tenants WHERE id = ${tenantId}`;
  if (row === undefined) throw new NotFoundError(`tenant ${tenantId}`);
  return { stored: row.consent, effective: effectiveConsent(row.consent) };
}

/**
 * Replaces a tenant's consent settings (already checked: parseConsentSettings), audited;
 * null goes back to the defaults. The tenants trigger notifies every replica.
 */
export async function setConsentSettings(sql: Sql, tenantId: string, settings: Partial<ConsentSettings> | null, actor: string): Promise<ConsentSettings> {
  return sql.begin(async (tx) => {
    const [before] = await tx<{ consent: Partial<ConsentSettings> | null }[]>`SELECT consent FROM tenants WHERE id = ${tenantId} FOR UPDATE`;
    if (before === undefined) throw new NotFoundError(`tenant ${tenantId}`);
    const value = settings === null ? null : tx.json(settings as JSONValue);
    await tx`UPDATE tenants SET consent = ${value} WHERE id = ${tenantId}`;
    await writeAudit(tx, { tenantId, actor, action: 'tenant.consent', before: before.consent, after: settings });
    return effectiveConsent(settings);
  });
}
