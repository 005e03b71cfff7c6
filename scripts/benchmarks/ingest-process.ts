// Runs ingest as production does — `node apps/ingest/src/main.ts` in a process of its
// own — so the load generator's CPU and the service's are told apart, and a CPU profile
// (`--cpu-prof`) covers the service only.
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startChildService } from './dispatcher-processes.ts';

export interface IngestProcess {
  readonly url: string;
  readonly pid: number;
  /** SIGTERM (ingest finishes what is in flight), then waits; returns the CPU profile written, if any. */
  stop(): Promise<string | undefined>;
}

export interface IngestProcessOptions {
  readonly root: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Where stdout and stderr go (JSON log lines at the configured level). */
  readonly logFile: string;
  /** Writes a V8 CPU profile of the whole process life here when set. */
  readonly profileDir?: string | undefined;
  /** How long to wait for /health/ready, ms. Default 60 000 (Kafka group join is slow). */
  readonly readyTimeoutMs?: number;
}

export async function startIngestProcess(options: IngestProcessOptions): Promise<IngestProcess> {
  const { profileDir } = options;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const port = await freePort();
  const service = await startChildService({
    name: 'ingest',
    root: options.root,
    script: 'apps/ingest/src/main.ts',
    nodeArgs: profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    env: { ...options.env, INGEST_HOST: '127.0.0.1', INGEST_PORT: String(port) },
    logFile: options.logFile,
    readyPath: '/health/ready',
    port,
    readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
  });
  return {
    url: service.url,
    pid: service.pid,
    async stop() {
      await service.stop(30_000);
      if (profileDir === undefined) return undefined;
      // Node names it CPU.<date>.<time>.<pid>.<thread>.<sequence>.cpuprofile.
      const written = readdirSync(profileDir).find(
        (f) => f.endsWith('.cpuprofile') && f.includes(`.${service.pid}.`),
      );
      return written === undefined ? undefined : join(profileDir, written);
    },
  };
}
