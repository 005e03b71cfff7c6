// REST load with autocannon (closed loop: each connection sends its next request when
// the previous one is answered), a warm-up run whose figures are dropped, then the
// measured run. Only 202 answers count as accepted messages.
import autocannon from 'autocannon';
import { formatCount, progress } from './progress.ts';

export interface RestLoadOptions {
  readonly label: string;
  /** Base URL of ingest, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly path: '/v1/messages' | '/v1/messages/batch';
  readonly body: string;
  readonly apiKey: string;
  readonly messagesPerRequest: number;
  readonly connections: number;
  readonly warmupSeconds: number;
  readonly durationSeconds: number;
  /** Told when the measured run starts and ends (to meter CPU over it). */
  readonly measure?: MeasureHooks;
}

export interface MeasureHooks {
  start(): void;
  end(): void;
}

export interface RestLoadResult {
  readonly requests: number;
  /** Accepted messages: 202 answers × messages per request. */
  readonly messages: number;
  readonly seconds: number;
  readonly messagesPerSecond: number;
  /** Request latency as autocannon measures it (send to last byte), ms. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Answers other than 202, by status, plus connection errors and timeouts. */
  readonly failures: Readonly<Record<string, number>>;
  /** Messages accepted in each second of the measured run. */
  readonly perSecond: readonly number[];
}

/** Runs autocannon; `perSecond` receives the messages accepted in each second. */
function run(
  options: RestLoadOptions,
  seconds: number,
  report: boolean,
  perSecond: number[] = [],
): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    let accepted = 0;
    let tick = 0;
    let lastAccepted = 0;
    const instance = autocannon(
      {
        url: `${options.url}${options.path}`,
        method: 'POST',
        headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json' },
        body: options.body,
        connections: options.connections,
        duration: seconds,
        timeout: 30,
      },
      (error: unknown, result) => {
        if (error === null || error === undefined) resolve(result);
        else
          reject(
            error instanceof Error
              ? error
              : new Error(`autocannon failed: ${JSON.stringify(error)}`),
          );
      },
    );
    instance.on('response', (_client, statusCode) => {
      if (statusCode === 202) accepted += 1;
    });
    instance.on('tick', () => {
      tick += 1;
      perSecond.push((accepted - lastAccepted) * options.messagesPerRequest);
      lastAccepted = accepted;
      if (report && tick % 5 === 0) {
        progress(
          `${options.label}: ${tick} s, ${formatCount((accepted * options.messagesPerRequest) / tick)} msg/s so far`,
        );
      }
    });
  });
}

export async function runRestLoad(options: RestLoadOptions): Promise<RestLoadResult> {
  progress(
    `${options.label}: warm-up ${options.warmupSeconds} s (${options.connections} connections)`,
  );
  await run(options, options.warmupSeconds, false);
  progress(`${options.label}: measuring ${options.durationSeconds} s`);
  options.measure?.start();
  const perSecond: number[] = [];
  const result = await run(options, options.durationSeconds, true, perSecond);
  options.measure?.end();
  const requests = result.statusCodeStats?.['202']?.count ?? 0;
  const failures: Record<string, number> = {};
  for (const [status, { count = 0 }] of Object.entries(result.statusCodeStats ?? {})) {
    if (status !== '202' && count > 0) failures[status] = count;
  }
  if (result.errors > 0) failures['errors'] = result.errors;
  if (result.timeouts > 0) failures['timeouts'] = result.timeouts;
  const messages = requests * options.messagesPerRequest;
  return {
    requests,
    messages,
    seconds: result.duration,
    messagesPerSecond: messages / result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    failures,
    // autocannon ticks once more as it stops, with nothing counted in it.
    perSecond: perSecond.slice(0, options.durationSeconds),
  };
}
