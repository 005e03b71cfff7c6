// The processes the benches run as production does, each a child process of its own
// so the CPU of each tier is told apart: ingest, the sandbox provider, dispatcher
// replicas and BullMQ worker processes. Also the sandbox's inspection API, which is the
// clock every throughput and latency figure of the bench reads (`received_at`).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { sleep } from './progress.ts';

export interface ChildService {
  readonly name: string;
  readonly pid: number;
  /** Base URL of its HTTP listener, when it has one. */
  readonly url: string;
  /** SIGTERM (services finish what is in flight), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface ChildServiceOptions {
  readonly name: string;
  readonly root: string;
  /** Script run with this Node, relative to `root`. */
  readonly script: string;
  /** Flags for Node itself, before the script (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  readonly args?: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logFile: string;
  /** Polled until it answers 2xx; omitted: ready once spawned. */
  readonly readyPath?: string;
  readonly port?: number;
  /** How long to wait for `readyPath`, ms. Default 60 000. */
  readonly readyTimeoutMs?: number;
}

/** A port free right now; the child binds it a moment later (a race we accept in a bench). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

export async function startChildService(options: ChildServiceOptions): Promise<ChildService> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = openSync(options.logFile, 'a');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])], {
    cwd: options.root,
    env: options.env,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exitCode = code;
      resolve();
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.name}`);
  const url = `http://127.0.0.1:${options.port ?? 0}`;
  const service: ChildService = {
    name: options.name,
    pid,
    url,
    async stop(graceMs = 30_000) {
      if (exitCode !== undefined) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
  if (options.readyPath === undefined) return service;
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `${options.name} exited with code ${String(exitCode)} before it was ready; log: ${options.logFile}\n${tail(options.logFile)}`,
      );
    }
    const ready = await fetch(`${url}${options.readyPath}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return service;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `${options.name} was not ready within ${timeoutMs / 1000} s; log: ${options.logFile}\n${tail(options.logFile)}`,
      );
    }
    await sleep(100);
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Sum of a Prometheus counter's samples (all label sets) on a /metrics page. */
export async function scrapeCounter(url: string, metric: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${metric}{`) || line.startsWith(`${metric} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

export interface ReceivedSms {
  readonly client_ref: string | undefined;
  /** Sandbox clock (this machine's), ms since epoch, when the carrying request arrived. */
  readonly received_at: number;
}

/** The sandbox provider's inspection API. */
export class SandboxInspector {
  readonly url: string;

  constructor(url: string) {
    this.url = url;
  }

  /** How many SMS it holds, and (at most) the last 1 000 of them. */
  async received(clientRef?: string): Promise<{ count: number; messages: ReceivedSms[] }> {
    const query = clientRef === undefined ? '' : `?client_ref=${encodeURIComponent(clientRef)}`;
    const response = await fetch(`${this.url}/_sandbox/received${query}`);
    if (!response.ok) throw new Error(`sandbox answered ${response.status}`);
    return (await response.json()) as { count: number; messages: ReceivedSms[] };
  }

  async clear(): Promise<void> {
    await fetch(`${this.url}/_sandbox/received`, { method: 'DELETE' });
  }
}

/** p-th percentile (0..100) of sorted values, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
