export { loadDispatcherConfig, type DispatcherConfig } from './config.ts';
export { startDispatcher, type DispatcherOptions, type RunningDispatcher } from './server.ts';
export { Dispatcher, type DispatcherDeps } from './dispatcher.ts';
