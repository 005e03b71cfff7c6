export { createSandboxApp, type SandboxOptions } from './sandbox-app.ts';
export { DEFAULT_BEHAVIOUR, type SandboxBehaviour } from './behaviour.ts';
export type { ReceivedSms } from './received-store.ts';
