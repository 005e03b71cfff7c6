// The ceiling for lane appends on this Redis: redis-benchmark's pipelined XADD rate to a
// stream of the run's own, measured in the same run as the scenarios so a noisy machine
// moves both. The stream is deleted afterwards.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { progress } from './progress.ts';

export interface XaddBaseline {
  readonly command: string;
  readonly requestsPerSecond: number;
  /** redis-benchmark's own p50 of a pipelined round trip, ms (Redis 7 prints it). */
  readonly p50Ms: number | undefined;
}

export async function measureXadd(
  redisUrl: string,
  key: string,
  requests = 200_000,
): Promise<XaddBaseline> {
  const { hostname, port } = new URL(redisUrl);
  const args = [
    '-h',
    hostname,
    '-p',
    port || '6379',
    '-n',
    String(requests),
    '-P',
    '16',
    '-q',
    'XADD',
    key,
    '*',
    'f',
    'v',
  ];
  const command = `redis-benchmark ${args.map((a) => (a === '*' ? `'*'` : a)).join(' ')}`;
  progress(`baseline: ${command}`);
  const { stdout } = await promisify(execFile)('redis-benchmark', args, { timeout: 120_000 });
  // -q prints e.g. "XADD key * f v: 312500.00 requests per second, p50=2.031 msec" after \r progress.
  const line =
    stdout
      .split(/[\r\n]/)
      .filter((l) => l.includes('requests per second'))
      .at(-1) ?? '';
  const rate = /([\d.]+) requests per second/.exec(line);
  if (rate === null)
    throw new Error(`could not read redis-benchmark's output: ${stdout.slice(-300)}`);
  const p50 = /p50=([\d.]+) msec/.exec(line);
  return {
    command,
    requestsPerSecond: Number(rate[1]),
    p50Ms: p50 === null ? undefined : Number(p50[1]),
  };
}
