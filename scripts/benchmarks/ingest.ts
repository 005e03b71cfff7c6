// `scripts/bench ingest`: accepted messages per second of ingest over REST (single,
// batch 100, batch 1 000) and Kafka, with latency, against redis-benchmark's XADD rate on
// the same Redis in the same run, and the intake phases measured one at a time. Prints a
// table on stdout and writes every figure to .stack/bench/ingest-<timestamp>.json.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchRun } from './bench-run.ts';
import { formatProfile } from './cpu-profile.ts';
import { CpuMeter, formatCpu, type CpuReport } from './cpu-usage.ts';
import { measurePhases, type PhaseResult } from './ingest-phases.ts';
import { runScenario, type ScenarioResult, type ScenarioSpec } from './ingest-scenario.ts';
import { formatCount, progress, runBenchmark, sleep, UsageError } from './progress.ts';
import { measureXadd, type XaddBaseline } from './redis-baseline.ts';
import { formatTable, writeJson, type TableRow } from './report.ts';
import { servicePid, stackEnvFrom } from './stack.ts';

const USAGE = `usage: scripts/bench ingest [options]
  --duration S        measured seconds per scenario (default 15)
  --warmup S          warm-up seconds per scenario, not counted (default 3)
  --scenarios LIST    comma-separated, default all: rest-single,rest-batch-100,rest-batch-1000,kafka-single,kafka-batch-100
                      ('' runs none: only the baseline and the phases)
  --connections N     autocannon connections for every REST scenario (defaults: 32, 8, 4)
  --kafka-window N    records produced but not yet committed, for every Kafka scenario (defaults: 120, 40)
  --phases S          seconds per intake phase measured alone; 0 skips them (default 4)
  --profile           run each ingest with --cpu-prof over each measured phase and summarise
                      where its CPU went (profiling slows it down a little: quote figures
                      from runs without it)`;

function scenarioSpecs(
  connections: number | undefined,
  kafkaWindow: number | undefined,
): ScenarioSpec[] {
  const rest = (
    name: string,
    messagesPerRequest: number,
    defaultConnections: number,
  ): ScenarioSpec => ({
    name,
    kind: 'rest',
    messagesPerRequest,
    connections: connections ?? defaultConnections,
  });
  const kafka = (
    name: string,
    messagesPerRecord: number,
    window: number,
    chunk: number,
  ): ScenarioSpec => ({
    name,
    kind: 'kafka',
    messagesPerRecord,
    partitions: 6,
    windowRecords: kafkaWindow ?? window,
    chunkRecords: Math.min(chunk, kafkaWindow ?? window),
  });
  return [
    rest('rest-single', 1, 32),
    rest('rest-batch-100', 100, 8),
    rest('rest-batch-1000', 1000, 4),
    // kafka-single: a window of 20 records per partition, enough that no partition runs
    // dry between fetches, small enough that the drain is short. kafka-batch-100: 40
    // envelopes, the same 4 000 messages in flight as rest-batch-1000 (4 connections ×
    // 1 000), so the two compare intake rather than how many messages each keeps in
    // flight (with 12, 1 200 messages, the closed loop's round trip bounded it:
    // docs/benchmarks.md).
    kafka('kafka-single', 1, 120, 60),
    kafka('kafka-batch-100', 100, 40, 6),
  ];
}

function machine(root: string): Record<string, unknown> {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    } catch {
      return undefined;
    }
  };
  return {
    cpu: cpus()[0]?.model,
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    commit: git(['rev-parse', '--short', 'HEAD']),
    workTreeChanges: (git(['status', '--porcelain']) ?? '').split('\n').filter(Boolean).length,
  };
}

function row(result: ScenarioResult, xadd: number): TableRow {
  const failures = Object.entries(result.failures).map(([what, n]) => `${what}: ${n}`);
  const cpu =
    result.cpu === undefined
      ? []
      : [formatCpu(result.cpu).replace(/^cpu \(100% = 1 core of \d+\): /, 'cpu ')];
  const ingestCpu = result.cpu?.processes['ingest'];
  const perMessage =
    ingestCpu === undefined || result.messages === 0
      ? []
      : [`ingest ${formatCount((ingestCpu * result.seconds * 1e6) / result.messages)} µs CPU/msg`];
  const perSecond = (result.extra['perSecond'] ?? []) as readonly number[];
  const mean = (values: readonly number[]) =>
    values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);
  const trend =
    perSecond.length >= 6
      ? [
          `first/last 3 s ${formatCount(mean(perSecond.slice(0, 3)))}/${formatCount(mean(perSecond.slice(-3)))} msg/s`,
        ]
      : [];
  return {
    scenario: result.scenario,
    messages: result.messages,
    messagesPerSecond: result.messagesPerSecond,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    ratioToXadd: result.messagesPerSecond / xadd,
    notes: [...failures, ...trend, ...perMessage, ...cpu].join('; '),
  };
}

/** Thrown when the command line is wrong: its message and the usage are all the user needs. */
/**
 * The stack is shared: another user's tests can keep MongoDB or Redis busy, and their
 * work inside those servers is then counted as the servers' CPU. Two idle seconds tell.
 */
async function backgroundLoad(
  pids: Readonly<Record<string, number | undefined>>,
): Promise<CpuReport> {
  const meter = new CpuMeter(pids);
  await sleep(2000);
  const report = meter.read();
  const busy = Object.entries(report.processes).filter(
    ([name, share]) => name !== 'bench' && share > 0.1,
  );
  if (busy.length > 0 || report.other > 0.3) {
    progress(
      `warning: the machine is not idle before measuring (${formatCpu(report)}): ` +
        'other work on the shared stack lowers the figures and shows up as their CPU',
    );
  }
  return report;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '15' },
      warmup: { type: 'string', default: '3' },
      scenarios: { type: 'string' },
      connections: { type: 'string' },
      'kafka-window': { type: 'string' },
      phases: { type: 'string', default: '4' },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const number = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0)
      throw new UsageError(`--${name} must be a non-negative number, got ${text}\n${USAGE}`);
    return value;
  };
  const all = scenarioSpecs(
    number('connections', values.connections),
    number('kafka-window', values['kafka-window']),
  );
  const wanted =
    values.scenarios
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? all.map((s) => s.name);
  const unknown = wanted.filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0)
    throw new UsageError(`unknown scenario(s): ${unknown.join(', ')}\n${USAGE}`);
  const specs = all.filter((s) => wanted.includes(s.name));

  const root = join(import.meta.dirname, '..', '..');
  const stack = stackEnvFrom(process.env);
  const outputDir = join(stack.stackDir, 'bench');
  const startedAt = new Date();
  const run = await BenchRun.open(stack, startedAt);
  progress(
    `run ${run.id}: ${specs.map((s) => s.name).join(', ')}; ${values.warmup} s warm-up + ${values.duration} s each`,
  );
  run.closeOnSignal();

  try {
    const stackPids = {
      mongodb: servicePid(stack, 'mongodb'),
      redis: servicePid(stack, 'redis'),
      kafka: servicePid(stack, 'kafka'),
    };
    const quiet: Record<string, CpuReport> = { beforeScenarios: await backgroundLoad(stackPids) };
    const xaddKey = `bench:${run.id}:xadd`;
    run.defer(`Redis key ${xaddKey}`, () => run.redis.unlink(xaddKey));
    const baselines: XaddBaseline[] = [await measureXadd(stack.redisUrl, xaddKey)];
    await run.redis.unlink(xaddKey);
    progress(`baseline: ${formatCount(baselines[0]?.requestsPerSecond ?? 0)} XADD/s`);

    const results: ScenarioResult[] = [];
    for (const spec of specs) {
      const result = await runScenario(run, spec, {
        root,
        warmupSeconds: number('warmup', values.warmup) ?? 3,
        durationSeconds: number('duration', values.duration) ?? 15,
        outputDir,
        profile: values.profile,
        stackPids,
      });
      progress(
        `${spec.name}: ${formatCount(result.messagesPerSecond)} msg/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`,
      );
      results.push(result);
    }

    const phaseSeconds = number('phases', values.phases) ?? 4;
    if (phaseSeconds > 0) quiet['beforePhases'] = await backgroundLoad(stackPids);
    const phases: PhaseResult[] =
      phaseSeconds > 0 ? await measurePhases(run, stackPids, phaseSeconds) : [];

    baselines.push(await measureXadd(stack.redisUrl, xaddKey));
    await run.redis.unlink(xaddKey);
    const xadd = baselines.reduce((sum, b) => sum + b.requestsPerSecond, 0) / baselines.length;

    const table = formatTable([
      ...results.map((r) => row(r, xadd)),
      {
        scenario: 'redis-benchmark XADD',
        messages: 200_000 * baselines.length,
        messagesPerSecond: xadd,
        p50Ms: undefined,
        p99Ms: undefined,
        ratioToXadd: 1,
        notes: `baseline, before and after: ${baselines.map((b) => formatCount(b.requestsPerSecond)).join(' / ')} per s (-P 16)`,
      },
    ]);
    const lines = [table, ''];
    for (const result of results) {
      lines.push(`${result.scenario}: ${result.load}; latency = ${result.latencyMeaning}`);
      lines.push(
        `  checks: counter ${result.checks.acceptedCounter}, lane entries ${result.checks.laneEntries}, journal messages ${result.checks.journalMessages} (warm-up included)`,
      );
      if (result.profile !== undefined) lines.push(formatProfile(result.profile.summary));
    }
    if (phases.length > 0) {
      lines.push('', 'intake phases measured alone (ceilings):');
      for (const phase of phases) {
        lines.push(
          `  ${phase.phase}: ${formatCount(phase.messagesPerSecond)} msg/s` +
            (Number.isFinite(phase.microsPerMessage)
              ? `, ${phase.microsPerMessage.toFixed(1)} µs CPU/msg in this process`
              : '') +
            `; ${phase.detail}`,
        );
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);

    const file = join(outputDir, `ingest-${run.id}.json`);
    writeJson(file, {
      benchmark: 'ingest',
      run: run.id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `scripts/bench ingest ${process.argv.slice(2).join(' ')}`.trim(),
      machine: machine(root),
      baseline: { xaddPerSecond: xadd, runs: baselines },
      backgroundLoad: quiet,
      scenarios: results,
      phases,
    });
    progress(`results written to ${file}`);
  } finally {
    if (!run.interrupted) await run.close();
  }
}

runBenchmark(main);
