import { loadDispatcherConfig } from './config.ts';
import { startDispatcher } from './server.ts';

const dispatcher = await startDispatcher(loadDispatcherConfig(process.env));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    dispatcher.logger.info(`${signal}: finishing the batch in flight, then stopping`);
    void dispatcher.close().then(() => process.exit(0));
  });
}
