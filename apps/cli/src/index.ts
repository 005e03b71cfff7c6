export { loadCliConfig, type CliConfig } from './config.ts';
