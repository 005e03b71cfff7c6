export { loadIngestConfig, type IngestConfig } from './config.ts';
export { startIngest, type RunningIngest } from './server.ts';
export { createIngestApp, messageView, type IngestAppDeps } from './http-app.ts';
export { Intake, type IntakeDeps, type Source } from './intake.ts';
