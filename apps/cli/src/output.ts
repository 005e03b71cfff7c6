import type { JsonChange } from '@commstrat/core';

/** Plain text tables for people; `--json` prints the same data for scripts. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells: string[][] = [headers.slice(), ...rows.map((row) => row.map(cell))];
  const widths = headers.map((_header, i) => Math.max(...cells.map((row) => String(row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((value, i) => value.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(cells[0] ?? []), line(widths.map((width) => '-'.repeat(width))), ...cells.slice(1).map(line)].join('\n');
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  return JSON.stringify(value) ?? '-';
}

/** JSON with dates as ISO strings, one document, for `--json`. */
export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** `1234` ms as `1.2s`, `75000` as `1m15s`: idle times and lag at a glance. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

/**
 * Changes one a line: `+ path: value` added, `- path: value` removed, `~ path: before -> after`
 * changed; values as compact JSON, so a string reads "quoted" and a number does not.
 */
export function renderChanges(changes: readonly JsonChange[]): string {
  return changes
    .map((change) => {
      const path = change.path === '' ? '/' : change.path;
      if (!Object.hasOwn(change, 'before') || change.before === undefined) return `  + ${path}: ${compact(change.after)}`;
      if (!Object.hasOwn(change, 'after') || change.after === undefined) return `  - ${path}: ${compact(change.before)}`;
      return `  ~ ${path}: ${compact(change.before)} -> ${compact(change.after)}`;
    })
    .join('\n');
}

function compact(value: unknown): string {
  return JSON.stringify(value) ?? 'undefined';
}
