import express, { type Router } from 'express';
import type { Registry } from 'prom-client';

/** A readiness check: resolves when the dependency answers, rejects otherwise. */
export type ReadinessCheck = () => Promise<unknown>;

export interface MonitoringOptions {
  readonly registry: Registry;
  /** Named checks run by /health/ready, e.g. { redis: () => redis.ping() }. */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  /** Per-check time limit in ms. Default 2000. */
  readonly checkTimeoutMs?: number;
}

/** `/metrics`, `/health/live` and `/health/ready` for any tier's HTTP port. */
export function monitoringRouter(options: MonitoringOptions): Router {
  const router = express.Router();
  const timeoutMs = options.checkTimeoutMs ?? 2000;

  router.get('/metrics', async (_req, res) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });

  router.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/health/ready', async (_req, res) => {
    const results = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => {
        try {
          await withTimeout(check(), timeoutMs);
          return [name, { status: 'ok' }] as const;
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          return [name, { status: 'down', error: message }] as const;
        }
      }),
    );
    const ready = results.every(([, result]) => result.status === 'ok');
    const checks = Object.fromEntries<{ status: string; error?: string }>(results);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'down', checks });
  });

  return router;
}

async function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
