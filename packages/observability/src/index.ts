export {
  createLogger,
  closeLogger,
  tierLogger,
  type Logger,
  type LoggerOptions,
  type TierLogSettings,
} from './logger.ts';
export { createMasker, type Masker, type MaskingOptions, type MaskMode } from './masking.ts';
export {
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
