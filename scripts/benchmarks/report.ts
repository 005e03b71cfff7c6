// The results table on stdout and the same figures as JSON under .stack/bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatCount } from './progress.ts';

export interface TableRow {
  readonly scenario: string;
  readonly messages: number;
  readonly messagesPerSecond: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  /** msg/s divided by the redis-benchmark XADD rate of the same run. */
  readonly ratioToXadd: number | undefined;
  readonly notes: string;
}

export function formatTable(rows: readonly TableRow[]): string {
  const header = ['scenario', 'messages', 'msg/s', 'p50 ms', 'p99 ms', 'vs XADD', 'notes'];
  const cells = rows.map((row) => [
    row.scenario,
    formatCount(row.messages),
    formatCount(row.messagesPerSecond),
    row.p50Ms === undefined ? '' : formatCount(row.p50Ms, row.p50Ms < 10 ? 1 : 0),
    row.p99Ms === undefined ? '' : formatCount(row.p99Ms, row.p99Ms < 10 ? 1 : 0),
    row.ratioToXadd === undefined ? '' : `${(row.ratioToXadd * 100).toFixed(1)}%`,
    row.notes,
  ]);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...cells.map((c) => (c[i] ?? '').length)),
  );
  const numeric = new Set([1, 2, 3, 4, 5]);
  const line = (values: readonly string[]) =>
    values
      .map((value, i) =>
        i === values.length - 1
          ? value
          : numeric.has(i)
            ? value.padStart(widths[i] ?? 0)
            : value.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function writeJson(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
