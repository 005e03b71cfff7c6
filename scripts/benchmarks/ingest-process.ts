// Runs ingest as production does — `node apps/ingest/src/main.ts` in a process of its
// own — so the load generator's CPU and the service's are told apart, and a CPU profile
// (`--cpu-prof`) covers the service only.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { sleep } from './progress.ts';

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

/** A port free right now; ingest binds it a moment later (a race we accept in a bench). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

export async function startIngestProcess(options: IngestProcessOptions): Promise<IngestProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const profileFlags: string[] = [];
  if (options.profileDir !== undefined) {
    mkdirSync(options.profileDir, { recursive: true });
    profileFlags.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
  }
  const child: ChildProcess = spawn(
    process.execPath,
    [...profileFlags, 'apps/ingest/src/main.ts'],
    {
      cwd: options.root,
      env: { ...options.env, INGEST_HOST: '127.0.0.1', INGEST_PORT: String(port) },
      stdio: ['ignore', log, log],
    },
  );
  closeSync(log);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start ingest');

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `ingest exited with code ${String(exitCode)} before it was ready; log: ${options.logFile}\n${tail(options.logFile)}`,
      );
    }
    const ready = await fetch(`${url}/health/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `ingest was not ready within the timeout; log: ${options.logFile}\n${tail(options.logFile)}`,
      );
    }
    await sleep(200);
  }

  return {
    url,
    pid,
    async stop() {
      if (exitCode === undefined) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(killer);
      }
      if (options.profileDir === undefined) return undefined;
      // Node names it CPU.<date>.<time>.<pid>.<thread>.<sequence>.cpuprofile.
      const written = readdirSync(options.profileDir).find(
        (f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.`),
      );
      return written === undefined ? undefined : join(options.profileDir, written);
    },
  };
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
