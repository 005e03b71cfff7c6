export { loadCliConfig, type CliConfig } from './config.ts';
export { Redriver, redriveMessage, type RedriveOutcome } from './redriver.ts';
