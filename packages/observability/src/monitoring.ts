import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Router } from 'express';
import type { Registry } from 'prom-client';
import type { ProcessInfo } from './process-info.ts';

/** A readiness check: resolves when the dependency answers, rejects otherwise. */
export type ReadinessCheck = () => Promise<unknown>;

export interface MonitoringOptions {
  readonly registry: Registry;
  /** Named checks run by /health/ready, e.g. { redis: () => redis.ping() }. */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  /** Per-check time limit in ms. Default 2000. */
  readonly checkTimeoutMs?: number;
  /** What `/info` answers. */
  readonly info: ProcessInfo;
}

/** `/metrics`, `/health/live`, `/health/ready` and `/info` for any tier's HTTP port. */
export function monitoringRouter(options: MonitoringOptions): Router {
  const router = express.Router();
  const timeoutMs = options.checkTimeoutMs ?? 2000;

  router.get('/metrics', async (_req, res) => {
    res.type(options.registry.contentType).send(await options.registry.metrics());
  });

  router.get('/info', (_req, res) => {
    res.json(options.info);
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

/** An HTTP port a tier listens on. */
export interface HttpListener {
  /** e.g. http://127.0.0.1:8080, with the port actually bound (port 0 picks one). */
  readonly url: string;
  /** Stops accepting, drops idle keep-alive connections, resolves when closed. */
  close(): Promise<void>;
}

/** Limits on how slowly a client may send (Node's defaults: 60 s for headers, 300 s per request). */
export interface ListenTimeouts {
  /** Time to receive all request headers, ms. */
  readonly headersTimeoutMs?: number;
  /** Time to receive a whole request, body included, ms; past it Node answers 408 and closes. */
  readonly requestTimeoutMs?: number;
}

/** Listens with `app` and resolves once the port is bound (rejects if it cannot be). */
export async function listen(app: Express, host: string, port: number, timeouts: ListenTimeouts = {}): Promise<HttpListener> {
  // A client sending a byte at a time would otherwise hold a connection for minutes.
  // Node checks these limits every connectionsCheckingInterval (default 30 s), so that
  // follows the shorter limit for them to hold within about a second.
  const requestTimeout = timeouts.requestTimeoutMs ?? 300_000;
  const headersTimeout = Math.min(timeouts.headersTimeoutMs ?? 60_000, requestTimeout);
  const server = createServer(
    { requestTimeout, headersTimeout, connectionsCheckingInterval: Math.min(1000, headersTimeout) },
    app,
  ).listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${bound}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    },
  };
}
