import type { Sql } from 'postgres';

export interface ReceiptSecretsOptions {
  /** How long a looked-up secret (found or not) is trusted, in ms. Default 30 000. */
  readonly ttlMs?: number;
  /** Most providers kept. Default 10 000. */
  readonly maxEntries?: number;
}

/**
 * The secret each provider signs its delivery receipts with (`receipt_secret` among the
 * provider's credentials), looked up without a PostgreSQL round trip per receipt
 * request. Null: the provider does not exist, or has no receipt secret, so its receipts
 * are refused. A changed secret takes effect within `ttlMs`.
 */
export class ReceiptSecrets {
  private readonly entries = new Map<string, { secret: string | null; until: number }>();
  private readonly sql: Sql;
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(sql: Sql, options: ReceiptSecretsOptions = {}) {
    this.sql = sql;
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  async secretOf(tenantId: string, providerId: string, now: number = Date.now()): Promise<string | null> {
    const key = `${tenantId}/${providerId}`;
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.until > now) return cached.secret;
    const rows = await this.sql<{ secret: string | null }[]>`
      SELECT credentials->>'receipt_secret' AS secret FROM providers
      WHERE tenant_id = ${tenantId} AND id = ${providerId} AND enabled`;
    const secret = rows[0]?.secret ?? null;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { secret: secret === '' ? null : secret, until: now + this.ttlMs });
    return secret === '' ? null : secret;
  }
}
