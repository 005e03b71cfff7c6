export { loadDispatcherConfig, type DispatcherConfig } from './config.ts';
export { startDispatcher, type RunningDispatcher } from './server.ts';
export { Dispatcher, type DispatcherDeps } from './dispatcher.ts';
