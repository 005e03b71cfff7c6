import type { Sql } from 'postgres';
import { resolveProviderDefinition } from '@commstrat/config';
import type { InboundMapping, ReceiptMapping } from '@commstrat/providers';

/** What the receipt route needs of a provider row to read its own delivery reports. */
export interface ReceiptProvider {
  readonly kind: string;
  readonly credentials: Readonly<Record<string, unknown>>;
  /**
   * The `receipts:` section of the definition the dispatcher sends with: the stored
   * version the provider is pinned to, else the shipped definition of its kind.
   * Undefined: the provider reads only the generic receipt format.
   */
  readonly receipts: ReceiptMapping | undefined;
  /** The definition's `inbound:` section, the same way; undefined: only the generic inbound format. */
  readonly inbound: InboundMapping | undefined;
}

export interface ReceiptProvidersOptions {
  /** How long a looked-up row (found or not) is trusted, in ms. Default 30 000. */
  readonly ttlMs?: number;
  /** Most providers kept. Default 10 000. */
  readonly maxEntries?: number;
}

/**
 * Provider rows (kind and credentials) by tenant and id, without a PostgreSQL round trip
 * per receipt request; like ReceiptSecrets, a changed row takes effect within `ttlMs`.
 * Null: no such enabled provider.
 */
export class ReceiptProviders {
  private readonly entries = new Map<string, { provider: ReceiptProvider | null; until: number }>();
  private readonly sql: Sql;
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(sql: Sql, options: ReceiptProvidersOptions = {}) {
    this.sql = sql;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  async providerOf(tenantId: string, providerId: string, now: number = Date.now()): Promise<ReceiptProvider | null> {
    const key = `${tenantId}/${providerId}`;
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.until > now) return cached.provider;
    const rows = await this.sql<{ kind: string; credentials: Record<string, unknown> | null }[]>`
      SELECT kind, credentials FROM providers WHERE tenant_id = ${tenantId} AND id = ${providerId} AND enabled`;
    const row = rows[0];
    // The definition it sends by: the stored version it is pinned to, or a shipped one.
    const definition = row === undefined ? null : await resolveProviderDefinition(this.sql, tenantId, providerId);
    const provider =
      row === undefined
        ? null
        : { kind: row.kind, credentials: row.credentials ?? {}, receipts: definition?.definition.receipts, inbound: definition?.definition.inbound };
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { provider, until: now + this.ttlMs });
    return provider;
  }
}
