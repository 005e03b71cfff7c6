// `scripts/bench dispatcher`: messages per second from the lanes to the sandbox provider
// with 1 and 2 dispatcher replicas at two journal sizes, the critical lane's latency to
// the provider behind a 1 000 000-entry bulk lane, and the same two measurements for a
// BullMQ queue + worker on the same Redis and sandbox. Two baselines beside them, in
// the same run: (a) the journal's own ceiling (journal-ceiling.ts: the same status
// writes by the driver alone) and (b) BullMQ workers that record each job's outcome
// in MongoDB. Prints a table and the ratios on stdout and writes every figure to
// .stack/bench/dispatcher-<run>.json.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureSandboxRouting } from '@commstrat/config';
import postgres from 'postgres';
import { BenchRun } from './bench-run.ts';
import { bullCriticalLatency, bullThroughput } from './bullmq-cases.ts';
import { CpuMeter, formatCpu, type CpuReport } from './cpu-usage.ts';
import { formatProfile } from './cpu-profile.ts';
import { formatPoint, journalCeiling, type CeilingResult } from './journal-ceiling.ts';
import {
  dispatcherCriticalLatency,
  dispatcherThroughput,
  type CaseContext,
  type LatencyResult,
  type ThroughputResult,
} from './dispatcher-cases.ts';
import { freePort, SandboxInspector, startChildService } from './dispatcher-processes.ts';
import { formatCount, progress, sleep } from './progress.ts';
import { writeJson } from './report.ts';
import { servicePid, stackEnvFrom } from './stack.ts';

const USAGE = `usage: scripts/bench dispatcher [options]
  --sizes LIST        messages per throughput case, comma-separated (default 100000,300000)
  --replicas LIST     dispatcher replicas (and BullMQ workers) per throughput case (default 1,2)
  --window S          longest measured window per throughput case after the start of the replicas / workers (default 60)
  --backlog N         bulk entries queued for the critical-latency case (default 1000000)
  --critical N        critical messages sent one by one (default 200), --pace-ms between them (default 50)
  --bull-fill-s S     longest time spent adding BullMQ's low-priority backlog (default 60)
  --concurrency N     BullMQ worker concurrency (default 16)
  --ceiling-messages N          messages updated per point of the journal-ceiling sweep (default 10000)
  --ceiling-batches LIST        provider batches per bulk write swept by the ceiling (default 1,5,10,20)
  --ceiling-in-flight LIST      bulk writes in flight swept by the ceiling (default 1,2,4,8)
  --ceiling-sustained N         messages of each sustained ceiling run at the sweep's best settings,
                                (a) itself (default: the first of --sizes)
  --profile           run the dispatcher replicas with --cpu-prof and print where their time went
  --skip LIST         any of: throughput, critical, bullmq, bullmq-mongodb, ceiling
The bench's own DISPATCHER_* environment variables reach the dispatcher replicas it starts
(docs/configuration.md), e.g. DISPATCHER_CRITICAL_YIELD_MS=0 to measure without the yield.`;

const SANDBOX_TOKEN = 'bench-sandbox';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '100000,300000' },
      replicas: { type: 'string', default: '1,2' },
      window: { type: 'string', default: '60' },
      backlog: { type: 'string', default: '1000000' },
      critical: { type: 'string', default: '200' },
      'pace-ms': { type: 'string', default: '50' },
      'bull-fill-s': { type: 'string', default: '60' },
      concurrency: { type: 'string', default: '16' },
      'ceiling-messages': { type: 'string', default: '10000' },
      'ceiling-batches': { type: 'string', default: '1,5,10,20' },
      'ceiling-in-flight': { type: 'string', default: '1,2,4,8' },
      'ceiling-sustained': { type: 'string' },
      profile: { type: 'boolean', default: false },
      skip: { type: 'string', default: '' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const number = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value <= 0)
      throw new Error(`--${name} must be a positive whole number, got ${text}\n${USAGE}`);
    return value;
  };
  const sizes = values.sizes.split(',').map((s) => number('sizes', s.trim()));
  const replicaCounts = values.replicas.split(',').map((s) => number('replicas', s.trim()));
  const windowSeconds = number('window', values.window);
  const backlog = number('backlog', values.backlog);
  const critical = number('critical', values.critical);
  const paceMs = number('pace-ms', values['pace-ms']);
  const bullFillSeconds = number('bull-fill-s', values['bull-fill-s']);
  const concurrency = number('concurrency', values.concurrency);
  const list = (name: string, text: string) => text.split(',').map((s) => number(name, s.trim()));
  const ceilingSettings = {
    messagesPerPoint: number('ceiling-messages', values['ceiling-messages']),
    batchesPerWrite: list('ceiling-batches', values['ceiling-batches']),
    inFlight: list('ceiling-in-flight', values['ceiling-in-flight']),
    sustainedMessages:
      values['ceiling-sustained'] === undefined ? (sizes[0] ?? 100_000) : number('ceiling-sustained', values['ceiling-sustained']),
  };
  const skip = new Set(values.skip.split(',').filter(Boolean));

  const root = join(import.meta.dirname, '..', '..');
  const stack = stackEnvFrom(process.env);
  const outputDir = join(stack.stackDir, 'bench');
  const startedAt = new Date();
  const run = await BenchRun.open(stack, startedAt);
  run.closeOnSignal();
  try {
    const port = await freePort();
    const sandbox = await startChildService({
      name: 'sandbox',
      root,
      script: 'apps/sandbox/src/main.ts',
      env: {
        ...stack.env,
        SANDBOX_PORT: String(port),
        SANDBOX_TOKEN,
        SANDBOX_LATENCY_MS: '0',
        COMMSTRAT_LOG_LEVEL: 'warn',
      },
      logFile: join(outputDir, `sandbox-${run.id}.log`),
      readyPath: '/_sandbox/behaviour',
      port,
    });
    run.defer(`sandbox ${sandbox.pid}`, () => sandbox.stop(2000));
    // The bench tenant's provider: the sandbox, a rate far above anything reachable here,
    // batches of 100, a 5 ms linger.
    const sql = postgres(run.postgresUrl, { max: 1, onnotice: () => {} });
    const routing = {
      endpoint: sandbox.url,
      token: SANDBOX_TOKEN,
      ratePerSecond: 1_000_000,
      maxBatchSize: 100,
      lingerMs: 5,
      concurrency: 8,
    };
    try {
      await ensureSandboxRouting(sql, run.tenant.id, routing);
    } finally {
      await sql.end({ timeout: 5 });
    }
    const stackPids = { mongodb: servicePid(stack, 'mongodb'), redis: servicePid(stack, 'redis') };
    const idle = new CpuMeter(stackPids);
    await sleep(2000);
    const idleCpu = idle.read();
    progress(`run ${run.id}; before measuring: ${formatCpu(idleCpu)}`);
    const ctx: CaseContext = {
      run,
      root,
      outputDir,
      sandbox: new SandboxInspector(sandbox.url),
      sandboxPid: sandbox.pid,
      stackPids,
      profileDir: values.profile ? join(outputDir, `profile-dispatcher-${run.id}`) : undefined,
    };
    const bull = { sandboxUrl: sandbox.url, sandboxToken: SANDBOX_TOKEN, concurrency };

    const throughput: ThroughputResult[] = [];
    const latency: LatencyResult[] = [];
    let ceiling: CeilingResult | undefined;
    for (const n of sizes) {
      for (const replicas of replicaCounts) {
        if (!skip.has('throughput')) {
          const result = await dispatcherThroughput(ctx, n, replicas, windowSeconds);
          progress(
            `commstrat n=${n} r=${replicas}: ${formatCount(result.arrivalsPerSecond)} msg/s arriving, ${formatCount(result.finishedPerSecond)} msg/s finished`,
          );
          throughput.push(result);
        }
        // Once, right after the first dispatch case, so both meet the server in the same state.
        if (!skip.has('ceiling') && ceiling === undefined) {
          ceiling = await journalCeiling(ctx, { ...ceilingSettings, batchSize: routing.maxBatchSize });
        }
        if (!skip.has('bullmq-mongodb')) {
          const result = await bullThroughput(ctx, bull, n, replicas, windowSeconds, true);
          progress(`bullmq+mongodb n=${n} w=${replicas}: ${formatCount(result.arrivalsPerSecond)} msg/s arriving`);
          throughput.push(result);
        }
        if (!skip.has('bullmq')) {
          const result = await bullThroughput(ctx, bull, n, replicas, windowSeconds);
          progress(
            `bullmq n=${n} w=${replicas}: ${formatCount(result.arrivalsPerSecond)} msg/s arriving`,
          );
          throughput.push(result);
        }
      }
    }
    if (!skip.has('critical'))
      latency.push(await dispatcherCriticalLatency(ctx, backlog, critical, paceMs));
    if (!skip.has('critical') && !skip.has('bullmq'))
      latency.push(
        await bullCriticalLatency(ctx, bull, backlog, bullFillSeconds, critical, paceMs),
      );

    process.stdout.write(`${formatResults(throughput, latency, ceiling)}\n`);
    const file = join(outputDir, `dispatcher-${run.id}.json`);
    writeJson(file, {
      benchmark: 'dispatcher',
      run: run.id,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `scripts/bench dispatcher ${process.argv.slice(2).join(' ')}`.trim(),
      routing: { ...routing, endpoint: 'sandbox' },
      bullmq: { concurrency, request: 'POST /v1/sms/send, one message per request' },
      idleCpu,
      throughput,
      ceiling,
      ratios: ratios(throughput, latency, ceiling),
      latency,
    });
    progress(`results written to ${file}`);
  } finally {
    if (!run.interrupted) await run.close();
  }
}

function cpuCell(cpu: CpuReport): string {
  return formatCpu(cpu).replace(/^cpu \(100% = 1 core of \d+\): /, '');
}

/**
 * CPU time of the replicas (or workers) per finished message, µs: what one replica
 * costs per message whatever else the machine runs, so the least noisy figure here.
 */
function cpuPerMessageUs(r: ThroughputResult): number {
  const cores = Object.entries(r.cpu.processes)
    .filter(([name]) => /^(dispatcher|worker)\d+$/.test(name))
    .reduce((sum, [, share]) => sum + share, 0);
  return r.finished > 0 ? (cores * r.windowSeconds * 1e6) / r.finished : Number.NaN;
}

/** MongoDB server CPU per finished message, µs (what the journal costs the server per message). */
function mongoPerMessageUs(r: ThroughputResult): number {
  const share = r.cpu.processes['mongodb'];
  return share === undefined || r.finished === 0 ? Number.NaN : (share * r.windowSeconds * 1e6) / r.finished;
}

/** How commstrat compares with each baseline of the same run, and the targets (docs/benchmarks.md). */
interface Ratios {
  readonly throughput: readonly {
    readonly messages: number;
    readonly replicas: number;
    /** Arriving msg/s ÷ the journal ceiling (a), its sustained run; ≥ 0.85 is the target. */
    readonly ofCeiling: number | undefined;
    /** Finished (recorded and acked) msg/s ÷ the same ceiling. */
    readonly finishedOfCeiling: number | undefined;
    /** Arriving msg/s ÷ the sustained ceiling with exchanges (the whole of the dispatcher's write). */
    readonly ofCeilingWithExchanges: number | undefined;
    /** Arriving msg/s ÷ the sweep's fastest short point (what the ratio used to be taken against). */
    readonly ofSweepBest: number | undefined;
    /** Arriving msg/s ÷ BullMQ with an update per job in MongoDB (b); ≥ 3 is the target. */
    readonly vsBullMongo: number | undefined;
    readonly vsBull: number | undefined;
  }[];
  /** commstrat's critical p99 from the POST ÷ BullMQ's; ≤ 2 is the target. */
  readonly criticalP99VsBull: number | undefined;
  /**
   * The bench's own critical journal write, p99, ÷ BullMQ's critical p99: what the journal
   * alone takes of that budget (a critical message waits for one such write before its 202).
   */
  readonly journalWriteP99VsBull: number | undefined;
}

function ratios(
  throughput: readonly ThroughputResult[],
  latency: readonly LatencyResult[],
  ceiling: CeilingResult | undefined,
): Ratios {
  const find = (system: ThroughputResult['system'], r: ThroughputResult) =>
    throughput.find((t) => t.system === system && t.messages === r.messages && t.replicas === r.replicas);
  const of = (a: number, b: number | undefined) => (b === undefined || !(b > 0) ? undefined : a / b);
  const critical = latency.find((l) => l.system === 'commstrat');
  const bullCritical = latency.find((l) => l.system === 'bullmq');
  return {
    throughput: throughput
      .filter((r) => r.system === 'commstrat')
      .map((r) => ({
        messages: r.messages,
        replicas: r.replicas,
        ofCeiling: of(r.arrivalsPerSecond, ceiling?.sustained.perSecond),
        finishedOfCeiling: of(r.finishedPerSecond, ceiling?.sustained.perSecond),
        ofCeilingWithExchanges: of(r.arrivalsPerSecond, ceiling?.sustainedWithExchanges.perSecond),
        ofSweepBest: of(r.arrivalsPerSecond, ceiling?.best.perSecond),
        vsBullMongo: of(r.arrivalsPerSecond, find('bullmq+mongodb', r)?.arrivalsPerSecond),
        vsBull: of(r.arrivalsPerSecond, find('bullmq', r)?.arrivalsPerSecond),
      })),
    criticalP99VsBull: critical === undefined ? undefined : of(critical.latencyMs.p99, bullCritical?.latencyMs.p99),
    journalWriteP99VsBull:
      critical?.journalWriteMs === undefined ? undefined : of(critical.journalWriteMs.p99, bullCritical?.latencyMs.p99),
  };
}

function formatRatio(value: number | undefined, percent = false): string {
  if (value === undefined) return 'n/a';
  return percent ? `${(value * 100).toFixed(0)} %` : `${value.toFixed(2)}×`;
}

function formatResults(
  throughput: readonly ThroughputResult[],
  latency: readonly LatencyResult[],
  ceiling: CeilingResult | undefined,
): string {
  const lines = [
    'throughput (arrivals at the sandbox, first → last; finished = recorded and acked / completed):',
  ];
  for (const r of throughput) {
    lines.push(
      `  ${r.system.padEnd(14)} N=${String(r.messages).padStart(6)} x${r.replicas}: ` +
        `${formatCount(r.arrivalsPerSecond).padStart(7)} msg/s arriving (${formatCount(r.delivered)} in ${r.firstToLastSeconds.toFixed(1)} s` +
        `, first/last third ${formatCount(r.firstThirdPerSecond)}/${formatCount(r.lastThirdPerSecond)})` +
        `, first after ${r.firstArrivalSeconds.toFixed(1)} s` +
        `, ${formatCount(r.finished)} finished in ${r.windowSeconds.toFixed(0)} s = ${formatCount(r.finishedPerSecond, 1)} msg/s${r.cutByWindow ? ' (window ran out)' : ''}` +
        (r.perReplica.length > 0
          ? `, per replica ${r.perReplica.map((n) => formatCount(n)).join('/')}`
          : '') +
        `\n      cpu ${cpuCell(r.cpu)}; ${r.system === 'commstrat' ? 'dispatcher' : 'worker'} CPU ${formatCount(cpuPerMessageUs(r))} µs, MongoDB ${formatCount(mongoPerMessageUs(r))} µs per finished message`,
    );
    for (const profile of r.profiles ?? []) lines.push(`      profile ${profile.file}\n${formatProfile(profile.summary)}`);
  }
  if (ceiling !== undefined) {
    lines.push(
      `journal ceiling (a): the same status writes by the driver alone, ${formatCount(ceiling.journaled)} journaled, batches of ${ceiling.batchSize}:`,
    );
    lines.push(`  sweep (short points; * the fastest, whose settings the sustained runs use):`);
    for (const point of ceiling.points) lines.push(`  ${point === ceiling.best ? '* ' : '  '}${formatPoint(point)}`);
    lines.push(`  (a) sustained: ${formatPoint(ceiling.sustained)}`);
    lines.push(`      sustained: ${formatPoint(ceiling.sustainedWithExchanges)}`);
  }
  lines.push('critical latency (request sent → arrival at the sandbox):');
  for (const r of latency) {
    const l = r.latencyMs;
    lines.push(
      `  ${r.system.padEnd(9)} backlog ${formatCount(r.backlog)} (${r.backlogDuring.map((n) => formatCount(n)).join(' → ')} during): ` +
        `${r.arrived}/${r.sent} arrived, p50 ${formatCount(l.p50)} ms, p99 ${formatCount(l.p99)} ms, max ${formatCount(l.max)} ms` +
        (r.afterAcceptMs === undefined
          ? ''
          : `; after the 202: p50 ${formatCount(r.afterAcceptMs.p50)}, p99 ${formatCount(r.afterAcceptMs.p99)} ms`) +
        (r.journalWriteMs === undefined
          ? ''
          : `\n      one critical journal write meanwhile (the bench's own, same pace): p50 ${formatCount(r.journalWriteMs.p50)}, p99 ${formatCount(r.journalWriteMs.p99)}, max ${formatCount(r.journalWriteMs.max)} ms`) +
        `\n      backlog added at ${formatCount(r.backlogFill.perSecond)}/s (${r.backlogFill.how}); cpu ${cpuCell(r.cpu)}`,
    );
  }
  const computed = ratios(throughput, latency, ceiling);
  lines.push('ratios (commstrat arriving msg/s ÷ baseline; targets: ≥ 85 % of (a), ≥ 3× (b), critical p99 ≤ 2× BullMQ):');
  for (const r of computed.throughput) {
    lines.push(
      `  N=${r.messages} x${r.replicas}: ${formatRatio(r.ofCeiling, true)} of the journal ceiling (a) (finished: ${formatRatio(r.finishedOfCeiling, true)}; ` +
        `${formatRatio(r.ofCeilingWithExchanges, true)} of it with exchanges; ${formatRatio(r.ofSweepBest, true)} of the sweep's fastest short point), ` +
        `${formatRatio(r.vsBullMongo)} BullMQ+MongoDB (b), ${formatRatio(r.vsBull)} BullMQ alone`,
    );
  }
  if (computed.criticalP99VsBull !== undefined)
    lines.push(
      `  critical p99 from the POST: ${formatRatio(computed.criticalP99VsBull)} BullMQ's` +
        (computed.journalWriteP99VsBull === undefined
          ? ''
          : ` (one critical journal write alone: ${formatRatio(computed.journalWriteP99VsBull)} BullMQ's p99; a critical message waits for one before its 202)`),
    );
  return lines.join('\n');
}

main().catch((error: unknown) => {
  progress(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
