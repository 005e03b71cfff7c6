import { DEFAULT_RETRY_POLICY } from '@commstrat/core';
import type { Sql } from 'postgres';
import { ensureStrategy, upsertProvider } from './strategies.ts';

export interface SandboxRoutingOptions {
  /** Base URL of the sandbox provider. */
  readonly endpoint: string;
  readonly token: string;
  /** Default 1 000 messages per second. */
  readonly ratePerSecond?: number;
  /** Default 100. */
  readonly maxBatchSize?: number;
  /** Default 50 ms. */
  readonly lingerMs?: number;
  /** Default 4 per replica. */
  readonly concurrency?: number;
  /** Provider id. Default `sandbox-sms`. */
  readonly providerId?: string;
}

/**
 * Gives a tenant the sandbox SMS provider and a default SMS strategy that sends through
 * it (`sms-default`): what the local demo, the tests and the benchmarks run on. Safe to
 * repeat: no new strategy version when nothing changed.
 */
export async function ensureSandboxRouting(
  sql: Sql,
  tenantId: string,
  options: SandboxRoutingOptions,
): Promise<number> {
  const providerId = options.providerId ?? 'sandbox-sms';
  await upsertProvider(sql, tenantId, {
    id: providerId,
    kind: 'http-sms',
    endpoint: options.endpoint,
    credentials: { token: options.token },
    ratePerSecond: options.ratePerSecond ?? 1000,
    concurrency: options.concurrency ?? 4,
    maxBatchSize: options.maxBatchSize ?? 100,
    lingerMs: options.lingerMs ?? 50,
    timeoutMs: 10_000,
  });
  const { version } = await ensureStrategy(
    sql,
    tenantId,
    {
      name: 'sms-default',
      channel: 'sms',
      steps: [
        {
          route: { mode: 'failover', providers: [providerId] },
          ttl_seconds: 86_400,
          retry: {
            max_attempts: DEFAULT_RETRY_POLICY.maxAttempts,
            base_delay_ms: DEFAULT_RETRY_POLICY.baseDelayMs,
            max_delay_ms: DEFAULT_RETRY_POLICY.maxDelayMs,
          },
        },
      ],
    },
    { defaultForChannel: true },
  );
  return version;
}
