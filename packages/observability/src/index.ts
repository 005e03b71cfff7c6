export { createLogger, closeLogger, tierLogger, type Logger, type LoggerOptions } from './logger.ts';
export {
  configCacheMetrics,
  createRegistry,
  dispatcherMetrics,
  httpMetrics,
  ingestMetrics,
  laneDepthGauge,
  laneLagGauges,
  type DispatcherMetrics,
  type HttpMetrics,
  type IngestMetrics,
} from './metrics.ts';
export {
  listen,
  monitoringRouter,
  type HttpListener,
  type MonitoringOptions,
  type ReadinessCheck,
} from './monitoring.ts';
export type { Registry } from 'prom-client';
