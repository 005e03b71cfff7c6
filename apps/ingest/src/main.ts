import { loadIngestConfig } from './config.ts';
import { startIngest } from './server.ts';

const ingest = await startIngest(loadIngestConfig(process.env));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    ingest.logger.info(`${signal}: stopping`);
    void ingest.close().then(() => process.exit(0));
  });
}
