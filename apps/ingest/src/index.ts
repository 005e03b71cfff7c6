export { loadIngestConfig, type IngestConfig } from './config.ts';
export { startIngest, type RunningIngest } from './server.ts';
export { createIngestApp, type IngestAppDeps } from './http-app.ts';
export { messageView } from './v1-routes.ts';
export { openApiDocument } from './openapi.ts';
export { RecoveryPass, type RecoveryOptions } from './recovery.ts';
export {
  KafkaIntake,
  kafkaIntakeFromConfig,
  type KafkaIntakeDeps,
  type KafkaIntakeOptions,
} from './kafka-intake.ts';
export { API_KEY_HEADER, recordBatchId } from './kafka-records.ts';
export {
  Intake,
  type AcceptedItem,
  type BatchOptions,
  type BatchOutcome,
  type IntakeDeps,
  type RejectedItem,
  type Source,
} from './intake.ts';
