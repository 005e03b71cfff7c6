// `scripts/bench templates`: what rendering costs ingest. Typical templates rendered
// with LiquidJS in this process and through the render worker (as intake calls it),
// against plain string concatenation of the same content and JSON.stringify of it in the
// same run; then hostile templates: how long until each is refused, by which bound,
// what the worker's restart costs, and how long the process's own event loop was held
// meanwhile. Prints tables on stdout and writes every figure to
// .stack/bench/templates-<run>.json. Needs no server.
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { compileVariant, DEFAULT_RENDER_LIMITS, renderVariant, TemplateRenderer, type RenderOutcome } from '@commstrat/templates';
import { formatCount, progress } from './progress.ts';
import { writeJson } from './report.ts';
import { hostileCases, typicalCases, type HostileCase, type TypicalCase } from './templates-cases.ts';

const USAGE = `usage: scripts/bench templates [options]
  --renders N   renders per typical template and mode (default 20000)
  --hostile N   refusals per hostile template (default 5)`;

const HARD_TIMEOUT_MS = 1000;
const HEAP_MB = 128;

interface TypicalRow {
  readonly template: string;
  readonly mode: string;
  readonly renders: number;
  readonly perSecond: number;
  readonly meanUs: number;
  readonly p50Us?: number;
  readonly p99Us?: number;
  /** Mean time divided by the concatenation baseline's (or JSON.stringify's where there is none). */
  readonly vsBaseline?: number;
}

interface HostileRow {
  readonly template: string;
  readonly what: string;
  readonly stoppedBy: string;
  readonly tries: number;
  readonly refused: number;
  readonly medianMs: number;
  readonly maxMs: number;
  readonly ceilingMs: number;
  readonly restarts: number;
  /** Time of the first typical render after it: a new worker's start when it was replaced. */
  readonly nextRenderMs: number;
  readonly heapMb: number;
  readonly said: string;
}

function time(renders: number, body: () => unknown): number {
  const started = performance.now();
  for (let i = 0; i < renders; i++) body();
  return (performance.now() - started) / renders;
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function typical(renderer: TemplateRenderer, test: TypicalCase, renders: number): Promise<TypicalRow[]> {
  const limits = DEFAULT_RENDER_LIMITS;
  const warm = Math.min(2000, renders);
  const rows: TypicalRow[] = [];
  const row = (mode: string, meanMs: number, extra: Partial<TypicalRow> = {}): TypicalRow => ({
    template: test.name,
    mode,
    renders,
    perSecond: 1000 / meanMs,
    meanUs: meanMs * 1000,
    ...extra,
  });
  // MJML is compiled in the worker only (it needs its window); in-process rows are for Liquid.
  let content: unknown = undefined;
  if (test.source.mjml === undefined) {
    const compiled = compileVariant(test.source, limits, undefined);
    const inProcess = (): RenderOutcome => renderVariant(compiled, test.variables, performance.now() + limits.renderMs, limits);
    time(warm, inProcess);
    const first = inProcess();
    content = first.ok ? first.content : undefined;
    rows.push(row('liquid, in process', time(renders, inProcess)));
  }
  const key = `bench\u0000${test.name}`;
  const item = { key, source: () => test.source, variables: test.variables };
  const [first] = await renderer.render([item]);
  if (first === undefined || !first.ok) throw new Error(`${test.name} does not render: ${JSON.stringify(first)}`);
  content ??= first.content;
  for (let i = 0; i < warm; i++) await renderer.render([item]);
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < renders; i++) {
    const at = performance.now();
    await renderer.render([item]);
    latencies.push(performance.now() - at);
  }
  const sequential = (performance.now() - started) / renders;
  latencies.sort((a, b) => a - b);
  rows.push(row('worker, one at a time (as intake)', sequential, { p50Us: percentile(latencies, 0.5) * 1000, p99Us: percentile(latencies, 0.99) * 1000 }));
  const concurrentStarted = performance.now();
  for (let done = 0; done < renders; done += 16) await Promise.all(Array.from({ length: 16 }, () => renderer.render([item])));
  rows.push(row('worker, 16 in flight', (performance.now() - concurrentStarted) / renders));
  const concat = test.concat;
  if (concat !== undefined) {
    time(warm, () => concat(test.variables));
    rows.push(row('baseline: string concatenation', time(renders, () => concat(test.variables))));
  }
  const json = () => JSON.stringify({ content, variables: test.variables });
  time(warm, json);
  rows.push(row('baseline: JSON.stringify of content and variables', time(renders, json)));
  const baseline = rows.find((r) => r.mode.startsWith('baseline: string')) ?? rows.find((r) => r.mode.startsWith('baseline: JSON'));
  return rows.map((r) => (baseline === undefined || r === baseline ? r : { ...r, vsBaseline: r.meanUs / baseline.meanUs }));
}

async function hostile(test: HostileCase, tries: number, restarts: string[]): Promise<HostileRow> {
  const renderer = new TemplateRenderer({ hardTimeoutMs: HARD_TIMEOUT_MS, heapMb: test.heapMb ?? HEAP_MB, onRestart: (why) => restarts.push(why) });
  const okItem = { key: 'ok', source: () => ({ channel: 'sms' as const, locale: 'en', text: 'ok {{ a }}' }), variables: { a: 1 } };
  await renderer.render([okItem]);
  const before = restarts.length;
  const times: number[] = [];
  let refused = 0;
  let said = '';
  let nextRenderMs = 0;
  for (let i = 0; i < tries; i++) {
    const started = performance.now();
    const [outcome] = await renderer.render([{ key: `hostile\u0000${test.name}`, source: () => test.source, variables: test.variables }]);
    times.push(performance.now() - started);
    if (outcome !== undefined && !outcome.ok) {
      refused++;
      said = `${outcome.kind}: ${outcome.message}`;
    }
    const next = performance.now();
    await renderer.render([okItem]);
    nextRenderMs = Math.max(nextRenderMs, performance.now() - next);
  }
  await renderer.close();
  times.sort((a, b) => a - b);
  const cooperative = test.stoppedBy === 'renderLimit' || test.stoppedBy === 'memoryLimit' || test.stoppedBy === 'output limit';
  return {
    template: test.name,
    what: test.what,
    stoppedBy: test.stoppedBy,
    tries,
    refused,
    medianMs: percentile(times, 0.5),
    maxMs: times.at(-1) ?? 0,
    // What the bounds allow: twice the render limit (a render that ran out of time is
    // tried once more), or the hard limit; a heap overrun is bounded by the heap, not a clock.
    ceilingMs: cooperative ? 2 * DEFAULT_RENDER_LIMITS.renderMs : HARD_TIMEOUT_MS,
    restarts: restarts.length - before,
    nextRenderMs,
    heapMb: test.heapMb ?? HEAP_MB,
    said: said.slice(0, 120),
  };
}

function typicalTable(rows: readonly TypicalRow[]): string {
  const header = ['template', 'mode', 'renders/s', 'mean µs', 'p50 µs', 'p99 µs', 'vs baseline'];
  const cells = rows.map((r) => [
    r.template,
    r.mode,
    formatCount(r.perSecond),
    formatCount(r.meanUs, 1),
    r.p50Us === undefined ? '' : formatCount(r.p50Us, 0),
    r.p99Us === undefined ? '' : formatCount(r.p99Us, 0),
    r.vsBaseline === undefined ? '' : `${formatCount(r.vsBaseline, 1)}x`,
  ]);
  return render(header, cells);
}

function hostileTable(rows: readonly HostileRow[]): string {
  const header = ['template', 'stopped by', 'refused', 'median ms', 'max ms', 'ceiling ms', 'restarts', 'next render ms'];
  const cells = rows.map((r) => [
    r.template,
    r.stoppedBy,
    `${r.refused}/${r.tries}`,
    formatCount(r.medianMs, 1),
    formatCount(r.maxMs, 1),
    r.stoppedBy === 'heap cap' ? `(${r.heapMb} MB)` : formatCount(r.ceilingMs),
    String(r.restarts),
    formatCount(r.nextRenderMs, 1),
  ]);
  return render(header, cells);
}

function render(header: readonly string[], cells: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (values: readonly string[]) => values.map((v, i) => (i < 2 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { renders: { type: 'string' }, hostile: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const renders = Number(values.renders ?? 20_000);
  const tries = Number(values.hostile ?? 5);
  if (!Number.isInteger(renders) || renders < 100 || !Number.isInteger(tries) || tries < 1) {
    process.stderr.write(`bench: --renders must be a whole number of at least 100, --hostile at least 1\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const startedAt = new Date();
  const run = `${startedAt.toISOString().replace(/[-:]/g, '').replace('T', 't').slice(0, 15)}_${randomBytes(2).toString('hex')}`;
  const renderer = new TemplateRenderer();
  const typicalRows: TypicalRow[] = [];
  for (const test of typicalCases()) {
    progress(`typical ${test.name}: ${formatCount(renders)} renders per mode`);
    typicalRows.push(...(await typical(renderer, test, renders)));
  }
  await renderer.close();
  const restarts: string[] = [];
  const hostileRows: HostileRow[] = [];
  // The process's own event loop while the worker is fed hostile templates.
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  for (const test of hostileCases()) {
    progress(`hostile ${test.name}: ${tries} tries`);
    hostileRows.push(await hostile(test, tries, restarts));
  }
  loop.disable();
  const eventLoop = { maxMs: loop.max / 1e6, p99Ms: loop.percentile(99) / 1e6, meanMs: loop.mean / 1e6 };
  process.stdout.write(`templates, run ${run}, renders per mode ${formatCount(renders)}, limits ${JSON.stringify(DEFAULT_RENDER_LIMITS)}, hard ${HARD_TIMEOUT_MS} ms, heap ${HEAP_MB} MB\n\n`);
  process.stdout.write(`${typicalTable(typicalRows)}\n\n${hostileTable(hostileRows)}\n\n`);
  process.stdout.write(`event loop of this process during the hostile renders: max ${eventLoop.maxMs.toFixed(1)} ms, p99 ${eventLoop.p99Ms.toFixed(1)} ms, mean ${eventLoop.meanMs.toFixed(1)} ms\n`);
  for (const row of hostileRows) process.stdout.write(`  ${row.template}: ${row.said}\n`);
  const logs = process.env['COMMSTRAT_STACK_LOGS'];
  const stackDir = logs === undefined ? '.stack' : dirname(logs);
  const file = join(stackDir, 'bench', `templates-${run}.json`);
  writeJson(file, { run, startedAt, renders, tries, limits: DEFAULT_RENDER_LIMITS, hardTimeoutMs: HARD_TIMEOUT_MS, heapMb: HEAP_MB, typical: typicalRows, hostile: hostileRows, eventLoop });
  progress(`figures written to ${file}`);
}

await main();
