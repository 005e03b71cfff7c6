export {
  createLogger,
  closeLogger,
  tierLogger,
  type LogFields,
  type LogLevel,
  type Logger,
  type LoggerOptions,
  type TierLogSettings,
} from './logger.ts';
export { createMasker, type Masker, type MaskingOptions, type MaskMode } from './masking.ts';
export {
  configCacheMetrics,
  createRegistry,
  dispatcherMetrics,
  ingestMetrics,
  laneDepthGauge,
  laneLagGauges,
  type ConfigCacheMetrics,
  type DispatcherMetrics,
  type IngestMetrics,
  type MetricsOptions,
} from './metrics.ts';
export {
  MONITORING_ROUTES,
  errorResponse,
  jsonErrorHandler,
  methodGuard,
  notFound,
  type RouteTable,
} from './http-errors.ts';
export {
  listen,
  monitoringRouter,
  type HttpListener,
  type ListenTimeouts,
  type MonitoringOptions,
  type ReadinessCheck,
} from './monitoring.ts';
export { processInfo, settingsHash, type ProcessInfo } from './process-info.ts';
export type { Registry } from 'prom-client';
export { callbackMetrics, type CallbackMetrics } from './metrics.ts';
export { templateMetrics, type TemplateMetrics } from './template-metrics.ts';
