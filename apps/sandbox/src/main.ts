import { parseAppConfig } from '@commstrat/core';
import { closeLogger, createLogger, createRegistry } from '@commstrat/observability';
import { createSandboxApp, sandboxInfo } from './sandbox-app.ts';

interface SandboxConfig {
  port: number;
  host: string;
  token: string;
  latencyMs: number;
  ratePerSecond: number;
}

const config = parseAppConfig<SandboxConfig>(
  {
    type: 'object',
    properties: {
      port: { type: 'integer', minimum: 0, maximum: 65535, default: 8082 },
      host: { type: 'string', default: '127.0.0.1' },
      token: { type: 'string', minLength: 1, default: 'sandbox-token' },
      latencyMs: { type: 'integer', minimum: 0, default: 0 },
      ratePerSecond: { type: 'integer', minimum: 0, default: 0 },
    },
  },
  {
    port: 'SANDBOX_PORT',
    host: 'SANDBOX_HOST',
    token: 'SANDBOX_TOKEN',
    latencyMs: 'SANDBOX_LATENCY_MS',
    ratePerSecond: 'SANDBOX_RATE_PER_SECOND',
  },
  process.env,
);

const logger = createLogger({ service: 'sandbox' });
const { app } = createSandboxApp({
  token: config.token,
  registry: createRegistry('sandbox'),
  info: sandboxInfo(config),
  behaviour: { latency_ms: config.latencyMs, rate_per_second: config.ratePerSecond },
});
const server = app.listen(config.port, config.host, () => {
  const base = `http://${config.host}:${config.port}`;
  logger.info(`sandbox provider at ${base}/v1/sms/batch, metrics ${base}/metrics, received ${base}/_sandbox/received`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => void closeLogger(logger).then(() => process.exit(0)));
    // Clients holding keep-alive connections would otherwise delay the exit.
    server.closeAllConnections();
  });
}
